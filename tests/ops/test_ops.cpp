// ops/ against straightforward double-precision computations of the same formulas.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/rope.h"
#include "ops/routing.h"
#include "ops/vec16.h"
#include "quant/blocks.h"
#include "quant/float_formats.h"

namespace sluice::ops {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(ThreadPool, VisitsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
      for (int repeat = 0; repeat < 3; ++repeat) {
        pool.parallel_for(n, [&](int64_t begin, int64_t end, int thread) {
          EXPECT_GE(thread, 0);
          EXPECT_LT(thread, threads);
          for (int64_t i = begin; i < end; ++i) visits[i]++;
        });
      }
      for (auto& v : visits) EXPECT_EQ(v.load(), 3) << threads << " threads, n " << n;
    }
  }
}

TEST(ThreadPool, ChunksVisitEveryIndexExactlyOnceInWholeChunks) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 1000}) {
      for (int64_t chunk : {0, 1, 3, 64, 5000}) {
        std::vector<std::atomic<int>> visits(static_cast<size_t>(n));
        pool.parallel_chunks(n, chunk, [&](int64_t begin, int64_t end, int thread) {
          EXPECT_GE(thread, 0);
          EXPECT_LT(thread, threads);
          if (threads > 1) {  // one thread runs everything in one call
            EXPECT_EQ(begin % std::max<int64_t>(chunk, 1), 0) << "chunks start on chunk boundaries";
            EXPECT_LE(end - begin, std::max<int64_t>(chunk, 1));
          }
          for (int64_t i = begin; i < end; ++i) visits[i]++;
        });
        for (auto& v : visits) EXPECT_EQ(v.load(), 1) << threads << " threads, n " << n << ", chunk " << chunk;
      }
    }
  }
}

// Past kSpinTime without work, workers sleep on a condition variable, and a caller whose
// workers run longer than kSpinTime sleeps too: each round below must still wake the
// sleepers (a lost wake-up hangs the test until ctest's timeout fails it).
TEST(ThreadPool, WakesThreadsThatWentToSleep) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 3; ++round) {
      std::this_thread::sleep_for(2 * ThreadPool::kSpinTime);  // the workers fall asleep
      std::vector<std::atomic<int>> visits(static_cast<size_t>(threads));
      pool.parallel_for(threads, [&](int64_t begin, int64_t end, int thread) {
        // Workers outlast the caller's spin, so the caller falls asleep waiting for them.
        if (thread != 0) std::this_thread::sleep_for(2 * ThreadPool::kSpinTime);
        for (int64_t i = begin; i < end; ++i) visits[i]++;
      });
      for (auto& v : visits) EXPECT_EQ(v.load(), 1) << threads << " threads, round " << round;
    }
  }
}

// Reference product in double over already-decoded weights.
std::vector<double> naive_matmul(const std::vector<float>& w, int64_t rows, int64_t cols,
                                 const std::vector<float>& x, int64_t n_tokens) {
  std::vector<double> y(static_cast<size_t>(rows * n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(w[r * cols + c]) * x[t * cols + c];
      y[t * rows + r] = s;
    }
  return y;
}

TEST(Matmul, F32AndBf16AndQ8_0MatchNaiveProduct) {
  ThreadPool pool(3);
  const int64_t rows = 37, cols = 96, n_tokens = 5;
  const auto x = random_values(static_cast<size_t>(cols * n_tokens), 1);
  auto weights = random_values(static_cast<size_t>(rows * cols), 2);

  // BF16 and Q8_0 encodings; `weights` becomes the exact values they decode to.
  std::vector<uint16_t> bf16(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) {
    bf16[i] = quant::f32_to_bf16(weights[i]);
  }
  std::vector<float> bf16_values(weights.size());
  for (size_t i = 0; i < weights.size(); ++i) bf16_values[i] = quant::bf16_to_f32(bf16[i]);

  std::vector<quant::BlockQ8_0> q8(weights.size() / 32);
  std::vector<float> q8_values(weights.size());
  for (size_t b = 0; b < q8.size(); ++b) {
    q8[b].d = 0x2000;  // f16 2^-7
    const float d = quant::f16_to_f32(q8[b].d);
    for (int i = 0; i < 32; ++i) {
      q8[b].qs[i] = static_cast<int8_t>(std::lround(weights[b * 32 + i] * 127.0f));
      q8_values[b * 32 + i] = d * q8[b].qs[i];
    }
  }

  struct Case {
    quant::GgmlType type;
    const void* data;
    const std::vector<float>* values;
  } cases[] = {{quant::GgmlType::F32, weights.data(), &weights},
               {quant::GgmlType::BF16, bf16.data(), &bf16_values},
               {quant::GgmlType::Q8_0, q8.data(), &q8_values}};
  for (const Case& c : cases) {
    const auto w = quant::make_matrix_view(c.type, static_cast<const std::byte*>(c.data), cols, rows);
    std::vector<float> y(static_cast<size_t>(rows * n_tokens));
    matmul(pool, w, x.data(), n_tokens, y.data());
    const auto expected = naive_matmul(*c.values, rows, cols, x, n_tokens);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_NEAR(y[i], expected[i], 1e-4) << quant::type_name(c.type) << " at " << i;
    }
  }
}

