// gpt-oss's expert math against its definition in transformers' GptOssTopKRouter and
// GptOssExperts, computed here in double: top-k of the logits then softmax over those k, and
// the clamped SwiGLU.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/clamped_swiglu.h"
#include "ops/top_k_softmax.h"

namespace sluice::ops {
namespace {

TEST(TopKSoftmax, PicksLargestLogitsAndNormalisesOnlyThem) {
  const float logits[] = {0.5f, 2.0f, -1.0f, 3.0f, 1.0f, 2.0f};
  int32_t ids[3];
  float weights[3];
  top_k_softmax(6, 3, logits, ids, weights);
  EXPECT_EQ(ids[0], 3);
  EXPECT_EQ(ids[1], 1);  // tie between 1 and 5: lower id first
  EXPECT_EQ(ids[2], 5);
  const double z = std::exp(3.0) + 2 * std::exp(2.0);
  EXPECT_NEAR(weights[0], std::exp(3.0) / z, 1e-7);
  EXPECT_NEAR(weights[1], std::exp(2.0) / z, 1e-7);
  EXPECT_NEAR(weights[2], std::exp(2.0) / z, 1e-7);
}

TEST(TopKSoftmax, LargeLogitsDoNotOverflowAndKOfOneWeighsOne) {
  const float logits[] = {1000.0f, 999.0f, -1000.0f};
  int32_t ids[2];
  float weights[2];
  top_k_softmax(3, 2, logits, ids, weights);
  EXPECT_NEAR(weights[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  top_k_softmax(3, 1, logits, ids, weights);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(weights[0], 1.0f);
}

TEST(ClampedSwiglu, MatchesGptOssDefinition) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-12.0f, 12.0f);  // reaches past the limit both ways
  std::vector<float> gate(257), up(257);
  for (float& g : gate) g = dist(rng);
  for (float& u : up) u = dist(rng);
  gate[0] = 7.0f;
  gate[1] = -7.5f;
  up[2] = -7.0f;
  const ClampedSwigluParams params;
  std::vector<float> out = gate;
  clamped_swiglu(params, out.data(), up.data(), static_cast<int64_t>(out.size()));
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = std::min(double(gate[i]), 7.0);
    const double u = std::clamp(double(up[i]), -7.0, 7.0);
    const double expected = (u + 1.0) * g / (1.0 + std::exp(-1.702 * g));
    EXPECT_NEAR(out[i], expected, 1e-5 * (1.0 + std::fabs(expected))) << "gate " << gate[i] << ", up " << up[i];
  }
}

TEST(ClampedSwiglu, ClampsAtTheLimit) {
  float gate[] = {100.0f, 100.0f};
  const float up[] = {100.0f, -100.0f};
  clamped_swiglu({.alpha = 1.702f, .limit = 7.0f}, gate, up, 2);
  const double glu = 7.0 / (1.0 + std::exp(-1.702 * 7.0));
  EXPECT_NEAR(gate[0], 8.0 * glu, 1e-5);
  EXPECT_NEAR(gate[1], -6.0 * glu, 1e-5);
}

}  // namespace
}  // namespace sluice::ops
