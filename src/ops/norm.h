// Normalisation layers.
#pragma once

#include <cstdint>

namespace sluice::ops {

// RMSNorm (Zhang & Sennrich 2019), as transformers' LlamaRMSNorm computes it in f32:
// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]. `out` may alias `x`.
void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out);

// The same over `n_rows` consecutive rows of length n (per-head q/k norms, batches).
void rms_norm_rows(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps,
                   float* out);

}  // namespace sluice::ops
