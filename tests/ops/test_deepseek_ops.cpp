// The ops DeepSeek-V2/V3 need: grouped expert routing on hand-checked cases, YaRN's rotary
// frequencies against the formula worked by hand for DeepSeek-V3's settings, and latent
// attention against grouped-query attention over explicitly up-projected keys and values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/attention.h"
#include "ops/attention_mla.h"
#include "ops/group_routing.h"
#include "ops/rope.h"
#include "ops/rope.h"
#include "ops/routing.h"

namespace sluice::ops {
namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

struct Choice {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

Choice route(const GroupRoutingParams& params, const std::vector<float>& logits,
             const std::vector<float>& bias = {}) {
  Choice c{std::vector<int32_t>(params.n_expert_used), std::vector<float>(params.n_expert_used)};
  group_limited_top_k(params, logits.data(), bias.empty() ? nullptr : bias.data(), c.ids.data(), c.weights.data());
  return c;
}

// Four groups of two. Expert 4 scores highest, but its group's two best sum to 1.0
// (sigmoid(3) + sigmoid(-3)), as does group 0's; groups 1 (2 * sigmoid(1) = 1.46) and 3
// (sigmoid(0.5) + sigmoid(0.4) = 1.22) are kept, and experts 2 and 3 tie: lower id first.
TEST(GroupRouting, SigmoidKeepsGroupsByTheirTwoBestScores) {
  GroupRoutingParams p{.n_expert = 8, .n_expert_used = 2, .n_group = 4, .n_group_used = 2,
                       .gating = ExpertGating::kSigmoid, .normalize_top_k = true, .weights_scale = 2.5f};
  const Choice c = route(p, {2.0f, -2.0f, 1.0f, 1.0f, 3.0f, -3.0f, 0.5f, 0.4f});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{2, 3}));
  EXPECT_FLOAT_EQ(c.weights[0], 1.25f);  // 0.5 of the normalised pair, times 2.5
  EXPECT_FLOAT_EQ(c.weights[1], 1.25f);
}

// The selection bias lifts expert 6 and its group to the top, but the weights are the
// unbiased scores: sigmoid(0.5) and sigmoid(1), normalised.
TEST(GroupRouting, BiasChoosesButDoesNotWeigh) {
  GroupRoutingParams p{.n_expert = 8, .n_expert_used = 2, .n_group = 4, .n_group_used = 2,
                       .gating = ExpertGating::kSigmoid, .normalize_top_k = true, .weights_scale = 1.0f};
  const Choice c = route(p, {2.0f, -2.0f, 1.0f, 1.0f, 3.0f, -3.0f, 0.5f, 0.4f},
                         {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.0f});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{6, 2}));
  const float sum = sigmoid(0.5f) + sigmoid(1.0f);
  EXPECT_NEAR(c.weights[0], sigmoid(0.5f) / sum, 1e-6f);
  EXPECT_NEAR(c.weights[1], sigmoid(1.0f) / sum, 1e-6f);
}

// Without normalisation the weights are the sigmoid scores times the scale.
TEST(GroupRouting, UnnormalisedWeightsAreScaledScores) {
  GroupRoutingParams p{.n_expert = 4, .n_expert_used = 2, .n_group = 1, .n_group_used = 1,
                       .gating = ExpertGating::kSigmoid, .normalize_top_k = false, .weights_scale = 2.0f};
  const Choice c = route(p, {0.0f, 1.0f, -1.0f, 2.0f});
  EXPECT_EQ(c.ids, (std::vector<int32_t>{3, 1}));
  EXPECT_NEAR(c.weights[0], 2.0f * sigmoid(2.0f), 1e-6f);
  EXPECT_NEAR(c.weights[1], 2.0f * sigmoid(1.0f), 1e-6f);
}

// DeepSeek-V2's group_limited_greedy: a group scores its best expert. Group 1 holds the best
// expert (logit 3), so only experts 2 and 3 can be chosen although expert 4 beats expert 2.
TEST(GroupRouting, SoftmaxKeepsGroupsByTheirBestScore) {
  GroupRoutingParams p{.n_expert = 6, .n_expert_used = 2, .n_group = 3, .n_group_used = 1,
                       .gating = ExpertGating::kSoftmax, .normalize_top_k = false, .weights_scale = 16.0f};
  const std::vector<float> logits = {1.0f, 0.0f, 0.0f, 3.0f, 2.0f, 2.0f};
  const Choice c = route(p, logits);
  EXPECT_EQ(c.ids, (std::vector<int32_t>{3, 2}));
  double sum = 0.0;
  for (float l : logits) sum += std::exp(double{l});
  EXPECT_NEAR(c.weights[0], 16.0 * std::exp(3.0) / sum, 1e-5);
  EXPECT_NEAR(c.weights[1], 16.0 * std::exp(0.0) / sum, 1e-5);
}

// With one group, softmax gating and normalisation it is plain softmax top-k.
TEST(GroupRouting, OneGroupSoftmaxEqualsSoftmaxTopK) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  GroupRoutingParams p{.n_expert = 60, .n_expert_used = 4, .n_group = 1, .n_group_used = 1,
                       .gating = ExpertGating::kSoftmax, .normalize_top_k = true, .weights_scale = 1.0f};
  const RoutingParams plain{60, 4, true};
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> logits(60);
    for (float& l : logits) l = dist(rng);
    const Choice c = route(p, logits);
    std::vector<int32_t> ids(4);
    std::vector<float> weights(4);
    softmax_top_k(plain, logits.data(), ids.data(), weights.data());
    EXPECT_EQ(c.ids, ids);
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(c.weights[j], weights[j], 1e-6f);
  }
}

