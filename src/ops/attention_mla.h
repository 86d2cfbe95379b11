// Multi-head latent attention (DeepSeek-V2, Liu et al. 2024, section 2.1) in its absorbed
// form: the cache holds, per position, one compressed latent c (kv_lora_rank values, after
// kv_a_norm) and one rotated key k_rope shared by all heads. With W_uk / W_uv the per-head
// up-projections of c into keys and values,
//   q_h . k_h = (W_uk^T q_nope_h) . c + q_rope_h . k_rope
//   out_h     = W_uv (sum_p softmax_p * c_p)
// so attention runs in latent space as multi-query attention whose values are the keys'
// first kv_lora_rank dimensions, and no per-head key or value is ever stored. The model
// absorbs W_uk into q before and applies W_uv after (llama.cpp's deepseek2 MLA path).
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace sluice::ops {

struct MlaAttentionShape {
  int64_t n_head = 0;
  int64_t kv_lora_rank = 0;  // latent dimensions
  int64_t n_rot = 0;         // rotated key dimensions
  float scale = 1.0f;        // 1/sqrt(qk_nope + n_rot), times YaRN's mscale^2

  int64_t width() const { return kv_lora_rank + n_rot; }
};

// q: [n_tokens, n_head, width]: per head the absorbed query (W_uk^T q_nope) then the rotated
// query part, for tokens at positions first_pos .. first_pos + n_tokens - 1.
// cache: [>= first_pos + n_tokens, width]: latent then rotated key of every position, already
// holding these tokens. Token t attends to positions 0 .. first_pos + t.
// out: [n_tokens, n_head, kv_lora_rank]: the attention-weighted sum of latents per head.
void mla_attention(ThreadPool& pool, const MlaAttentionShape& shape, const float* q,
                   int64_t n_tokens, int64_t first_pos, const float* cache, float* out);

}  // namespace sluice::ops
