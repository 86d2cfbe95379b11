#include "ops/small_gemm.h"

namespace sluice::ops {
namespace {

// A 4 x 32 tile of C held in eight 16-float vectors (GCC vector extensions: one AVX-512
// register each, or two AVX2 ones), each row of B loaded once per 4 rows of A. Vectors
// only ever live in locals (never passed or returned), so no vector ABI is involved.
using Vec16 = float __attribute__((vector_size(64)));
constexpr int64_t kRows = 4;
constexpr int64_t kVecs = 2;
constexpr int64_t kCols = 16 * kVecs;

void full_tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
               int64_t ldc) {
  Vec16 acc[kRows][kVecs] = {};
  for (int64_t k = 0; k < K; ++k) {
    Vec16 b0, b1;
    __builtin_memcpy(&b0, B + k * ldb, sizeof(b0));
    __builtin_memcpy(&b1, B + k * ldb + 16, sizeof(b1));
    for (int64_t r = 0; r < kRows; ++r) {
      const float a = A[r * lda + k];
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
  }
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t v = 0; v < kVecs; ++v) {
      Vec16 c;
      __builtin_memcpy(&c, C + r * ldc + 16 * v, sizeof(c));
      c += acc[r][v];
      __builtin_memcpy(C + r * ldc + 16 * v, &c, sizeof(c));
    }
  }
}

void edge_tile(int64_t rows, int64_t cols, int64_t K, const float* A, int64_t lda, const float* B,
               int64_t ldb, float* C, int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < K; ++k) {
      const float a = A[r * lda + k];
      const float* b = B + k * ldb;
      for (int64_t c = 0; c < cols; ++c) C[r * ldc + c] += a * b[c];
    }
  }
}

}  // namespace

void small_gemm_add(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                    int64_t ldb, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; i += kRows) {
    const int64_t rows = M - i < kRows ? M - i : kRows;
    for (int64_t j = 0; j < N; j += kCols) {
      const int64_t cols = N - j < kCols ? N - j : kCols;
      const float* a = A + i * lda;
      float* c = C + i * ldc + j;
      if (rows == kRows && cols == kCols) {
        full_tile(K, a, lda, B + j, ldb, c, ldc);
      } else {
        edge_tile(rows, cols, K, a, lda, B + j, ldb, c, ldc);
      }
    }
  }
}

}  // namespace sluice::ops
