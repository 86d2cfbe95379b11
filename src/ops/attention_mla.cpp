#include "ops/attention_mla.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/decode.h"

namespace sluice::ops {

void mla_attention(ThreadPool& pool, const MlaAttentionShape& shape, const float* q,
                   int64_t n_tokens, int64_t first_pos, const float* cache, float* out) {
  const int64_t width = shape.width();
  const int64_t rank = shape.kv_lora_rank;
  pool.parallel_for(n_tokens * shape.n_head, [&](int64_t begin, int64_t end, int) {
    thread_local std::vector<float> scores;
    for (int64_t job = begin; job < end; ++job) {
      const int64_t t = job / shape.n_head;
      const int64_t h = job % shape.n_head;
      const int64_t n_keys = first_pos + t + 1;
      scores.resize(static_cast<size_t>(n_keys));
      const float* qh = q + (t * shape.n_head + h) * width;
      float max_score = -INFINITY;
      for (int64_t p = 0; p < n_keys; ++p) {
        scores[p] = quant::dot_f32(qh, cache + p * width, width) * shape.scale;
        max_score = std::max(max_score, scores[p]);
      }
      float sum = 0.0f;
      for (int64_t p = 0; p < n_keys; ++p) {
        scores[p] = std::exp(scores[p] - max_score);
        sum += scores[p];
      }
      const float inv_sum = 1.0f / sum;
      float* oh = out + (t * shape.n_head + h) * rank;
      std::fill(oh, oh + rank, 0.0f);
      for (int64_t p = 0; p < n_keys; ++p) {
        const float weight = scores[p] * inv_sum;
        const float* latent = cache + p * width;
        for (int64_t d = 0; d < rank; ++d) oh[d] += weight * latent[d];
      }
    }
  });
}

}  // namespace sluice::ops
