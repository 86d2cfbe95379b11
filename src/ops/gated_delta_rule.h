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
// Two forms compute it. Decoding runs the recurrence token by token. Prompts run the chunked
// form (the WY / UT transform of the paper's section 3.3): within a chunk of tokens the
// corrections solve one small triangular system and the outputs become a few dense products
// of chunk-sized matrices, and only the state update between chunks is sequential. Both give
// the same results within float rounding (~1e-6 relative).
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

// The inputs of one call. q, k: n_tokens rows of n_k_heads * head_k_dim, v: rows of
// n_v_heads * head_v_dim, row t of each starting at t * row_stride (they may be slices of one
// [n_tokens, conv_dim] buffer). g (log decay) and beta: [n_tokens, n_v_heads].
struct GatedDeltaInputs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t row_stride = 0;
  const float* g = nullptr;
  const float* beta = nullptr;
  int64_t n_tokens = 0;
};

// Runs the rule over all tokens of `in`: the recurrence for a single token, the chunked form
// for more. state: [n_v_heads, head_k_dim, head_v_dim], updated in place. out:
// [n_tokens, n_v_heads * head_v_dim].
void gated_delta_rule(ThreadPool& pool, const GatedDeltaShape& shape, const GatedDeltaInputs& in,
                      float* state, float* out);

// The two forms, for tests and benchmarks.
void gated_delta_rule_recurrent(ThreadPool& pool, const GatedDeltaShape& shape,
                                const GatedDeltaInputs& in, float* state, float* out);
void gated_delta_rule_chunked(ThreadPool& pool, const GatedDeltaShape& shape,
                              const GatedDeltaInputs& in, float* state, float* out);

}  // namespace sluice::ops
