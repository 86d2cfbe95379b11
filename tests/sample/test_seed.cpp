// Seeding: a fixed seed reproduces its stream of tokens, different seeds give different ones,
// and the draw consumes std::mt19937 as documented.
#include <gtest/gtest.h>

#include <random>

#include "sample_test_support.h"

namespace sluice::sample {
namespace {

using testing::plain_params;

// 100 equally likely tokens: two streams agree on 200 draws with probability 1e-400.
std::vector<int32_t> draw_sequence(const SamplingParams& params) {
  const std::vector<float> logits(100, 0.0f);
  Sampler sampler(params);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 200; ++i) tokens.push_back(sampler.sample(logits, {}));
  return tokens;
}

SamplingParams seeded(uint64_t seed) {
  SamplingParams params;  // the default chain, top-k 40 included
  params.temperature = 1.0f;
  params.seed = seed;
  return params;
}

TEST(Seed, SameSeedSameSequence) {
  for (uint64_t seed : {0ull, 42ull, 0xFFFFFFFEull, 0x123456789ABCull}) {
    EXPECT_EQ(draw_sequence(seeded(seed)), draw_sequence(seeded(seed))) << "seed " << seed;
  }
}

TEST(Seed, DifferentSeedsDiffer) {
  EXPECT_NE(draw_sequence(seeded(1)), draw_sequence(seeded(2)));
  // The high half of a 64-bit seed counts.
  EXPECT_NE(draw_sequence(seeded(5 | (1ull << 40))), draw_sequence(seeded(5 | (2ull << 40))));
}

TEST(Seed, RandomSeedDiffersBetweenSamplers) {
  EXPECT_NE(draw_sequence(seeded(kRandomSeed)), draw_sequence(seeded(kRandomSeed)));
}

// Two equally likely tokens: token 0 exactly when u < 1/2, where
// u = (r1 + r2 * 2^32) / 2^64 from two consecutive std::mt19937 outputs (sampler.cpp).
TEST(Seed, DrawFollowsTheDocumentedStream) {
  for (uint32_t seed : {7u, 2024u}) {
    std::mt19937 reference(seed);
    Sampler sampler(plain_params(1.0f, seed));
    const std::vector<float> logits = {0.0f, 0.0f};
    for (int i = 0; i < 64; ++i) {
      const double r1 = reference();
      const double r2 = reference();
      const double u = (r1 + r2 * 4294967296.0) / 18446744073709551616.0;
      EXPECT_EQ(sampler.sample(logits, {}), u < 0.5 ? 0 : 1) << "seed " << seed << " draw " << i;
    }
  }
}

}  // namespace
}  // namespace sluice::sample
