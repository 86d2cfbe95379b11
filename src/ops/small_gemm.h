// C += A B for small row-major f32 matrices that live in cache (the chunk-sized products of
// the chunked gated delta rule). Blocked so a tile of C stays in registers while a row of B
// streams past, which is what makes a chunk of products cheaper than the same arithmetic
// done one token at a time.
#pragma once

#include <cstdint>

namespace sluice::ops {

// C[M, N] += A[M, K] * B[K, N]; lda, ldb, ldc are the row strides in floats.
void small_gemm_add(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                    int64_t ldb, float* C, int64_t ldc);

}  // namespace sluice::ops
