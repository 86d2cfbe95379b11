// Matrix products of quantized weights with float32 activations.
//
// y[t][r] = sum_c W[r][c] * x[t][c] for every token t of a batch, on one of two paths:
//
// - kExact: each weight row is decoded exactly to f32 (quant/decode.h) and dotted with the
//   f32 activations. Matches the exact references (../shared/fixtures) to ~1e-4.
// - kFast: the activations of all tokens are quantized once per call to 8-bit blocks (bf16
//   for BF16 weights, f32 kept for F32 and F16) and each row is dotted in integers per block format
//   (quant/fast/fast_dot.h), as llama.cpp's CPU path does. Formats without a fast kernel use
//   the exact path.
//
// The library default is kExact, so tests that compare with exact references get it without
// asking; the CLI selects kFast unless --exact is given.
//
// On both paths each weight row is read once per call and used for all tokens, so prompt
// processing reads the weights once per batch, and the arithmetic per (row, token) does not
// depend on the batch size or thread count: decoding token by token equals processing a
// prompt in one batch.
#pragma once

#include <cstdint>
#include <span>

#include "ops/thread_pool.h"
#include "quant/matrix_view.h"

namespace sluice::ops {

enum class ComputePath { kExact, kFast };

// Process-wide; set it before running a model (not while a matmul is running).
void set_compute_path(ComputePath path);
ComputePath compute_path();

// x: [n_tokens, w.n_cols] row-major; y: [n_tokens, w.n_rows] row-major.
void matmul(ThreadPool& pool, const quant::MatrixView& w, const float* x, int64_t n_tokens,
            float* y);

// The same on an explicit path (tests, benchmarks).
void matmul(ThreadPool& pool, const quant::MatrixView& w, const float* x, int64_t n_tokens,
            float* y, ComputePath path);

// One product of a matmul_many call: y = W x for n_tokens rows of x, laid out as for matmul.
struct MatmulTask {
  const quant::MatrixView* w = nullptr;
  const float* x = nullptr;
  int64_t n_tokens = 0;
  float* y = nullptr;
};

// Several independent products in one pass of the thread pool: their rows are laid end to end
// and split between the threads together, so small products (the experts of a MoE layer while
// decoding) pay for one hand-off to the pool instead of one each. Tasks reading the same x
// with the same activation format quantize it once. Each result is bit-identical to matmul's.
void matmul_many(ThreadPool& pool, std::span<const MatmulTask> tasks);
void matmul_many(ThreadPool& pool, std::span<const MatmulTask> tasks, ComputePath path);

// Decodes row `row` of `w` into dst (w.n_cols floats): embedding lookups.
void decode_matrix_row(const quant::MatrixView& w, int64_t row, float* dst);

}  // namespace sluice::ops
