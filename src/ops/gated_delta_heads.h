// What both forms of the gated delta rule do per head before the rule proper: find the key
// head a value head reads, and L2-normalise q and k.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/gated_delta_rule.h"
#include "quant/decode.h"

namespace sluice::ops::delta {

// transformers' l2norm (aligned with the FLA library): x * rsqrt(sum(x^2) + 1e-6).
constexpr float kL2NormEps = 1e-6f;

inline void l2_normalize(const float* x, int64_t n, float scale, float* out) {
  const float inv_norm = 1.0f / std::sqrt(quant::dot_f32(x, x, n) + kL2NormEps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv_norm * scale;
}

inline int64_t key_head(const GatedDeltaShape& shape, int64_t v_head) {
  return shape.sharing == DeltaHeadSharing::kTiled
             ? v_head % shape.n_k_heads
             : v_head / (shape.n_v_heads / shape.n_k_heads);
}

inline float query_scale(const GatedDeltaShape& shape) {
  return 1.0f / std::sqrt(static_cast<float>(shape.head_k_dim));
}

}  // namespace sluice::ops::delta
