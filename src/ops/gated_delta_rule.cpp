#include "ops/gated_delta_rule.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/gated_delta_heads.h"
#include "util/error.h"

namespace sluice::ops {

int64_t gated_delta_state_floats(const GatedDeltaShape& shape) {
  return shape.n_v_heads * shape.head_k_dim * shape.head_v_dim;
}

void gated_delta_rule(ThreadPool& pool, const GatedDeltaShape& shape, const GatedDeltaInputs& in,
                      float* state, float* out) {
  if (in.n_tokens > 1) {
    gated_delta_rule_chunked(pool, shape, in, state, out);
  } else {
    gated_delta_rule_recurrent(pool, shape, in, state, out);
  }
}

void gated_delta_rule_recurrent(ThreadPool& pool, const GatedDeltaShape& shape,
                                const GatedDeltaInputs& in, float* state, float* out) {
  SLUICE_ASSERT(shape.n_k_heads > 0 && shape.n_v_heads % shape.n_k_heads == 0);
  const int64_t dk = shape.head_k_dim;
  const int64_t dv = shape.head_v_dim;
  const int64_t n_v = shape.n_v_heads;
  const float q_scale = delta::query_scale(shape);

  pool.parallel_for(n_v, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> qn, kn, correction;
    qn.resize(static_cast<size_t>(dk));
    kn.resize(static_cast<size_t>(dk));
    correction.resize(static_cast<size_t>(dv));
    for (int64_t h = begin; h < end; ++h) {
      const int64_t kh = delta::key_head(shape, h);
      float* s = state + h * dk * dv;  // s[i * dv + j] = S[i][j]
      for (int64_t t = 0; t < in.n_tokens; ++t) {
        delta::l2_normalize(in.q + t * in.row_stride + kh * dk, dk, q_scale, qn.data());
        delta::l2_normalize(in.k + t * in.row_stride + kh * dk, dk, 1.0f, kn.data());
        const float* vt = in.v + t * in.row_stride + h * dv;
        const float decay = std::exp(in.g[t * n_v + h]);
        const float b = in.beta[t * n_v + h];

        // S <- exp(g) S, and the correction accumulates S^T k.
        std::fill(correction.begin(), correction.end(), 0.0f);
        for (int64_t i = 0; i < dk; ++i) {
          float* row = s + i * dv;
          const float ki = kn[i];
          for (int64_t j = 0; j < dv; ++j) {
            row[j] *= decay;
            correction[j] += row[j] * ki;
          }
        }
        for (int64_t j = 0; j < dv; ++j) correction[j] = (vt[j] - correction[j]) * b;

        // S <- S + k correction^T, and out = S^T q.
        float* ot = out + t * n_v * dv + h * dv;
        std::fill(ot, ot + dv, 0.0f);
        for (int64_t i = 0; i < dk; ++i) {
          float* row = s + i * dv;
          const float ki = kn[i];
          const float qi = qn[i];
          for (int64_t j = 0; j < dv; ++j) {
            row[j] += ki * correction[j];
            ot[j] += row[j] * qi;
          }
        }
      }
    }
  });
}

}  // namespace sluice::ops
