#!/usr/bin/env bash
# Matrix products over a batch of tokens (prompt processing) per weight format, sluice next to
# llama.cpp, in one invocation on the same machine and thread count, as a Markdown table
# (bench/MATVEC.md shows one).
#
#   bench/matmul_vs_llamacpp.sh [BUILD_DIR] [LLAMA_BIN_DIR] [OUT_MD]
#
# BUILD_DIR (default build) holds bin/matmul_bench (-DSLUICE_BENCH=ON); LLAMA_BIN_DIR
# (default /tmp/llamacpp-peer/build/bin) holds llama.cpp's test-backend-ops. Environment:
# THREADS (1 or 2, default 1), FORMATS (space-separated GGUF type names, default all that
# matmul_bench runs), SHAPES (some of matmul_bench's shapes as name:cols x rows x tokens,
# default all three; llama.cpp takes a minute or two per format on attn_q). Within the run the two engines alternate format by format, so that both
# see the same minutes of a machine whose speed drifts.
#
# The shapes are matmul_bench's: an attention projection over a 512-token prompt (2048 columns,
# 4096 rows, 512 tokens) and an expert's gate and down projections (2048 x 768 and 768 x 2048,
# 32 tokens each). sluice: matmul_bench on the best instruction set, weights hot. llama.cpp:
# `test-backend-ops perf -b CPU --test-file` with one MUL_MAT line per format and shape, the
# activations f32 [n_cols, n_tokens] (bench/llamacpp_mul_mat.py, which also sets its thread
# count); it repeats one matrix too. Both as GMAC/s (weights times tokens per second).
set -euo pipefail

BUILD_DIR=${1:-build}
LLAMA_BIN=${2:-/tmp/llamacpp-peer/build/bin}
OUT_MD=${3:-/dev/null}
THREADS=${THREADS:-1}
FORMATS=${FORMATS:-"Q4_K Q5_K Q6_K Q2_K Q3_K Q8_0 Q4_0 IQ4_XS MXFP4 IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S IQ1_M TQ1_0 TQ2_0 Q4_1 Q5_0 Q5_1 IQ4_NL NVFP4 BF16 F16"}
SHAPES=${SHAPES:-"attn_q:2048x4096x512 expert_gate:2048x768x32 expert_down:768x2048x32"}  # name:cols x rows x tokens

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The shim that sets test-backend-ops' thread count, and its MUL_MAT cases.
python3 "$(dirname "$0")/llamacpp_mul_mat.py" "$work" "$THREADS" "$FORMATS" "$(for s in $SHAPES; do printf '%s ' "${s#*:}"; done)"

shape_names=$(for s in $SHAPES; do printf '%s|' "${s%%:*}"; done)
for format in $FORMATS; do
  LD_PRELOAD="$work/nprocs.so" "$LLAMA_BIN/test-backend-ops" perf -b CPU --test-file "$work/mul_mat_$format.txt" \
    > "$work/llama_$format.txt" 2>&1
  "$BUILD_DIR/bin/matmul_bench" --benchmark_filter="^$format/(${shape_names%|})/t$THREADS/" \
    --benchmark_format=json --benchmark_out="$work/sluice_$format.json" > /dev/null 2>&1
done

python3 - "$work" "$THREADS" "$FORMATS" "$SHAPES" <<'EOF' | tee "$OUT_MD"
import json, re, sys
work, threads, formats, shapes = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
TYPES = {"f16": "F16", "bf16": "BF16"}
by_dims = {}
for shape in shapes:
    name, dims = shape.split(":")
    cols, rows, n = map(int, dims.split("x"))
    by_dims[(cols, rows, n)] = name
llama, sluice, isa = {}, {}, "?"
for format in formats:
    # MUL_MAT(type=f32,ne=[768,32,1,1],...,sources=q4_K[2048,768,1,1],f32[2048,32,1,1]): ... 1564.23 us/run
    for line in open(f"{work}/llama_{format}.txt"):
        m = re.search(r"sources=(\w+)\[(\d+),(\d+),1,1\],f32\[\d+,(\d+),1,1\].*?([\d.]+) us/run", line)
        if not m:
            continue
        cols, rows, n = int(m.group(2)), int(m.group(3)), int(m.group(4))
        key = (TYPES.get(m.group(1), m.group(1).upper()), by_dims[(cols, rows, n)])
        llama[key] = cols * rows * n / (float(m.group(5)) * 1e-6) / 1e9
    text = open(f"{work}/sluice_{format}.json").read()
    for b in json.loads(text)["benchmarks"] if text.strip() else []:
        name, shape, _, isa = b["name"].split("/")[:4]
        gmacs = b["GMAC/s"] / 1e9 if b["GMAC/s"] > 1e6 else b["GMAC/s"]
        sluice[(name, shape)] = gmacs
print(f"{threads} thread(s); sluice ISA: {isa}. GMAC/s (weights times tokens per second); attn_q is 2048 x 4096 "
      f"with 512 tokens, expert_gate 2048 x 768 and expert_down 768 x 2048 with 32 tokens.\n")
names = [s.split(":")[0] for s in shapes]
print("| format | " + " | ".join(f"{n} sluice | {n} llama.cpp | ratio" for n in names) + " |")
print("|---|" + "---:|---:|---:|" * len(names))
for format in formats:
    cells = []
    for n in names:
        s, l = sluice.get((format, n), float("nan")), llama.get((format, n), float("nan"))
        cells.append(f"{s:.1f} | {l:.1f} | {s / l:.2f}x")
    print(f"| {format} | " + " | ".join(cells) + " |")
EOF
