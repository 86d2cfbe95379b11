#include "ops/small_gemm.h"

#include "ops/vec16.h"

namespace sluice::ops {
namespace {

// A 4 x 32 tile of C held in eight 16-float vectors (vec16.h), each row of B loaded once per 4
// rows of A.
constexpr int64_t kRows = 4;
constexpr int64_t kVecs = 2;
constexpr int64_t kCols = 16 * kVecs;

void full_tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
               int64_t ldc) {
  Vec16 acc[kRows][kVecs] = {};
  for (int64_t k = 0; k < K; ++k) {
    Vec16 b0 = load(B + k * ldb), b1 = load(B + k * ldb + 16);
    keep_in_register(b0);  // not a load in each row's multiply-add
    keep_in_register(b1);
    for (int64_t r = 0; r < kRows; ++r) {
      const float a = A[r * lda + k];
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
  }
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t v = 0; v < kVecs; ++v) {
      store(C + r * ldc + 16 * v, load(C + r * ldc + 16 * v) + acc[r][v]);
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
