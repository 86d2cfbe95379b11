#!/usr/bin/env bash
# Matrix-vector throughput per weight format, sluice next to llama.cpp, in one invocation on
# the same machine and thread count, written as a Markdown table (bench/MATVEC.md shows one).
#
#   bench/matvec_vs_llamacpp.sh [BUILD_DIR] [LLAMA_BIN_DIR] [OUT_MD]
#
# BUILD_DIR (default build) holds bin/matvec_bench (-DSLUICE_BENCH=ON); LLAMA_BIN_DIR
# (default /tmp/llamacpp-peer/build/bin) holds llama.cpp's test-backend-ops. Environment:
# THREADS (default 2), FORMATS (space-separated GGUF type names, default all below),
# REPEATS (default 1: the runs are repeated this many times; the best run counts). Within a
# run the two engines alternate format by format, so that both see the same minutes of a
# machine whose speed drifts.
#
# sluice: matvec_bench on the fast path of the best instruction set, "cold" (weights from
# memory, as decoding reads them) and "hot" (one matrix repeated). llama.cpp:
# `test-backend-ops perf -b CPU --test-file` with one MUL_MAT line per format and shape, so
# that it runs exactly these shapes (its built-in perf list has 4096 x 14336 only in the
# transposed orientation). test-backend-ops repeats one matrix, like "hot";
# bench/llamacpp_mul_mat.py writes its cases and sets its thread count. GB/s counts weight bytes only, for both. "cold / mem bw" divides a cold
# figure by the memory bandwidth matvec_bench measured just before and after that case (the
# larger of the two), not by the start-up figure: the bandwidth drifts between minutes.
# "plain read" is matvec_bench's read_bw of the hot case: the same threads reading that
# matrix's bytes again and again and doing nothing else, the most any kernel could reach on
# it; where 1.5x llama.cpp's figure is above it, no kernel can be 1.5x as fast.
set -euo pipefail

BUILD_DIR=${1:-build}
LLAMA_BIN=${2:-/tmp/llamacpp-peer/build/bin}
OUT_MD=${3:-/dev/null}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-1}
FORMATS=${FORMATS:-"Q4_K Q8_0 IQ2_XXS MXFP4 Q6_K Q5_K Q4_0 Q2_K Q3_K IQ4_XS IQ1_S IQ1_M TQ1_0 IQ3_XXS IQ3_S IQ2_XS IQ2_S TQ2_0 NVFP4 Q4_1 Q5_0 Q5_1 IQ4_NL F16 BF16"}
SHAPES="4096x14336 2048x768 768x2048"  # n_cols x n_rows

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The shim that sets test-backend-ops' thread count, and its MUL_MAT cases: one token.
python3 "$(dirname "$0")/llamacpp_mul_mat.py" "$work" "$THREADS" "$FORMATS" "$(for s in $SHAPES; do printf '%sx1 ' "$s"; done)"

# The first instruction set matvec_bench lists is the best this CPU has.
"$BUILD_DIR/bin/matvec_bench" --benchmark_list_tests > "$work/list.txt"
isa=$(grep -m1 -o 'fast_[a-z0-9]*' "$work/list.txt")
for ((r = 1; r <= REPEATS; ++r)); do
  for format in $FORMATS; do
    LD_PRELOAD="$work/nprocs.so" "$LLAMA_BIN/test-backend-ops" perf -b CPU --test-file "$work/mul_mat_$format.txt" \
      > "$work/llama_${r}_$format.txt" 2>&1
    "$BUILD_DIR/bin/matvec_bench" --benchmark_filter="^$format/.*/(cold|hot)/$isa/" \
      --benchmark_format=json --benchmark_out="$work/sluice_${r}_$format.json" > "$work/sluice_${r}_$format.txt" 2>&1
  done
done

