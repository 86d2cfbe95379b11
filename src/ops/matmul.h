// Matrix products of quantized weights with float32 activations.
//
// y[t][r] = sum_c W[r][c] * x[t][c] for every token t of a batch. Each weight row is
// decoded once per call and reused for all tokens, so prompt processing reads the weights
// once per batch. The arithmetic per (row, token) is the same whatever the batch size or
// thread count, so decoding token by token equals processing a prompt in one batch.
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"
#include "quant/matrix_view.h"

namespace sluice::ops {

// x: [n_tokens, w.n_cols] row-major; y: [n_tokens, w.n_rows] row-major.
void matmul(ThreadPool& pool, const quant::MatrixView& w, const float* x, int64_t n_tokens,
            float* y);

// Decodes row `row` of `w` into dst (w.n_cols floats): embedding lookups.
void decode_matrix_row(const quant::MatrixView& w, int64_t row, float* dst);

}  // namespace sluice::ops
