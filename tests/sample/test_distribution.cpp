// Temperature sampling: with a fixed seed, empirical frequencies match softmax(logits / T)
// computed here in double, by a chi-square test at the 0.1% level. Each case also checks that the
// test would catch a wrong temperature.
#include <gtest/gtest.h>

#include "sample_test_support.h"

namespace sluice::sample {
namespace {

using testing::chi_square;
using testing::chi_square_critical_999;
using testing::draw_counts;
using testing::plain_params;
using testing::reference_softmax;

constexpr int kDraws = 20000;

class TemperatureTest : public ::testing::TestWithParam<float> {};

TEST_P(TemperatureTest, FrequenciesMatchSoftmax) {
  const float temperature = GetParam();
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f};
  Sampler sampler(plain_params(temperature, 99));
  const auto counts = draw_counts(sampler, logits, kDraws);
  const double critical = chi_square_critical_999(logits.size() - 1);

  const auto expected = reference_softmax(logits, temperature);
  EXPECT_LT(chi_square(counts, expected), critical) << "temperature " << temperature;
  // Power: the same draws reject a softmax at twice the temperature.
  const auto wrong = reference_softmax(logits, 2.0 * temperature);
  EXPECT_GT(chi_square(counts, wrong), critical) << "temperature " << temperature;
}

INSTANTIATE_TEST_SUITE_P(Temperatures, TemperatureTest, ::testing::Values(0.5f, 1.0f, 1.7f));

// Penalties feed the softmax: the reference applies llama.cpp's formula by hand.
TEST(Distribution, PenalisedFrequenciesMatchSoftmax) {
  const std::vector<float> logits = {1.0f, 0.5f, -0.5f, 0.2f};
  const std::vector<int32_t> history = {0, 0, 2, 3, 3, 3};
  SamplingParams params = plain_params(1.0f, 5);
  params.repeat_penalty = 1.3f;
  params.presence_penalty = 0.2f;
  params.frequency_penalty = 0.1f;
  Sampler sampler(params);
  const auto counts = draw_counts(sampler, logits, kDraws, history);

  const std::vector<float> penalised = {
      1.0f / 1.3f - 2 * 0.1f - 0.2f,   // seen twice, positive: divided
      0.5f,                            // not seen
      -0.5f * 1.3f - 1 * 0.1f - 0.2f,  // seen once, negative: multiplied
      0.2f / 1.3f - 3 * 0.1f - 0.2f,   // seen three times
  };
  const double critical = chi_square_critical_999(logits.size() - 1);
  EXPECT_LT(chi_square(counts, reference_softmax(penalised, 1.0)), critical);
  EXPECT_GT(chi_square(counts, reference_softmax(logits, 1.0)), critical);
}

}  // namespace
}  // namespace sluice::sample
