// SamplingParams::validate and the sampler's checks on its inputs: bad values are rejected
// with an error that names them, edge values that have a meaning are accepted.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <string>

#include "sample_test_support.h"
#include "util/error.h"

namespace sluice::sample {
namespace {

struct BadParam {
  std::string name;
  std::function<void(SamplingParams&)> set;
};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(Params, DefaultsAreValid) { EXPECT_NO_THROW(SamplingParams{}.validate()); }

TEST(Params, RejectsBadValuesByName) {
  const std::vector<BadParam> cases = {
      {"temperature", [](SamplingParams& p) { p.temperature = kNaN; }},
      {"temperature", [](SamplingParams& p) { p.temperature = kInf; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.0f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = -0.5f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 1.01f; }},
      {"top_p", [](SamplingParams& p) { p.top_p = kNaN; }},
      {"min_p", [](SamplingParams& p) { p.min_p = -0.01f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 1.5f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = kNaN; }},
      {"repeat_penalty", [](SamplingParams& p) { p.repeat_penalty = 0.0f; }},
      {"repeat_penalty", [](SamplingParams& p) { p.repeat_penalty = -1.1f; }},
      {"repeat_penalty", [](SamplingParams& p) { p.repeat_penalty = kNaN; }},
      {"repeat_last_n", [](SamplingParams& p) { p.repeat_last_n = -2; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = kInf; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = kNaN; }},
  };
  for (const auto& bad : cases) {
    SamplingParams params;
    bad.set(params);
    try {
      params.validate();
      ADD_FAILURE() << bad.name << ": accepted";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(bad.name), std::string::npos) << error.what();
    }
    EXPECT_THROW(Sampler{params}, Error) << bad.name;
  }
}

TEST(Params, AcceptsMeaningfulEdgeValues) {
  const std::vector<std::function<void(SamplingParams&)>> edits = {
      [](SamplingParams& p) { p.temperature = -1.0f; },  // greedy
      [](SamplingParams& p) { p.temperature = 0.0f; },
      [](SamplingParams& p) { p.top_k = -1; },
      [](SamplingParams& p) { p.top_p = 1.0f; },
      [](SamplingParams& p) { p.min_p = 0.0f; },
      [](SamplingParams& p) { p.min_p = 1.0f; },
      [](SamplingParams& p) { p.repeat_last_n = -1; },
      [](SamplingParams& p) { p.presence_penalty = -2.0f; },
      [](SamplingParams& p) { p.frequency_penalty = 2.0f; },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    SamplingParams params;
    edits[i](params);
    EXPECT_NO_THROW(params.validate()) << "edit " << i;
  }
}

TEST(Params, SamplerKeepsItsParams) {
  SamplingParams params;
  params.top_k = 7;
  params.seed = 31;
  Sampler sampler(params);
  EXPECT_EQ(sampler.params().top_k, 7);
  EXPECT_EQ(sampler.params().seed, 31u);
}

TEST(Inputs, RejectsEmptyLogits) {
  Sampler sampler(SamplingParams{});
  EXPECT_THROW(sampler.sample({}, {}), Error);
}

TEST(Inputs, RejectsNaNLogits) {
  const std::vector<float> logits = {1.0f, kNaN, 0.0f};
  Sampler sampler(SamplingParams{});
  EXPECT_THROW(sampler.sample(logits, {}), Error);
}

// Greedy sampling scans the logits 16 at a time, then the remainder: a NaN anywhere, for
// either path, is reported with its token id.
TEST(Inputs, RejectsNaNLogitsAtAnyPlaceGreedyOrNot) {
  for (size_t place : {0, 5, 16, 31, 40}) {
    std::vector<float> logits(43, 1.0f);
    logits[place] = kNaN;
    for (const SamplingParams& params : {testing::greedy_params(), SamplingParams{}}) {
      Sampler sampler(params);
      try {
        sampler.sample(logits, {});
        ADD_FAILURE() << "no error for a NaN at " << place;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("token " + std::to_string(place) + " is NaN"), std::string::npos)
            << e.what();
      }
    }
  }
}

TEST(Inputs, RejectsLogitsWithNothingFinite) {
  const std::vector<float> logits = {-kInf, -kInf};
  Sampler sampler(testing::plain_params(1.0f));
  EXPECT_THROW(sampler.sample(logits, {}), Error);
}

TEST(Inputs, NegativeInfinityIsNeverDrawn) {
  const std::vector<float> logits = {-kInf, 0.0f, -kInf, 0.0f, -kInf};
  Sampler sampler(testing::plain_params(1.0f));
  const auto counts = testing::draw_counts(sampler, logits, 1000);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
}

TEST(Inputs, TinyTemperatureDoesNotOverflow) {
  const std::vector<float> logits = {100.0f, 99.0f};
  Sampler sampler(testing::plain_params(1e-30f));
  EXPECT_EQ(sampler.sample(logits, {}), 0);
}

}  // namespace
}  // namespace sluice::sample
