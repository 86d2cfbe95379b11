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
      const int64_t pos = first_pos + t;
      const int64_t first_key = shape.sliding_window > 0 ? std::max<int64_t>(0, pos - shape.sliding_window + 1) : 0;
      const int64_t n_keys = pos + 1 - first_key;
      scores.resize(static_cast<size_t>(n_keys));
      const float* qh = q + t * shape.n_head * shape.head_dim_k + h * shape.head_dim_k;
      const float* keys = k_cache + first_key * k_stride + kv_head * shape.head_dim_k;
      float max_score = shape.sinks ? shape.sinks[h] : -INFINITY;
      for (int64_t p = 0; p < n_keys; ++p) {
        scores[p] = quant::dot_f32(qh, keys + p * k_stride, shape.head_dim_k) * shape.scale;
        max_score = std::max(max_score, scores[p]);
      }
      float sum = 0.0f;
      for (int64_t p = 0; p < n_keys; ++p) {
        scores[p] = std::exp(scores[p] - max_score);
        sum += scores[p];
      }
      if (shape.sinks) sum += std::exp(shape.sinks[h] - max_score);
      const float inv_sum = 1.0f / sum;
      float* oh = out + t * shape.n_head * shape.head_dim_v + h * shape.head_dim_v;
      std::fill(oh, oh + shape.head_dim_v, 0.0f);
      const float* values = v_cache + first_key * v_stride + kv_head * shape.head_dim_v;
      for (int64_t p = 0; p < n_keys; ++p) {
        const float weight = scores[p] * inv_sum;
        const float* vh = values + p * v_stride;
        for (int64_t d = 0; d < shape.head_dim_v; ++d) oh[d] += weight * vh[d];
      }
    }
  });
}

}  // namespace sluice::ops