TEST(RmsNorm, MatchesFormula) {
  const auto x = random_values(33, 3, 4.0f);
  const auto w = random_values(33, 4);
  std::vector<float> out(33);
  rms_norm(x.data(), w.data(), 33, 1e-6f, out.data());
  double ms = 0;
  for (float v : x) ms += static_cast<double>(v) * v;
  const double scale = 1.0 / std::sqrt(ms / 33 + 1e-6);
  for (int i = 0; i < 33; ++i) EXPECT_NEAR(out[i], x[i] * scale * w[i], 1e-5);
}

TEST(Rope, RotatesPairsByPositionDependentAngles) {
  const int64_t head_dim = 8, n_heads = 2, pos = 5;
  for (RopeStyle style : {RopeStyle::kNormal, RopeStyle::kNeox}) {
    for (int64_t n_rot : {8, 4}) {  // full and partial rotary
      auto x = random_values(static_cast<size_t>(head_dim * n_heads), 5);
      const auto original = x;
      RopeParams params{style, n_rot, 100.0f, {}};
      apply_rope(params, x.data(), n_heads, head_dim, pos);
      for (int64_t h = 0; h < n_heads; ++h) {
        for (int64_t i = 0; i < n_rot / 2; ++i) {
          const int64_t a = style == RopeStyle::kNeox ? i : 2 * i;
          const int64_t b = style == RopeStyle::kNeox ? i + n_rot / 2 : 2 * i + 1;
          const double angle = pos * std::pow(100.0, -2.0 * i / n_rot);
          const double xa = original[h * head_dim + a], xb = original[h * head_dim + b];
          EXPECT_NEAR(x[h * head_dim + a], xa * std::cos(angle) - xb * std::sin(angle), 1e-5);
          EXPECT_NEAR(x[h * head_dim + b], xb * std::cos(angle) + xa * std::sin(angle), 1e-5);
        }
        for (int64_t d = n_rot; d < head_dim; ++d) EXPECT_EQ(x[h * head_dim + d], original[h * head_dim + d]);
      }
    }
  }
}

TEST(Attention, CausalGqaMatchesNaive) {
  ThreadPool pool(2);
  AttentionShape shape{4, 2, 8, 6, 0.3f};
  const int64_t first_pos = 3, n_tokens = 4, n_pos = first_pos + n_tokens;
  const auto q = random_values(static_cast<size_t>(n_tokens * shape.n_head * shape.head_dim_k), 6);
  const auto k = random_values(static_cast<size_t>(n_pos * shape.n_head_kv * shape.head_dim_k), 7);
  const auto v = random_values(static_cast<size_t>(n_pos * shape.n_head_kv * shape.head_dim_v), 8);
  std::vector<float> out(static_cast<size_t>(n_tokens * shape.n_head * shape.head_dim_v));
  causal_attention(pool, shape, q.data(), n_tokens, first_pos, k.data(), v.data(), out.data());
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < shape.n_head; ++h) {
      const int64_t kvh = h / 2;
      std::vector<double> p;
      double sum = 0;
      for (int64_t j = 0; j <= first_pos + t; ++j) {
        double s = 0;
        for (int64_t d = 0; d < 8; ++d) s += q[(t * 4 + h) * 8 + d] * k[(j * 2 + kvh) * 8 + d];
        p.push_back(std::exp(s * 0.3));
        sum += p.back();
      }
      for (int64_t d = 0; d < 6; ++d) {
        double o = 0;
        for (size_t j = 0; j < p.size(); ++j) o += p[j] / sum * v[(j * 2 + kvh) * 6 + d];
        EXPECT_NEAR(out[(t * 4 + h) * 6 + d], o, 1e-5) << "token " << t << " head " << h;
      }
    }
  }
}