// DeepSeek-V3: 64 rotary dimensions, base 10000, factor 40 over 4096 original positions.
// The correction range: 64 ln(4096 / (32 * 2 pi)) / (2 ln 10000) = 10.47 -> 10 (beta_fast 32),
// 64 ln(4096 / (1 * 2 pi)) / (2 ln 10000) = 22.51 -> 23 (beta_slow 1). Pairs up to 10 keep
// their frequency, pairs from 23 on are divided by 40, pair 16 blends with extrapolation
// share 1 - (16 - 10) / 13.
TEST(RopeYarn, DeepSeekV3FrequenciesFollowTheCorrectionRamp) {
  RopeParams plain;
  plain.style = RopeStyle::kNormal;
  plain.n_rot = 64;
  plain.freq_base = 10000.0f;
  RopeParams scaled = plain;
  scaled.yarn.enabled = true;
  scaled.yarn.factor = 40.0;
  scaled.yarn.original_context = 4096;
  for (int i = 0; i <= 10; ++i) EXPECT_FLOAT_EQ(rope_inv_freq(scaled, i), rope_inv_freq(plain, i)) << i;
  for (int i = 23; i < 32; ++i) {
    EXPECT_FLOAT_EQ(rope_inv_freq(scaled, i), rope_inv_freq(plain, i) / 40.0f) << i;
  }
  const double share = 1.0 - 6.0 / 13.0;
  const double f16 = rope_inv_freq(plain, 16);
  EXPECT_FLOAT_EQ(rope_inv_freq(scaled, 16), static_cast<float>(f16 * share + f16 / 40.0 * (1.0 - share)));
}

// Latent attention equals ordinary attention over keys [W_uk c | k_rope] and values W_uv c
// up-projected for every head, with queries [q_nope | q_rope].
TEST(MlaAttention, EqualsAttentionOverUpProjectedKeysAndValues) {
  const int64_t n_head = 3, rank = 5, n_rot = 4, nope = 6, dv = 7, n_pos = 9, first_pos = 4;
  const int64_t n_tokens = n_pos - first_pos;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist;
  const auto random = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
  };
  const std::vector<float> cache = random(n_pos * (rank + n_rot));      // [c | k_rope] per position
  const std::vector<float> w_uk = random(n_head * nope * rank);         // [h][d][c]
  const std::vector<float> w_uv = random(n_head * dv * rank);           // [h][j][c]
  const std::vector<float> q = random(n_tokens * n_head * (nope + n_rot));  // [q_nope | q_rope]
  const float scale = 0.3f;

  // Reference: explicit keys and values per head.
  const int64_t dk = nope + n_rot;
  std::vector<float> keys(static_cast<size_t>(n_pos * n_head * dk)), values(static_cast<size_t>(n_pos * n_head * dv));
  for (int64_t p = 0; p < n_pos; ++p) {
    const float* c = cache.data() + p * (rank + n_rot);
    for (int64_t h = 0; h < n_head; ++h) {
      for (int64_t d = 0; d < nope; ++d) {
        double s = 0;
        for (int64_t i = 0; i < rank; ++i) s += double{w_uk[(h * nope + d) * rank + i]} * c[i];
        keys[(p * n_head + h) * dk + d] = static_cast<float>(s);
      }
      for (int64_t r = 0; r < n_rot; ++r) keys[(p * n_head + h) * dk + nope + r] = c[rank + r];
      for (int64_t j = 0; j < dv; ++j) {
        double s = 0;
        for (int64_t i = 0; i < rank; ++i) s += double{w_uv[(h * dv + j) * rank + i]} * c[i];
        values[(p * n_head + h) * dv + j] = static_cast<float>(s);
      }
    }
  }
  ThreadPool pool(2);
  std::vector<float> expected(static_cast<size_t>(n_tokens * n_head * dv));
  causal_attention(pool, {n_head, n_head, dk, dv, scale}, q.data(), n_tokens, first_pos, keys.data(),
                   values.data(), expected.data());

  // Latent: absorb W_uk into q, attend over the cache, apply W_uv.
  const int64_t width = rank + n_rot;
  std::vector<float> q_latent(static_cast<size_t>(n_tokens * n_head * width));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_head; ++h) {
      const float* qh = q.data() + (t * n_head + h) * dk;
      float* out = q_latent.data() + (t * n_head + h) * width;
      for (int64_t i = 0; i < rank; ++i) {
        double s = 0;
        for (int64_t d = 0; d < nope; ++d) s += double{w_uk[(h * nope + d) * rank + i]} * qh[d];
        out[i] = static_cast<float>(s);
      }
      for (int64_t r = 0; r < n_rot; ++r) out[rank + r] = qh[nope + r];
    }
  }
  std::vector<float> latent(static_cast<size_t>(n_tokens * n_head * rank));
  mla_attention(pool, {n_head, rank, n_rot, scale}, q_latent.data(), n_tokens, first_pos, cache.data(),
                latent.data());
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t h = 0; h < n_head; ++h) {
      for (int64_t j = 0; j < dv; ++j) {
        double s = 0;
        for (int64_t i = 0; i < rank; ++i) s += double{w_uv[(h * dv + j) * rank + i]} * latent[(t * n_head + h) * rank + i];
        EXPECT_NEAR(s, expected[(t * n_head + h) * dv + j], 1e-4) << "token " << t << ", head " << h << ", dim " << j;
      }
    }
  }
}

}  // namespace
}  // namespace sluice::ops
