// Causal grouped-query attention over a KV cache (Ainslie et al. 2023, GQA), optionally
// limited to a sliding window and with attention sinks (gpt-oss).
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace sluice::ops {

struct AttentionShape {
  int64_t n_head = 0;
  int64_t n_head_kv = 0;    // query head h reads KV head h / (n_head / n_head_kv)
  int64_t head_dim_k = 0;
  int64_t head_dim_v = 0;
  float scale = 1.0f;       // usually 1/sqrt(head_dim_k)
  // Token at position p sees only positions > p - sliding_window (itself and the
  // sliding_window - 1 before it), as transformers' sliding-window mask; 0: all before it.
  int64_t sliding_window = 0;
  // One learned logit per query head that joins the softmax's denominator and attends to
  // nothing (transformers' GptOssAttention `sinks`); nullptr: none.
  const float* sinks = nullptr;
};

// q: [n_tokens, n_head * head_dim_k] for tokens at positions first_pos .. first_pos+n_tokens-1.
// k_cache: [>= first_pos + n_tokens, n_head_kv * head_dim_k], v_cache likewise with head_dim_v,
// already holding the keys and values of these tokens. Token t attends to positions
// 0 .. first_pos + t (or its window). out: [n_tokens, n_head * head_dim_v].
void causal_attention(ThreadPool& pool, const AttentionShape& shape, const float* q,
                      int64_t n_tokens, int64_t first_pos, const float* k_cache,
                      const float* v_cache, float* out);

}  // namespace sluice::ops
