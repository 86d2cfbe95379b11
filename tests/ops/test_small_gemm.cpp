// ops::small_gemm_add against a naive triple loop, on shapes that hit full register tiles,
// edge tiles and both, with row strides wider than the rows.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/small_gemm.h"

namespace sluice::ops {
namespace {

struct GemmShape {
  int64_t M, N, K;
};

class SmallGemm : public ::testing::TestWithParam<GemmShape> {};

TEST_P(SmallGemm, AddsTheProductToC) {
  const auto [M, N, K] = GetParam();
  const int64_t lda = K + 3, ldb = N + 5, ldc = N + 1;
  std::mt19937 rng(static_cast<uint32_t>(M * 1000 + N * 10 + K));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const auto random = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
  };
  const std::vector<float> A = random(M * lda), B = random(K * ldb);
  std::vector<float> C = random(M * ldc);
  std::vector<double> expected(C.begin(), C.end());
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      for (int64_t k = 0; k < K; ++k) expected[i * ldc + j] += double(A[i * lda + k]) * B[k * ldb + j];
    }
  }
  small_gemm_add(M, N, K, A.data(), lda, B.data(), ldb, C.data(), ldc);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      // Columns past N are padding: untouched.
      ASSERT_NEAR(C[i * ldc + j], expected[i * ldc + j], 1e-5 * (1 + std::sqrt(double(K))))
          << "row " << i << ", column " << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, SmallGemm,
                         ::testing::Values(GemmShape{1, 1, 1}, GemmShape{4, 32, 7},
                                           GemmShape{5, 33, 3}, GemmShape{64, 128, 128},
                                           GemmShape{3, 70, 64}, GemmShape{130, 16, 1}));

}  // namespace
}  // namespace sluice::ops
