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
# activations f32 [n_cols, n_tokens]; it repeats one matrix too. Its CPU backend uses
# hardware_concurrency / 2 threads; a preloaded get_nprocs() reporting 2 * THREADS makes that
# THREADS. Both as GMAC/s (weights times tokens per second).
set -euo pipefail

BUILD_DIR=${1:-build}
LLAMA_BIN=${2:-/tmp/llamacpp-peer/build/bin}
OUT_MD=${3:-/dev/null}
THREADS=${THREADS:-1}
FORMATS=${FORMATS:-"Q4_K Q5_K Q6_K Q2_K Q3_K Q8_0 Q4_0 IQ4_XS MXFP4 IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ1_S IQ1_M TQ1_0 TQ2_0 Q4_1 Q5_0 Q5_1 IQ4_NL NVFP4 BF16 F16"}
SHAPES=${SHAPES:-"attn_q:2048x4096x512 expert_gate:2048x768x32 expert_down:768x2048x32"}  # name:cols x rows x tokens

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/nprocs.c" <<EOF
int get_nprocs(void) { return 2 * $THREADS; }
int get_nprocs_conf(void) { return 2 * $THREADS; }
EOF
cc -shared -fPIC -O2 -o "$work/nprocs.so" "$work/nprocs.c"

# One file per format, a MUL_MAT line per shape (test-backend-ops' --test-file format: op type
# ne[4] n_params n_src {type ne[4] nb[4]}... name): weights [n_cols, n_rows] of the format,
# activations f32 [n_cols, n_tokens], output f32 [n_rows, n_tokens].
python3 - "$work" "$FORMATS" "$SHAPES" <<'EOF'
import sys
work, formats, shapes = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
# GGML type id, values per block, bytes per block (ggml.h / ggml-common.h)
TYPES = {"F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
         "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110),
         "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "IQ2_XXS": (16, 256, 66),
         "IQ2_XS": (17, 256, 74), "IQ3_XXS": (18, 256, 98), "IQ1_S": (19, 256, 50), "IQ4_NL": (20, 32, 18),
         "IQ3_S": (21, 256, 110), "IQ2_S": (22, 256, 82), "IQ4_XS": (23, 256, 136), "IQ1_M": (29, 256, 56),
         "BF16": (30, 1, 2), "TQ1_0": (34, 256, 54), "TQ2_0": (35, 256, 66), "MXFP4": (39, 32, 17),
         "NVFP4": (40, 64, 36)}
GGML_OP_MUL_MAT = 29
for name in formats:
    tid, block, size = TYPES[name]
    with open(f"{work}/mul_mat_{name}.txt", "w") as f:
        for shape in shapes:
            cols, rows, n = map(int, shape.split(":")[1].split("x"))
            if cols % block:
                continue
            row = cols // block * size
            f.write(f"{GGML_OP_MUL_MAT} 0 {rows} {n} 1 1 0 2 "
                    f"{tid} {cols} {rows} 1 1 {size} {row} {row * rows} {row * rows} "
                    f"0 {cols} {n} 1 1 4 {4 * cols} {4 * cols * n} {4 * cols * n} -\n")
EOF

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
