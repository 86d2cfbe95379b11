#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/decode.h"

namespace sluice::ops {

void causal_attention(ThreadPool& pool, const AttentionShape& shape, const float* q,
                      int64_t n_tokens, int64_t first_pos, const float* k_cache,
                      const float* v_cache, float* out) {
  const int64_t group = shape.n_head / shape.n_head_kv;
  const int64_t k_stride = shape.n_head_kv * shape.head_dim_k;
  const int64_t v_stride = shape.n_head_kv * shape.head_dim_v;
  pool.parallel_for(n_tokens * shape.n_head, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> scores;
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / shape.n_head;
      const int64_t h = job % shape.n_head;
      const int64_t kv_head = h / group;
      const int64_t n_keys = first_pos + t + 1;
      scores.resize(static_cast<size_t>(n_keys));
      const float* qh = q + t * shape.n_head * shape.head_dim_k + h * shape.head_dim_k;
      float max_score = -INFINITY;
      for (int64_t p = 0; p < n_keys; ++p) {
        const float* kh = k_cache + p * k_stride + kv_head * shape.head_dim_k;
        scores[p] = quant::dot_f32(qh, kh, shape.head_dim_k) * shape.scale;
        max_score = std::max(max_score, scores[p]);
      }
      float sum = 0.0f;
      for (int64_t p = 0; p < n_keys; ++p) {
        scores[p] = std::exp(scores[p] - max_score);
        sum += scores[p];
      }
      const float inv_sum = 1.0f / sum;
      float* oh = out + t * shape.n_head * shape.head_dim_v + h * shape.head_dim_v;
      std::fill(oh, oh + shape.head_dim_v, 0.0f);
      for (int64_t p = 0; p < n_keys; ++p) {
        const float weight = scores[p] * inv_sum;
        const float* vh = v_cache + p * v_stride + kv_head * shape.head_dim_v;
        for (int64_t d = 0; d < shape.head_dim_v; ++d) oh[d] += weight * vh[d];
      }
    }
  });
}

}  // namespace sluice::ops
