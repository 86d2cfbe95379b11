// causal_attention (register-tiled, online softmax over key blocks) against a naive
// double-precision softmax on awkward shapes: GQA groups of 1 to 8 (and 3, which does not
// fill a row tile), head dims that are not whole vectors, key and value dims that differ,
// sliding windows, sinks, prompts that cross key blocks, and first_pos > 0. Each shape is
// also run one token at a time, in uneven chunks and on other thread counts, and must give
// the batched result bit for bit: a token's output may not depend on the batch it is in.
// Cache positions past the last token hold NaN, so using any of them would show.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "ops/attention.h"

namespace sluice::ops {
namespace {

struct Case {
  std::string name;
  int64_t n_head, n_head_kv, head_dim_k, head_dim_v;
  int64_t sliding_window;
  bool sinks;
  int64_t first_pos, n_tokens;
  float score_spread = 1.0f;  // multiplies the scale: large values test the max tracking
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

struct Inputs {
  AttentionShape shape;
  std::vector<float> q, k, v, sinks;
};

std::vector<float> random_values(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

Inputs make_inputs(const Case& c) {
  Inputs in;
  in.shape.n_head = c.n_head;
  in.shape.n_head_kv = c.n_head_kv;
  in.shape.head_dim_k = c.head_dim_k;
  in.shape.head_dim_v = c.head_dim_v;
  in.shape.scale = c.score_spread / std::sqrt(static_cast<float>(c.head_dim_k));
  in.shape.sliding_window = c.sliding_window;
  const int64_t n_pos = c.first_pos + c.n_tokens;
  in.q = random_values(static_cast<size_t>(c.n_tokens * c.n_head * c.head_dim_k), 11, -1.0f, 1.0f);
  in.k = random_values(static_cast<size_t>(n_pos * c.n_head_kv * c.head_dim_k), 12, -1.0f, 1.0f);
  in.v = random_values(static_cast<size_t>(n_pos * c.n_head_kv * c.head_dim_v), 13, -1.0f, 1.0f);
  if (c.sinks) {
    in.sinks = random_values(static_cast<size_t>(c.n_head), 14, -2.0f, 2.0f);
    in.shape.sinks = in.sinks.data();
  }
  return in;
}

// softmax over [scores of the keys in the window, sink], then the sink's column dropped.
std::vector<double> reference(const Case& c, const Inputs& in) {
  const AttentionShape& s = in.shape;
  const int64_t group = s.n_head / s.n_head_kv;
  std::vector<double> out(static_cast<size_t>(c.n_tokens * s.n_head * s.head_dim_v), 0.0);
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    const int64_t pos = c.first_pos + t;
    const int64_t first_key =
        s.sliding_window > 0 ? std::max<int64_t>(0, pos - s.sliding_window + 1) : 0;
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int64_t kvh = h / group;
      std::vector<double> scores;
      double max_score = c.sinks ? double(in.sinks[h]) : -INFINITY;
      for (int64_t j = first_key; j <= pos; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < s.head_dim_k; ++d) {
          dot += double(in.q[(t * s.n_head + h) * s.head_dim_k + d]) *
                 in.k[(j * s.n_head_kv + kvh) * s.head_dim_k + d];
        }
        scores.push_back(dot * s.scale);
        max_score = std::max(max_score, scores.back());
      }
      double denominator = c.sinks ? std::exp(double(in.sinks[h]) - max_score) : 0.0;
      for (double& x : scores) {
        x = std::exp(x - max_score);
        denominator += x;
      }
      for (int64_t j = first_key; j <= pos; ++j) {
        const double w = scores[static_cast<size_t>(j - first_key)] / denominator;
        for (int64_t d = 0; d < s.head_dim_v; ++d) {
          out[(t * s.n_head + h) * s.head_dim_v + d] +=
              w * in.v[(j * s.n_head_kv + kvh) * s.head_dim_v + d];
        }
      }
    }
  }
  return out;
}

// The first n_pos positions of a cache with rows of `width` floats, followed by a few
// positions not written yet (NaN), which causal attention must not read.
std::vector<float> cache_until(const std::vector<float>& cache, int64_t n_pos, int64_t width) {
  std::vector<float> prefix(cache.begin(), cache.begin() + n_pos * width);
  prefix.resize(prefix.size() + static_cast<size_t>(3 * width), NAN);
  return prefix;
}

// Tokens [t0, t0 + n) of the case, as the engine would pass them.
std::vector<float> run(const Case& c, const Inputs& in, int64_t t0, int64_t n, int n_threads) {
  ThreadPool pool(n_threads);
  const int64_t n_pos = c.first_pos + t0 + n;
  const std::vector<float> k = cache_until(in.k, n_pos, c.n_head_kv * c.head_dim_k);
  const std::vector<float> v = cache_until(in.v, n_pos, c.n_head_kv * c.head_dim_v);
  const int64_t width = c.n_head * c.head_dim_v;
  std::vector<float> out(static_cast<size_t>(n * width));
  causal_attention(pool, in.shape, in.q.data() + t0 * c.n_head * c.head_dim_k, n, c.first_pos + t0,
                   k.data(), v.data(), out.data());
  return out;
}

class AttentionBlocked : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionBlocked, MatchesNaiveSoftmax) {
  const Case& c = GetParam();
  const Inputs in = make_inputs(c);
  const std::vector<double> expected = reference(c, in);
  const std::vector<float> got = run(c, in, 0, c.n_tokens, 2);
  double max_diff = 0;
  size_t worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double diff = std::abs(got[i] - expected[i]);
    if (diff > max_diff) max_diff = diff, worst = i;
  }
  const int64_t width = c.n_head * c.head_dim_v;
  // Float rounding of a score grows with its size.
  EXPECT_LT(max_diff, 2e-6 * c.score_spread)
      << "token " << worst / width << ", head " << worst % width / c.head_dim_v << ": got "
      << got[worst] << ", expected " << expected[worst];
}

