// The gated delta rule (Yang, Kautz & Hatamizadeh 2024, "Gated Delta Networks", eq. 10): the
// recurrence of Gated DeltaNet linear attention, used by Qwen3-Next and Qwen3.5.
//
// Per value head, with a state S of [head_k_dim, head_v_dim], for each token:
//   q, k  <- L2-normalised (x / sqrt(sum x^2 + 1e-6)); q additionally scaled by 1/sqrt(head_k_dim)
//   S     <- exp(g) * S                         (gated decay, g <= 0)
//   delta  = beta * (v - S^T k)                 (the delta rule's correction)
//   S     <- S + k delta^T
//   out    = S^T q
// as transformers' torch_recurrent_gated_delta_rule computes it with use_qk_l2norm_in_kernel.
//
// Prompts run the same recurrence over all their tokens in one call (heads in parallel): on a
// CPU the recurrence costs ~4 * head_k_dim * head_v_dim flops per token and head, a few percent
// of the layer's projections, so a chunked (WY/UT-transform) form would not pay, and using one
// form makes prompt processing and token-by-token decoding agree bit for bit.
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace sluice::ops {

// How value heads share query/key heads when there are more value heads than key heads.
enum class DeltaHeadSharing {
  kGrouped,  // value head h reads key head h / (n_v_heads / n_k_heads): transformers'
             // repeat_interleave, and llama.cpp's layout for qwen3next
  kTiled,    // value head h reads key head h % n_k_heads: llama.cpp's converter reorders
             // Qwen3.5's value heads to this order
};

struct GatedDeltaShape {
  int64_t n_k_heads = 0;
  int64_t n_v_heads = 0;  // a multiple of n_k_heads
  int64_t head_k_dim = 0;
  int64_t head_v_dim = 0;
  DeltaHeadSharing sharing = DeltaHeadSharing::kGrouped;
};

// Floats of recurrent state for one layer: n_v_heads * head_k_dim * head_v_dim.
int64_t gated_delta_state_floats(const GatedDeltaShape& shape);

// q, k: n_tokens rows of n_k_heads * head_k_dim, v: rows of n_v_heads * head_v_dim, row t of
// each starting at t * row_stride (they may be slices of one [n_tokens, conv_dim] buffer).
// g (log decay) and beta: [n_tokens, n_v_heads]. state: [n_v_heads, head_k_dim, head_v_dim],
// updated in place. out: [n_tokens, n_v_heads * head_v_dim].
void gated_delta_rule(ThreadPool& pool, const GatedDeltaShape& shape, const float* q,
                      const float* k, const float* v, int64_t row_stride, const float* g,
                      const float* beta, int64_t n_tokens, float* state, float* out);

}  // namespace sluice::ops
