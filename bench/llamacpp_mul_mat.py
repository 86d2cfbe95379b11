"""llama.cpp's side of bench/matvec_vs_llamacpp.sh and bench/matmul_vs_llamacpp.sh.

    python3 bench/llamacpp_mul_mat.py WORK_DIR THREADS "FORMAT..." "COLSxROWSxTOKENS..."

builds WORK_DIR/nprocs.so, to preload into test-backend-ops: its CPU backend uses
hardware_concurrency / 2 threads, and a get_nprocs() reporting 2 * THREADS makes that THREADS.
Writes WORK_DIR/mul_mat_FORMAT.txt per format: one MUL_MAT line per shape (whose columns are a
whole number of blocks) in test-backend-ops' --test-file format, op type ne[4] n_params n_src
{type ne[4] nb[4]}... name: weights [cols, rows] of the format, activations f32 [cols, tokens],
output f32 [rows, tokens]. TYPES also gives the scripts each format's block size in bytes.
"""
import subprocess
import sys

# GGML type id, values per block, bytes per block (ggml.h / ggml-common.h)
TYPES = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
         "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110),
         "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "IQ2_XXS": (16, 256, 66),
         "IQ2_XS": (17, 256, 74), "IQ3_XXS": (18, 256, 98), "IQ1_S": (19, 256, 50), "IQ4_NL": (20, 32, 18),
         "IQ3_S": (21, 256, 110), "IQ2_S": (22, 256, 82), "IQ4_XS": (23, 256, 136), "IQ1_M": (29, 256, 56),
         "BF16": (30, 1, 2), "TQ1_0": (34, 256, 54), "TQ2_0": (35, 256, 66), "MXFP4": (39, 32, 17),
         "NVFP4": (40, 64, 36)}
GGML_OP_MUL_MAT = 29


def write_cases(work, formats, shapes):
    for name in formats:
        tid, block, size = TYPES[name]
        with open(f"{work}/mul_mat_{name}.txt", "w") as f:
            for cols, rows, n in shapes:
                if cols % block:
                    continue
                row = cols // block * size
                f.write(f"{GGML_OP_MUL_MAT} 0 {rows} {n} 1 1 0 2 "
                        f"{tid} {cols} {rows} 1 1 {size} {row} {row * rows} {row * rows} "
                        f"0 {cols} {n} 1 1 4 {4 * cols} {4 * cols * n} {4 * cols * n} -\n")


def build_threads_shim(work, threads):
    with open(f"{work}/nprocs.c", "w") as f:
        f.write(f"int get_nprocs(void) {{ return 2 * {threads}; }}\n"
                f"int get_nprocs_conf(void) {{ return 2 * {threads}; }}\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", f"{work}/nprocs.so", f"{work}/nprocs.c"], check=True)


if __name__ == "__main__":
    work, threads, formats, shapes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
    build_threads_shim(work, threads)
    write_cases(work, formats, [tuple(map(int, s.split("x"))) for s in shapes])