TEST(Routing, SoftmaxTopKPicksMostProbableAndRenormalises) {
  const float logits[] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  RoutingParams params{5, 2, true};
  int32_t ids[2];
  float weights[2];
  softmax_top_k(params, logits, ids, weights);
  EXPECT_EQ(ids[0], 1);  // tie between 1 and 3: lower id first
  EXPECT_EQ(ids[1], 3);
  EXPECT_FLOAT_EQ(weights[0], 0.5f);
  EXPECT_FLOAT_EQ(weights[1], 0.5f);

  params.normalize_top_k = false;
  softmax_top_k(params, logits, ids, weights);
  double z = 0;
  for (float l : logits) z += std::exp(static_cast<double>(l));
  EXPECT_NEAR(weights[0], std::exp(2.0) / z, 1e-6);
}

TEST(Activation, SwigluIsSiluTimesUp) {
  float gate[] = {-2.0f, 0.0f, 3.0f};
  const float up[] = {1.5f, 2.0f, -1.0f};
  swiglu(gate, up, 3);
  EXPECT_NEAR(gate[0], -2.0 / (1 + std::exp(2.0)) * 1.5, 1e-6);
  EXPECT_EQ(gate[1], 0.0f);
  EXPECT_NEAR(gate[2], 3.0 / (1 + std::exp(-3.0)) * -1.0, 1e-6);
}

// Lengths around the vector width, values across the range where SiLU bends and beyond.
TEST(Ops, SwigluMatchesTheFormulaAtEveryLengthAndPlace) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-30.0f, 30.0f);
  for (int64_t n : {1, 15, 16, 17, 33, 768}) {
    std::vector<float> gate(static_cast<size_t>(n)), up(gate.size());
    for (size_t i = 0; i < gate.size(); ++i) {
      gate[i] = dist(rng);
      up[i] = dist(rng);
    }
    std::vector<float> out = gate;
    swiglu(out.data(), up.data(), n);
    for (size_t i = 0; i < gate.size(); ++i) {
      const double expected = gate[i] / (1.0 + std::exp(-double(gate[i]))) * up[i];
      EXPECT_NEAR(out[i], expected, 1e-6 * (1.0 + std::fabs(expected))) << "n " << n << ", i " << i;
    }
    // The same value alone (as the tail of a one-element call) gives the same bits.
    for (size_t i = 0; i < gate.size(); i += 7) {
      float one = gate[i];
      swiglu(&one, &up[i], 1);
      EXPECT_EQ(one, out[i]) << "n " << n << ", i " << i;
    }
  }
}

TEST(Ops, SwigluOfLargeNegativeGateIsZeroAndOfLargePositiveIsGateTimesUp) {
  float gate[] = {-200.0f, -90.0f, 90.0f, 200.0f};
  const float up[] = {3.0f, 3.0f, 3.0f, 3.0f};
  swiglu(gate, up, 4);
  EXPECT_NEAR(gate[0], 0.0f, 1e-30);
  EXPECT_NEAR(gate[1], 0.0f, 1e-30);
  EXPECT_EQ(gate[2], 270.0f);
  EXPECT_EQ(gate[3], 600.0f);
}

// exp_vec against std::exp from -87 to 88, within 2 ulp, and its edges.
TEST(Ops, VectorExpIsWithinTwoUlpOverItsRange) {
  float worst = 0.0f;
  for (float start = -87.0f; start < 88.0f; start += 0.37f) {
    float x[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) x[l] = std::min(88.0f, start + 0.0231f * static_cast<float>(l));
    float e[kLanes];
    store(e, exp_vec(load(x)));
    for (int64_t l = 0; l < kLanes; ++l) {
      const double exact = std::exp(double(x[l]));
      const double ulp = std::nextafter(float(exact), INFINITY) - float(exact);
      worst = std::max(worst, float(std::fabs(e[l] - exact) / ulp));
    }
  }
  EXPECT_LE(worst, 2.0f);
  float edges[kLanes] = {0.0f, -INFINITY, -100.0f, 100.0f};
  store(edges, exp_vec(load(edges)));
  EXPECT_EQ(edges[0], 1.0f);
  EXPECT_EQ(edges[1], 0.0f);
  EXPECT_EQ(edges[2], 0.0f);
  EXPECT_NEAR(edges[3] / std::exp(88.0), 1.0, 1e-6) << "clamped to e^88";
}

}  // namespace
}  // namespace sluice::ops
