// Greedy decoding: temperature <= 0 and top-k = 1 both return the argmax, lowest id on ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "sample_test_support.h"

namespace sluice::sample {
namespace {

using testing::greedy_params;
using testing::plain_params;

// Random logits with deliberate ties among the largest values.
std::vector<float> tied_random_logits(size_t n_vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(n_vocab);
  for (float& logit : logits) logit = std::round(normal(rng) * 2.0f) / 2.0f;  // many ties
  return logits;
}

// std::max_element returns the first maximum, i.e. the lowest id.
int32_t reference_argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

class GreedyTest : public ::testing::TestWithParam<size_t> {};

TEST_P(GreedyTest, ZeroAndNegativeTemperatureAreArgmax) {
  for (uint32_t trial = 0; trial < 20; ++trial) {
    const auto logits = tied_random_logits(GetParam(), trial);
    for (float temperature : {0.0f, -1.0f}) {
      Sampler sampler(plain_params(temperature, trial));
      EXPECT_EQ(sampler.sample(logits, {}), reference_argmax(logits))
          << "n_vocab " << GetParam() << " trial " << trial << " temperature " << temperature;
    }
  }
}

TEST_P(GreedyTest, TopKOneEqualsGreedyAtAnyTemperature) {
  for (uint32_t trial = 0; trial < 20; ++trial) {
    const auto logits = tied_random_logits(GetParam(), 100 + trial);
    for (float temperature : {0.1f, 0.8f, 1.5f, 100.0f}) {
      SamplingParams params;  // defaults otherwise: top-p and min-p on
      params.temperature = temperature;
      params.top_k = 1;
      params.seed = trial;
      Sampler sampler(params);
      for (int draw = 0; draw < 5; ++draw) {
        EXPECT_EQ(sampler.sample(logits, {}), reference_argmax(logits))
            << "n_vocab " << GetParam() << " trial " << trial << " temperature " << temperature;
      }
    }
  }
}

// Awkward sizes: a single token, small odd, just past top-p's sort head, a real vocabulary.
INSTANTIATE_TEST_SUITE_P(Sizes, GreedyTest, ::testing::Values(1, 7, 257, 1000, 32001));

TEST(Greedy, TiesGoToTheLowestId) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, 2.0f, 3.0f};
  Sampler sampler(greedy_params());
  EXPECT_EQ(sampler.sample(logits, {}), 1);
}

// The maximum and its ties in different 16-value lanes, in the remainder after the last 16,
// and nothing but -inf.
TEST(Greedy, FirstMaximumAcrossLanesAndRemainder) {
  const auto greedy = [](const std::vector<float>& logits) { return Sampler(greedy_params()).sample(logits, {}); };
  std::vector<float> logits(35, 0.0f);
  logits[21] = logits[5] = 2.0f;  // both in lane 5: the lower id
  EXPECT_EQ(greedy(logits), 5);
  logits[3] = 2.0f;  // a lower lane, lower id
  EXPECT_EQ(greedy(logits), 3);
  logits[33] = 2.0f;  // a tie in the remainder
  EXPECT_EQ(greedy(logits), 3);
  logits[34] = 2.5f;  // the maximum in the remainder
  EXPECT_EQ(greedy(logits), 34);
  logits[18] = 2.5f;  // tied with it, in lane 2 of the second 16
  EXPECT_EQ(greedy(logits), 18);
  EXPECT_EQ(greedy(std::vector<float>(40, -INFINITY)), 0);
}

TEST(Greedy, NegativeInfinityIsNeverPickedOverAFiniteLogit) {
  const std::vector<float> logits = {-INFINITY, -INFINITY, -50.0f, -INFINITY};
  Sampler sampler(greedy_params());
  EXPECT_EQ(sampler.sample(logits, {}), 2);
}

TEST(Greedy, DoesNotModifyTheLogits) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f};
  const std::vector<float> copy = logits;
  SamplingParams params;
  params.repeat_penalty = 1.5f;
  params.presence_penalty = 0.3f;
  Sampler sampler(params);
  const std::vector<int32_t> history = {1, 1, 2};
  sampler.sample(logits, history);
  EXPECT_EQ(logits, copy);
}

}  // namespace
}  // namespace sluice::sample
