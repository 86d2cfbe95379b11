// ops::matmul_many: several products in one pass of the pool give exactly what separate
// matmul calls give, on both paths, whatever the mix of formats, shared inputs, token counts
// and empty tasks.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "ops/matmul.h"
#include "quant/random_blocks.h"

namespace sluice::ops {
namespace {

struct OwnedMatrix {
  std::vector<std::byte> bytes;
  quant::MatrixView view;
};

OwnedMatrix random_matrix(quant::GgmlType type, int64_t n_cols, int64_t n_rows, uint64_t seed) {
  OwnedMatrix m;
  m.bytes.resize(quant::row_bytes(type, static_cast<uint64_t>(n_cols)) * static_cast<uint64_t>(n_rows));
  quant::fill_random_blocks(type, m.bytes, seed, 0.5f);
  m.view = quant::make_matrix_view(type, m.bytes.data(), n_cols, n_rows);
  return m;
}

std::vector<float> random_values(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

class MatmulMany : public ::testing::TestWithParam<ComputePath> {};

TEST_P(MatmulMany, EqualsSeparateProducts) {
  const ComputePath path = GetParam();
  ThreadPool pool(3);
  const int64_t n_cols = 512;
  // Activations in three formats (Q8_K-style for Q4_K and Q6_K, Q8_0-style for Q8_0, f32 for
  // F32); gate and up share an input as an expert's do.
  const OwnedMatrix gate = random_matrix(quant::GgmlType::Q4_K, n_cols, 37, 1);
  const OwnedMatrix up = random_matrix(quant::GgmlType::Q4_K, n_cols, 37, 2);
  const OwnedMatrix other = random_matrix(quant::GgmlType::Q8_0, n_cols, 5, 3);
  const OwnedMatrix odd = random_matrix(quant::GgmlType::Q6_K, n_cols, 9, 4);
  const OwnedMatrix plain = random_matrix(quant::GgmlType::F32, n_cols, 300, 5);
  const std::vector<float> x1 = random_values(3 * n_cols, 6);
  const std::vector<float> x2 = random_values(70 * n_cols, 7);

  struct Case {
    const OwnedMatrix* m;
    const std::vector<float>* x;
    int64_t n_tokens;
  };
  const Case cases[] = {{&gate, &x1, 3}, {&up, &x1, 3},   {&other, &x2, 70},
                        {&odd, &x1, 1},  {&plain, &x2, 70}, {&gate, &x1, 0}};
  std::vector<std::vector<float>> separate, together;
  std::vector<MatmulTask> tasks;
  for (const Case& c : cases) {
    separate.emplace_back(static_cast<size_t>(c.n_tokens * c.m->view.n_rows), -1.0f);
    together.emplace_back(separate.back().size(), -2.0f);
  }
  for (size_t i = 0; i < std::size(cases); ++i) {
    const Case& c = cases[i];
    matmul(pool, c.m->view, c.x->data(), c.n_tokens, separate[i].data(), path);
    tasks.push_back({&c.m->view, c.x->data(), c.n_tokens, together[i].data()});
  }
  matmul_many(pool, tasks, path);
  for (size_t i = 0; i < std::size(cases); ++i) EXPECT_EQ(together[i], separate[i]) << "task " << i;
}

INSTANTIATE_TEST_SUITE_P(Paths, MatmulMany, ::testing::Values(ComputePath::kExact, ComputePath::kFast),
                         [](const auto& info) {
                           return std::string(info.param == ComputePath::kExact ? "exact" : "fast");
                         });

}  // namespace
}  // namespace sluice::ops
