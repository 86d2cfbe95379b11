// Attention sinks and the sliding window against a naive double-precision softmax: a sink
// adds exp(sink) to the denominator of its head, the window hides keys at positions
// <= p - window; both together, batched and one token at a time; without them the old
// results bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/attention.h"

namespace sluice::ops {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Inputs {
  AttentionShape shape;
  int64_t first_pos = 0, n_tokens = 0;
  std::vector<float> q, k, v, sinks;
};

Inputs make_inputs(int64_t first_pos, int64_t n_tokens) {
  Inputs in;
  in.shape.n_head = 4;
  in.shape.n_head_kv = 2;
  in.shape.head_dim_k = 5;
  in.shape.head_dim_v = 3;
  in.shape.scale = 0.7f;
  in.first_pos = first_pos;
  in.n_tokens = n_tokens;
  const int64_t n_pos = first_pos + n_tokens;
  in.q = random_values(static_cast<size_t>(n_tokens * 4 * 5), 1);
  in.k = random_values(static_cast<size_t>(n_pos * 2 * 5), 2);
  in.v = random_values(static_cast<size_t>(n_pos * 2 * 3), 3);
  in.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
  return in;
}

// softmax over [scores of visible keys, sink] with the sink's column dropped afterwards.
std::vector<double> naive(const Inputs& in, int64_t window, bool sinks) {
  const AttentionShape& s = in.shape;
  std::vector<double> out(static_cast<size_t>(in.n_tokens * s.n_head * s.head_dim_v), 0.0);
  for (int64_t t = 0; t < in.n_tokens; ++t) {
    const int64_t pos = in.first_pos + t;
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int64_t kvh = h / (s.n_head / s.n_head_kv);
      std::vector<std::pair<int64_t, double>> e;
      double denominator = sinks ? std::exp(double(in.sinks[h])) : 0.0;
      for (int64_t j = 0; j <= pos; ++j) {
        if (window > 0 && pos - j >= window) continue;
        double dot = 0;
        for (int64_t d = 0; d < s.head_dim_k; ++d) {
          dot += double(in.q[(t * s.n_head + h) * s.head_dim_k + d]) * in.k[(j * s.n_head_kv + kvh) * s.head_dim_k + d];
        }
        e.emplace_back(j, std::exp(dot * s.scale));
        denominator += e.back().second;
      }
      for (const auto& [j, w] : e) {
        for (int64_t d = 0; d < s.head_dim_v; ++d) {
          out[(t * s.n_head + h) * s.head_dim_v + d] += w / denominator * in.v[(j * s.n_head_kv + kvh) * s.head_dim_v + d];
        }
      }
    }
  }
  return out;
}

std::vector<float> run(const Inputs& in, int64_t window, bool sinks) {
  ThreadPool pool(2);
  AttentionShape shape = in.shape;
  shape.sliding_window = window;
  shape.sinks = sinks ? in.sinks.data() : nullptr;
  std::vector<float> out(static_cast<size_t>(in.n_tokens * shape.n_head * shape.head_dim_v));
  causal_attention(pool, shape, in.q.data(), in.n_tokens, in.first_pos, in.k.data(), in.v.data(), out.data());
  return out;
}

TEST(AttentionVariants, SinksAndWindowMatchNaiveSoftmax) {
  const Inputs in = make_inputs(5, 9);
  for (int64_t window : {0, 1, 3, 7, 100}) {
    for (bool sinks : {false, true}) {
      const std::vector<double> expected = naive(in, window, sinks);
      const std::vector<float> got = run(in, window, sinks);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], expected[i], 1e-5) << "window " << window << ", sinks " << sinks << ", index " << i;
      }
    }
  }
}

TEST(AttentionVariants, SinkShrinksEveryWeight) {
  // One key: without a sink the output is that key's value; with sink s it is scaled by
  // e^x / (e^x + e^s).
  Inputs in = make_inputs(0, 1);
  const std::vector<float> plain = run(in, 0, false);
  const std::vector<float> sunk = run(in, 0, true);
  for (int64_t h = 0; h < 4; ++h) {
    double dot = 0;
    for (int64_t d = 0; d < 5; ++d) dot += double(in.q[h * 5 + d]) * in.k[(h / 2) * 5 + d];
    const double keep = std::exp(dot * 0.7) / (std::exp(dot * 0.7) + std::exp(double(in.sinks[h])));
    for (int64_t d = 0; d < 3; ++d) {
      EXPECT_FLOAT_EQ(plain[h * 3 + d], in.v[(h / 2) * 3 + d]);
      EXPECT_NEAR(sunk[h * 3 + d], keep * plain[h * 3 + d], 1e-6);
    }
  }
}

TEST(AttentionVariants, TokenByTokenEqualsBatchWithWindowAndSinks) {
  const Inputs batch = make_inputs(0, 12);
  const std::vector<float> all = run(batch, 4, true);
  const int64_t width = 4 * 3;
  for (int64_t t = 0; t < 12; ++t) {
    Inputs one = batch;
    one.first_pos = t;
    one.n_tokens = 1;
    one.q.assign(batch.q.begin() + t * 20, batch.q.begin() + (t + 1) * 20);
    const std::vector<float> step = run(one, 4, true);
    for (int64_t i = 0; i < width; ++i) ASSERT_EQ(step[i], all[t * width + i]) << "token " << t;
  }
}

TEST(AttentionVariants, WindowWiderThanContextIsFullAttention) {
  const Inputs in = make_inputs(2, 6);
  EXPECT_EQ(run(in, 0, false), run(in, 8, false));
  EXPECT_EQ(run(in, 0, true), run(in, 1000, true));
}

}  // namespace
}  // namespace sluice::ops
