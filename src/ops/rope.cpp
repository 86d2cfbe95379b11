#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace sluice::ops {
namespace {

// base^(-2i / n_rot): the unscaled inverse frequency of pair i (transformers' default rope).
double plain_inv_freq(const RopeParams& params, int64_t i) {
  return std::pow(static_cast<double>(params.freq_base),
                  -2.0 * static_cast<double>(i) / static_cast<double>(params.n_rot));
}

// The pair index whose wavelength fits `n_rotations` times into the original context
// (transformers' find_correction_dim; the YaRN paper's inverse dimension formula).
double correction_dim(const RopeParams& params, double n_rotations) {
  const auto dim = static_cast<double>(params.n_rot);
  const auto context = static_cast<double>(params.yarn.original_context);
  return dim * std::log(context / (n_rotations * 2.0 * std::numbers::pi)) /
         (2.0 * std::log(static_cast<double>(params.freq_base)));
}

}  // namespace

YarnCorrectionRange yarn_correction_range(const RopeParams& params) {
  double low = correction_dim(params, params.yarn.beta_fast);
  double high = correction_dim(params, params.yarn.beta_slow);
  if (params.yarn.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  return {std::max(low, 0.0), std::min(high, static_cast<double>(params.n_rot - 1))};
}

float rope_inv_freq(const RopeParams& params, int64_t i) {
  const double extrapolated = plain_inv_freq(params, i);
  if (!params.yarn.enabled) return static_cast<float>(extrapolated);
  const YarnCorrectionRange range = yarn_correction_range(params);
  const double width = range.high == range.low ? 0.001 : range.high - range.low;  // as transformers
  const double ramp = std::clamp((static_cast<double>(i) - range.low) / width, 0.0, 1.0);
  const double interpolated = extrapolated / params.yarn.factor;
  // ramp 0: keep the frequency (extrapolation); ramp 1: divide it by the factor.
  return static_cast<float>(interpolated * ramp + extrapolated * (1.0 - ramp));
}

float rope_attention_factor(const RopeParams& params) {
  if (!params.yarn.enabled) return 1.0f;
  if (params.yarn.attention_factor > 0.0) return static_cast<float>(params.yarn.attention_factor);
  if (params.yarn.factor <= 1.0) return 1.0f;
  return static_cast<float>(0.1 * std::log(params.yarn.factor) + 1.0);
}

void apply_rope(const RopeParams& params, float* x, int64_t n_heads, int64_t head_dim,
                int64_t pos) {
  const int64_t half = params.n_rot / 2;
  const float attention_factor = rope_attention_factor(params);
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * static_cast<double>(rope_inv_freq(params, i));
    float cos_a = static_cast<float>(std::cos(angle));
    float sin_a = static_cast<float>(std::sin(angle));
    if (params.yarn.enabled) {
      cos_a *= attention_factor;
      sin_a *= attention_factor;
    }
    const int64_t first = params.style == RopeStyle::kNeox ? i : 2 * i;
    const int64_t second = params.style == RopeStyle::kNeox ? i + half : 2 * i + 1;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* head = x + h * head_dim;
      const float a = head[first];
      const float b = head[second];
      head[first] = a * cos_a - b * sin_a;
      head[second] = b * cos_a + a * sin_a;
    }
  }
}

}  // namespace sluice::ops
