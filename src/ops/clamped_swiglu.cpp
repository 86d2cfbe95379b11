#include "ops/clamped_swiglu.h"

#include <algorithm>
#include <cmath>

namespace sluice::ops {

void clamped_swiglu(const ClampedSwigluParams& params, float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = std::min(gate[i], params.limit);
    const float u = std::clamp(up[i], -params.limit, params.limit);
    const float glu = g / (1.0f + std::exp(-params.alpha * g));
    gate[i] = (u + 1.0f) * glu;
  }
}

}  // namespace sluice::ops
