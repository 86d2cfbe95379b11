#include "ops/gated_delta_rule.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/decode.h"
#include "util/error.h"

namespace sluice::ops {
namespace {

// transformers' l2norm (aligned with the FLA library): x * rsqrt(sum(x^2) + 1e-6).
constexpr float kL2NormEps = 1e-6f;

void l2_normalize(const float* x, int64_t n, float* out) {
  const float inv_norm = 1.0f / std::sqrt(quant::dot_f32(x, x, n) + kL2NormEps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv_norm;
}

}  // namespace

int64_t gated_delta_state_floats(const GatedDeltaShape& shape) {
  return shape.n_v_heads * shape.head_k_dim * shape.head_v_dim;
}

void gated_delta_rule(ThreadPool& pool, const GatedDeltaShape& shape, const float* q,
                      const float* k, const float* v, int64_t row_stride, const float* g,
                      const float* beta, int64_t n_tokens, float* state, float* out) {
  SLUICE_ASSERT(shape.n_k_heads > 0 && shape.n_v_heads % shape.n_k_heads == 0);
  const int64_t dk = shape.head_k_dim;
  const int64_t dv = shape.head_v_dim;
  const int64_t n_v = shape.n_v_heads;
  const int64_t ratio = n_v / shape.n_k_heads;
  const float q_scale = 1.0f / std::sqrt(static_cast<float>(dk));

  pool.parallel_for(n_v, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> qn, kn, delta;
    qn.resize(static_cast<size_t>(dk));
    kn.resize(static_cast<size_t>(dk));
    delta.resize(static_cast<size_t>(dv));
    for (int64_t h = begin; h < end; ++h) {
      const int64_t kh = shape.sharing == DeltaHeadSharing::kTiled ? h % shape.n_k_heads
                                                                   : h / ratio;
      float* s = state + h * dk * dv;  // s[i * dv + j] = S[i][j]
      for (int64_t t = 0; t < n_tokens; ++t) {
        l2_normalize(q + t * row_stride + kh * dk, dk, qn.data());
        l2_normalize(k + t * row_stride + kh * dk, dk, kn.data());
        for (int64_t i = 0; i < dk; ++i) qn[i] *= q_scale;
        const float* vt = v + t * row_stride + h * dv;
        const float decay = std::exp(g[t * n_v + h]);
        const float b = beta[t * n_v + h];

        // S <- exp(g) S, and delta accumulates S^T k.
        std::fill(delta.begin(), delta.end(), 0.0f);
        for (int64_t i = 0; i < dk; ++i) {
          float* row = s + i * dv;
          const float ki = kn[i];
          for (int64_t j = 0; j < dv; ++j) {
            row[j] *= decay;
            delta[j] += row[j] * ki;
          }
        }
        for (int64_t j = 0; j < dv; ++j) delta[j] = (vt[j] - delta[j]) * b;

        // S <- S + k delta^T, and out = S^T q.
        float* ot = out + t * n_v * dv + h * dv;
        std::fill(ot, ot + dv, 0.0f);
        for (int64_t i = 0; i < dk; ++i) {
          float* row = s + i * dv;
          const float ki = kn[i];
          const float qi = qn[i];
          for (int64_t j = 0; j < dv; ++j) {
            row[j] += ki * delta[j];
            ot[j] += row[j] * qi;
          }
        }
      }
    }
  });
}

}  // namespace sluice::ops
