// YaRN RoPE against the formulas of the YaRN paper as transformers' _compute_yarn_parameters
// writes them, evaluated here independently in long double, with and without rounding of the
// correction range; and plain RoPE unchanged when YaRN is off.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "ops/rope.h"

namespace sluice::ops {
namespace {

using Real = long double;

struct YarnCase {
  int64_t n_rot;
  double base, factor;
  int64_t original_context;
  double beta_fast, beta_slow;
  bool truncate;
};

// inv_freq_i = base^(-2i/d) * ((1 - r_i) + r_i / factor), r_i the ramp over [low, high] of
// the dimension that rotates beta times in the original context:
// dim(beta) = d * ln(L / (2 pi beta)) / (2 ln base).
Real reference_inv_freq(const YarnCase& c, int64_t i) {
  const Real d = c.n_rot;
  const auto correction_dim = [&](Real beta) {
    return d * std::log(Real(c.original_context) / (2 * std::numbers::pi_v<Real> * beta)) /
           (2 * std::log(Real(c.base)));
  };
  Real low = correction_dim(c.beta_fast), high = correction_dim(c.beta_slow);
  if (c.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max<Real>(low, 0);
  high = std::min<Real>(high, d - 1);
  if (low == high) high += Real(0.001);
  const Real ramp = std::clamp((Real(i) - low) / (high - low), Real(0), Real(1));
  const Real plain = std::pow(Real(c.base), -2 * Real(i) / d);
  return plain * (1 - ramp) + plain / Real(c.factor) * ramp;
}

RopeParams params_of(const YarnCase& c) {
  RopeParams p;
  p.style = RopeStyle::kNeox;
  p.n_rot = c.n_rot;
  p.freq_base = static_cast<float>(c.base);
  p.yarn.enabled = true;
  p.yarn.factor = c.factor;
  p.yarn.original_context = c.original_context;
  p.yarn.beta_fast = c.beta_fast;
  p.yarn.beta_slow = c.beta_slow;
  p.yarn.truncate = c.truncate;
  return p;
}

const YarnCase kCases[] = {
    {16, 150000, 32, 4096, 32, 1, false},   // the gpt_oss fixture
    {16, 150000, 32, 4096, 32, 1, true},    // the same, rounded as llama.cpp does
    {64, 150000, 32, 4096, 32, 1, false},   // gpt-oss-120b
    {64, 10000, 40, 4096, 32, 1, true},     // DeepSeek-V3's rope dimension and factor
    {6, 10000, 4, 2048, 32, 1, false},      // short: the ramp clamps at both ends
};

TEST(RopeYarn, InverseFrequenciesMatchTheFormula) {
  for (const YarnCase& c : kCases) {
    const RopeParams p = params_of(c);
    for (int64_t i = 0; i < c.n_rot / 2; ++i) {
      const Real expected = reference_inv_freq(c, i);
      EXPECT_NEAR(rope_inv_freq(p, i), static_cast<double>(expected), 1e-7 * static_cast<double>(expected))
          << "n_rot " << c.n_rot << ", truncate " << c.truncate << ", pair " << i;
    }
  }
}

TEST(RopeYarn, RoundingTheCorrectionRangeChangesFrequencies) {
  const RopeParams exact = params_of(kCases[0]);
  const RopeParams rounded = params_of(kCases[1]);
  const YarnCorrectionRange a = yarn_correction_range(exact), b = yarn_correction_range(rounded);
  EXPECT_NE(a.low, std::floor(a.low));
  EXPECT_EQ(b.low, std::floor(a.low));
  EXPECT_EQ(b.high, std::min(std::ceil(a.high), 15.0));
  bool differs = false;
  for (int64_t i = 0; i < 8; ++i) differs |= rope_inv_freq(exact, i) != rope_inv_freq(rounded, i);
  EXPECT_TRUE(differs);
}

TEST(RopeYarn, AttentionFactorIsTenthOfLogFactorPlusOne) {
  RopeParams p = params_of(kCases[0]);
  EXPECT_NEAR(rope_attention_factor(p), 0.1 * std::log(32.0) + 1.0, 1e-7);
  p.yarn.attention_factor = 1.25;  // given explicitly (e.g. from mscale / mscale_all_dim)
  EXPECT_FLOAT_EQ(rope_attention_factor(p), 1.25f);
  p.yarn.attention_factor = 0.0;
  p.yarn.factor = 0.5;  // no extension: no temperature
  EXPECT_EQ(rope_attention_factor(p), 1.0f);
  p.yarn.enabled = false;
  EXPECT_EQ(rope_attention_factor(p), 1.0f);
}

// Whole rotation in NEOX pairing: x_i' = m (x_i cos - x_{i+d/2} sin), x_{i+d/2}' =
// m (x_{i+d/2} cos + x_i sin), angle = pos * inv_freq_i, m the attention factor; the
// dimensions past n_rot untouched.
TEST(RopeYarn, RotatesHeadsByScaledFrequenciesAndAttentionFactor) {
  const YarnCase c{16, 150000, 32, 4096, 32, 1, false};
  const RopeParams p = params_of(c);
  const int64_t n_heads = 3, head_dim = 20;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_heads * head_dim));
  for (float& v : x) v = dist(rng);
  const Real m = Real(0.1) * std::log(Real(c.factor)) + 1;
  for (int64_t pos : {0, 1, 17, 56, 1000}) {
    std::vector<float> y = x;
    apply_rope(p, y.data(), n_heads, head_dim, pos);
    for (int64_t h = 0; h < n_heads; ++h) {
      const float* in = x.data() + h * head_dim;
      const float* out = y.data() + h * head_dim;
      for (int64_t i = 0; i < c.n_rot / 2; ++i) {
        const Real angle = Real(pos) * reference_inv_freq(c, i);
        const Real a = in[i], b = in[i + c.n_rot / 2];
        const Real first = m * (a * std::cos(angle) - b * std::sin(angle));
        const Real second = m * (b * std::cos(angle) + a * std::sin(angle));
        // float inverse frequencies: the angle error grows with the position.
        const double tol = 2e-6 + 2e-7 * static_cast<double>(pos);
        EXPECT_NEAR(out[i], static_cast<double>(first), tol) << "pos " << pos << ", pair " << i;
        EXPECT_NEAR(out[i + c.n_rot / 2], static_cast<double>(second), tol) << "pos " << pos << ", pair " << i;
      }
      for (int64_t d = c.n_rot; d < head_dim; ++d) EXPECT_EQ(out[d], in[d]);
    }
  }
}

TEST(RopeYarn, DisabledYarnIsPlainRope) {
  RopeParams plain;
  plain.n_rot = 16;
  plain.freq_base = 150000.0f;
  RopeParams off = params_of(kCases[0]);
  off.yarn.enabled = false;
  std::vector<float> a(32, 0.5f), b(32, 0.5f);
  for (int i = 0; i < 32; ++i) a[i] = b[i] = 0.1f * static_cast<float>(i) - 1.0f;
  apply_rope(plain, a.data(), 2, 16, 23);
  apply_rope(off, b.data(), 2, 16, 23);
  EXPECT_EQ(a, b);
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_FLOAT_EQ(rope_inv_freq(plain, i), static_cast<float>(std::pow(150000.0, -2.0 * i / 16)));
  }
}

}  // namespace
}  // namespace sluice::ops
