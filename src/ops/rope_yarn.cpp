#include "ops/rope_yarn.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace sluice::ops {
namespace {

// The dimension whose pair completes `n_rotations` turns over the original context
// (transformers' find_correction_dim).
double correction_dim(double n_rotations, double n_rot, double base, double original_context) {
  return n_rot * std::log(original_context / (n_rotations * 2.0 * std::numbers::pi)) /
         (2.0 * std::log(base));
}

}  // namespace

std::vector<float> rope_inverse_frequencies(const RopeParams& params, const YarnScaling* yarn) {
  const int64_t half = params.n_rot / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  const auto n_rot = static_cast<double>(params.n_rot);
  const auto base = static_cast<double>(params.freq_base);
  for (int64_t i = 0; i < half; ++i) {
    inv_freq[i] = static_cast<float>(std::pow(base, -2.0 * static_cast<double>(i) / n_rot));
  }
  if (!yarn) return inv_freq;

  const auto context = static_cast<double>(yarn->original_context);
  double low = std::floor(correction_dim(yarn->beta_fast, n_rot, base, context));
  double high = std::ceil(correction_dim(yarn->beta_slow, n_rot, base, context));
  low = std::max(low, 0.0);
  high = std::min(high, n_rot - 1.0);
  if (low == high) high += 0.001;
  for (int64_t i = 0; i < half; ++i) {
    // extrapolation share: 1 for fast-rotating pairs (i <= low), 0 for slow ones (i >= high).
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double extrapolation = 1.0 - ramp;
    const double extrapolated = inv_freq[i];
    const double interpolated = extrapolated / yarn->factor;
    inv_freq[i] = static_cast<float>(interpolated * (1.0 - extrapolation) + extrapolated * extrapolation);
  }
  return inv_freq;
}

void apply_rope_table(const RopeParams& params, const float* inv_freq, float magnitude, float* x,
                      int64_t n_heads, int64_t head_dim, int64_t pos) {
  const int64_t half = params.n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * static_cast<double>(inv_freq[i]);
    const float cos_a = static_cast<float>(std::cos(angle)) * magnitude;
    const float sin_a = static_cast<float>(std::sin(angle)) * magnitude;
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