PYTHONPATH="$(dirname "$0")" python3 - "$work" "$REPEATS" "$THREADS" "$isa" "$FORMATS" <<'EOF' | tee "$OUT_MD"
import json, re, sys
from llamacpp_mul_mat import TYPES as LLAMA_TYPES
work, repeats, threads, isa, formats = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split()
TYPES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
best_llama, best_sluice, bandwidth, best_share, case_bandwidth, best_read = {}, {}, [], {}, [], {}
for r in range(1, repeats + 1):
    for format in formats:
        # MUL_MAT(...,sources=q4_K[4096,14336,1,1],f32[...]):   520 runs -  1924.52 us/run - ...
        for line in open(f"{work}/llama_{r}_{format}.txt"):
            m = re.search(r"sources=(\w+)\[(\d+),(\d+),1,1\].*?([\d.]+) us/run", line)
            if not m:
                continue
            name = TYPES.get(m.group(1), m.group(1).upper())
            key = (name, f"{m.group(2)}x{m.group(3)}")
            best_llama[key] = min(best_llama.get(key, 1e30), float(m.group(4)))
        text = open(f"{work}/sluice_{r}_{format}.txt").read()
        m = re.search(r"memory read bandwidth.*?: ([\d.]+) GB/s", text)
        if m:
            bandwidth.append(float(m.group(1)))
        for b in json.load(open(f"{work}/sluice_{r}_{format}.json"))["benchmarks"]:
            name, shape, temp = b["name"].split("/")[:3]
            key = (name, shape, temp)
            gbs = b["GB/s"] / 1e9 if b["GB/s"] > 1e6 else b["GB/s"]
            best_sluice[key] = max(best_sluice.get(key, 0.0), gbs)
            if "read_bw" in b:  # hot: a plain read of the same bytes, again and again
                best_read[key] = max(best_read.get(key, 0.0), b["read_bw"])
            if "mem_bw" in b:  # cold: the bandwidth measured around this case, and its fraction
                case_bandwidth.append(b["mem_bw"])
                share = b["of_mem_bw"] / 1e9 if b["of_mem_bw"] > 1e6 else b["of_mem_bw"]
                best_share[key] = max(best_share.get(key, 0.0), share)
bw = max(bandwidth) if bandwidth else float("nan")
# (values, bytes) per block, for the weight bytes behind llama.cpp's us/run.
SIZES = {name: (block, size) for name, (_, block, size) in LLAMA_TYPES.items()}
print(f"Memory read bandwidth ({threads} threads): {bw:.2f} GB/s at start-up (best run); "
      f"{min(case_bandwidth, default=float('nan')):.1f}-{max(case_bandwidth, default=float('nan')):.1f} GB/s "
      f"measured around the cold cases. sluice ISA: {isa[5:]}. Best of {repeats} run(s) each. "
      f"GB/s of weight bytes; cold / mem bw against the bandwidth measured around that case. "
      f"Plain read: the same threads reading the hot case's bytes again and again with nothing else to do "
      f"(its ceiling); 1.5x llama.cpp / plain read above 100% asks for more than that.\n")
print("| format | shape (cols x rows) | sluice cold | sluice hot | llama.cpp | hot / llama.cpp | cold / mem bw "
      "| plain read | 1.5x llama.cpp / plain read |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
names = []
for (name, shape, temp) in best_sluice:
    if (name, shape) not in names:
        names.append((name, shape))
for name, shape in names:
    cold = best_sluice.get((name, shape, "cold"), float("nan"))
    hot = best_sluice.get((name, shape, "hot"), float("nan"))
    cols, rows = map(int, shape.split("x"))
    block, size = SIZES[name]
    weight_bytes = cols // block * size * rows
    us = best_llama.get((name, shape))
    llama = weight_bytes / (us * 1e-6) / 1e9 if us else float("nan")
    share = best_share.get((name, shape, "cold"), cold / bw)
    read = best_read.get((name, shape, "hot"), float("nan"))
    print(f"| {name} | {shape} | {cold:.2f} | {hot:.2f} | {llama:.2f} | {hot / llama:.2f}x | {share:.0%} "
          f"| {read:.1f} | {1.5 * llama / read:.0%} |")
EOF
