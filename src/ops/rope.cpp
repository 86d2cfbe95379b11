#include "ops/rope.h"

#include <cmath>

namespace sluice::ops {

void apply_rope(const RopeParams& params, float* x, int64_t n_heads, int64_t head_dim,
                int64_t pos) {
  const int64_t half = params.n_rot / 2;
  for (int64_t i = 0; i < half; ++i) {
    // theta_i = pos * base^(-2i / n_rot), as in transformers' default rope init.
    const double inv_freq = std::pow(static_cast<double>(params.freq_base),
                                     -2.0 * static_cast<double>(i) / static_cast<double>(params.n_rot));
    const double angle = static_cast<double>(pos) * static_cast<double>(static_cast<float>(inv_freq));
    const float cos_a = static_cast<float>(std::cos(angle));
    const float sin_a = static_cast<float>(std::sin(angle));
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
