#include "ops/norm.h"

#include <cmath>

#include "quant/decode.h"

namespace sluice::ops {

void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  const float mean_square = quant::dot_f32(x, x, n) / static_cast<float>(n);
  const float scale = 1.0f / std::sqrt(mean_square + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void rms_norm_rows(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps,
                   float* out) {
  for (int64_t r = 0; r < n_rows; ++r) rms_norm(x + r * n, weight, n, eps, out + r * n);
}

}  // namespace sluice::ops
