#!/usr/bin/env bash
# The quick start: installs dependencies, builds sluice (Release) and generates text.
# Usage: scripts/run.sh [MODEL.gguf] [PROMPT]
# Without arguments it runs the small trained MoE from ../shared/fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-../shared/fixtures/trained/model-bf16.gguf}
prompt=${2:-$'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'}
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target sluice
build/bin/sluice run -m "$model" -p "$prompt" -n 64 --temp 0