TEST_P(AttentionBlocked, OneTokenAtATimeEqualsBatchBitForBit) {
  const Case& c = GetParam();
  const Inputs in = make_inputs(c);
  const std::vector<float> batch = run(c, in, 0, c.n_tokens, 2);
  const int64_t width = c.n_head * c.head_dim_v;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    const std::vector<float> one = run(c, in, t, 1, 2);
    for (int64_t i = 0; i < width; ++i) {
      ASSERT_EQ(one[i], batch[t * width + i]) << "token " << t << ", head " << i / c.head_dim_v
                                              << ", dim " << i % c.head_dim_v;
    }
  }
}

TEST_P(AttentionBlocked, ChunksAndThreadCountsEqualBatchBitForBit) {
  const Case& c = GetParam();
  const Inputs in = make_inputs(c);
  const std::vector<float> batch = run(c, in, 0, c.n_tokens, 2);
  const int64_t width = c.n_head * c.head_dim_v;
  for (int n_threads : {1, 3}) {
    EXPECT_EQ(run(c, in, 0, c.n_tokens, n_threads), batch) << n_threads << " threads";
  }
  // Uneven chunks, as a prompt split over several calls.
  for (int64_t t0 = 0; t0 < c.n_tokens;) {
    const int64_t n = std::min<int64_t>(7 + t0 % 5, c.n_tokens - t0);
    const std::vector<float> chunk = run(c, in, t0, n, 2);
    for (int64_t i = 0; i < n * width; ++i) {
      ASSERT_EQ(chunk[i], batch[t0 * width + i])
          << "chunk from token " << t0 << ", token " << t0 + i / width;
    }
    t0 += n;
  }
}

// name, n_head, n_head_kv, head_dim_k, head_dim_v, sliding_window, sinks, first_pos, n_tokens
INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionBlocked,
    ::testing::Values(
        Case{"Qwen3MoeGroup8", 16, 2, 128, 128, 0, false, 0, 150},
        Case{"Group3OddDims", 6, 2, 5, 3, 0, false, 3, 9},
        Case{"Group3WindowSinks", 6, 2, 5, 3, 4, true, 3, 9},
        Case{"NoGqaDeepSeekDims", 4, 4, 192, 128, 0, false, 60, 10},
        Case{"Group2DecodeWindowSinks", 2, 1, 17, 33, 100, true, 130, 1},
        Case{"GptOssWindowAcrossBlocks", 16, 2, 64, 64, 128, true, 0, 200},
        Case{"TinyHeads", 3, 1, 1, 2, 0, false, 0, 5},
        Case{"LongContextDecode", 8, 2, 48, 80, 0, true, 300, 3},
        Case{"WindowOfOne", 4, 2, 16, 16, 1, false, 5, 6},
        Case{"LargeScoresMoveTheMax", 8, 1, 32, 24, 0, true, 40, 90, 25.0f}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace sluice::ops
