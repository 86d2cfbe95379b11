#!/usr/bin/env bash
# Decode tokens/s of sluice and llama.cpp on the same GGUF, in alternating rounds, so that
# both see the same minutes of a machine whose memory bandwidth moves (bench/RESULTS.md).
#
#   bench/decode_rounds.sh MODEL [ROUNDS] [N] [SLUICE] [LLAMA_BIN_DIR]
#
# Each round runs `sluice run --no-stream -n N` (greedy, THREADS threads) and then llama.cpp's
# `llama-bench -p 0 -n N -r 1` (its default, repacked weights), and prints both figures and
# their ratio. ROUNDS defaults to 4, N to 64, SLUICE to build/bin/sluice, LLAMA_BIN_DIR to
# /tmp/llamacpp-peer/build/bin; THREADS (environment) to 2.
set -euo pipefail

model=$1
rounds=${2:-4}
n=${3:-64}
sluice=${4:-build/bin/sluice}
llama_bin=${5:-/tmp/llamacpp-peer/build/bin}
threads=${THREADS:-2}

cat "$model" > /dev/null  # into the page cache, for both
for r in $(seq "$rounds"); do
  ours=$("$sluice" run -m "$model" -p "The quick brown fox" -n "$n" --temp 0 -t "$threads" --no-stream 2>&1 >/dev/null |
    sed -n 's/^decode: .*(\(.*\) tok\/s)/\1/p')
  theirs=$("$llama_bin/llama-bench" -m "$model" -t "$threads" -p 0 -n "$n" -r 1 -o json 2>/dev/null |
    python3 -c 'import json, sys; print(round(json.load(sys.stdin)[0]["avg_ts"], 2))')
  python3 -c "print(f'round $r: sluice $ours, llama.cpp $theirs tok/s, {$ours / $theirs:.2f}x')"
done
