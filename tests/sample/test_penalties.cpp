// Repetition, presence and frequency penalties, each in a case built so that it flips the argmax
// only if applied as llama.cpp / the OpenAI API define it.
#include <gtest/gtest.h>

#include "sample_test_support.h"
#include "util/error.h"

namespace sluice::sample {
namespace {

using testing::greedy_params;

int32_t greedy_with(SamplingParams params, const std::vector<float>& logits,
                    const std::vector<int32_t>& history) {
  Sampler sampler(params);
  return sampler.sample(logits, history);
}

TEST(RepeatPenalty, DividesAPositiveLogit) {
  const std::vector<float> logits = {2.0f, 1.9f, 0.5f};  // 2.0 / 1.1 = 1.82 < 1.9
  SamplingParams params = greedy_params();
  EXPECT_EQ(greedy_with(params, logits, {0}), 0);
  params.repeat_penalty = 1.1f;
  EXPECT_EQ(greedy_with(params, logits, {0}), 1);
  EXPECT_EQ(greedy_with(params, logits, {2}), 0);
}

TEST(RepeatPenalty, MultipliesANegativeLogit) {
  const std::vector<float> logits = {-1.0f, -1.05f, -3.0f};  // -1.0 * 1.1 = -1.1 < -1.05
  SamplingParams params = greedy_params();
  params.repeat_penalty = 1.1f;
  EXPECT_EQ(greedy_with(params, logits, {0}), 1);
}

TEST(RepeatPenalty, BelowOneEncourages) {
  const std::vector<float> logits = {1.0f, 1.5f};  // 1.0 / 0.5 = 2.0 > 1.5
  SamplingParams params = greedy_params();
  params.repeat_penalty = 0.5f;
  EXPECT_EQ(greedy_with(params, logits, {0}), 0);
}

TEST(RepeatPenalty, CountsOnlyTheLastNTokens) {
  const std::vector<float> logits = {2.0f, 1.9f, 0.5f};
  const std::vector<int32_t> history = {0, 2, 2, 2};
  SamplingParams params = greedy_params();
  params.repeat_penalty = 1.1f;
  params.repeat_last_n = 3;  // token 0 has left the window
  EXPECT_EQ(greedy_with(params, logits, history), 0);
  params.repeat_last_n = 4;
  EXPECT_EQ(greedy_with(params, logits, history), 1);
  params.repeat_last_n = 1000;  // longer than the history
  EXPECT_EQ(greedy_with(params, logits, history), 1);
  params.repeat_last_n = -1;  // whole history
  EXPECT_EQ(greedy_with(params, logits, history), 1);
  params.repeat_last_n = 0;  // off
  EXPECT_EQ(greedy_with(params, logits, history), 0);
}

TEST(RepeatPenalty, AppliesOncePerDistinctToken) {
  // Applied three times, 2.0 / 1.1^3 = 1.50 would fall below 1.6.
  const std::vector<float> logits = {2.0f, 1.6f};
  SamplingParams params = greedy_params();
  params.repeat_penalty = 1.1f;
  EXPECT_EQ(greedy_with(params, logits, {0, 0, 0}), 0);
}

TEST(PresencePenalty, AppliesOnceHoweverOftenTheTokenAppeared) {
  const std::vector<float> logits = {3.0f, 2.0f, 0.0f};
  SamplingParams params = greedy_params();
  params.presence_penalty = 0.5f;  // 3.0 - 0.5 = 2.5 > 2.0; per occurrence it would be 1.5
  EXPECT_EQ(greedy_with(params, logits, {0, 0, 0}), 0);
  params.presence_penalty = 1.5f;  // 1.5 < 2.0
  EXPECT_EQ(greedy_with(params, logits, {0}), 1);
}

TEST(PresencePenalty, NegativeEncourages) {
  const std::vector<float> logits = {1.0f, 1.2f};
  SamplingParams params = greedy_params();
  params.presence_penalty = -0.5f;
  EXPECT_EQ(greedy_with(params, logits, {0}), 0);
}

TEST(FrequencyPenalty, ScalesWithTheCount) {
  const std::vector<float> logits = {3.0f, 2.0f, 0.0f};
  SamplingParams params = greedy_params();
  params.frequency_penalty = 0.4f;
  EXPECT_EQ(greedy_with(params, logits, {0, 0}), 0);     // 3.0 - 0.8 = 2.2
  EXPECT_EQ(greedy_with(params, logits, {0, 0, 0}), 1);  // 3.0 - 1.2 = 1.8
  EXPECT_EQ(greedy_with(params, logits, {0, 2, 0}), 0);  // other tokens do not count
}

TEST(Penalties, StateDoesNotLeakBetweenCalls) {
  // The sampler reuses its count buffer: a second call with a different history must not see
  // counts left over from the first.
  const std::vector<float> logits = {3.0f, 2.0f, 0.0f};
  SamplingParams params = greedy_params();
  params.frequency_penalty = 0.4f;
  Sampler sampler(params);
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{0, 0, 0}), 1);
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{0, 0}), 0);
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{}), 0);
}

TEST(Penalties, RejectHistoryOutsideTheVocabulary) {
  const std::vector<float> logits = {1.0f, 2.0f};
  SamplingParams params = greedy_params();
  params.repeat_penalty = 1.1f;
  Sampler sampler(params);
  EXPECT_THROW(sampler.sample(logits, std::vector<int32_t>{0, 2}), Error);
  EXPECT_THROW(sampler.sample(logits, std::vector<int32_t>{-1}), Error);
  // The buffer is intact afterwards.
  EXPECT_EQ(sampler.sample(logits, std::vector<int32_t>{1}), 1);
}

}  // namespace
}  // namespace sluice::sample
