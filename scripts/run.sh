#!/usr/bin/env bash
# The quick start: installs dependencies, builds sluice (Release) and streams a MoE model
# larger than the memory budget it is given, printing the streaming statistics.
#
#   scripts/run.sh                      synthesize a Qwen3-30B-A3B-shaped model (8 layers,
#                                       Q4_K, 3.4 GB) and stream it under --mem 1G
#   scripts/run.sh MODEL.gguf [PROMPT] [MEM]   run your model (default budget: 80% of
#                                       available memory)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sluice
if [ $# -ge 1 ]; then
  model=$1
  prompt=${2:-"The history of the printing press"}
  mem_flag=()
  [ $# -ge 3 ] && mem_flag=(--mem "$3")
  exec build/bin/sluice run -m "$model" -p "$prompt" -n 128 "${mem_flag[@]}" --stats
fi
model=build/demo/qwen3-30b-a3b-8layers-Q4_K.gguf
mkdir -p build/demo
[ -f "$model" ] || build/bin/sluice synth --preset qwen3-30b-a3b --layers 8 --type Q4_K -o "$model"
build/bin/sluice run -m "$model" -p "The history of the printing press" -n 32 --temp 0 \
  --mem 1G --stats=layers
