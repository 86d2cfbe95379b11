// Blocks shared by the decoder-only architectures: attention with its KV cache, the dense
// SwiGLU FFN and the routed MoE FFN. Each works on a batch of n_tokens rows at once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "model/hparams.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "ops/clamped_swiglu.h"
#include "ops/thread_pool.h"
#include "quant/matrix_view.h"
#include "store/expert_provider.h"
#include "store/tensor_store.h"

namespace sluice::model {

struct AttentionWeights {
  quant::MatrixView q, k, v, output;
  std::span<const float> q_norm, k_norm;  // per-head RMSNorm of q and k (Qwen3); empty if none
};

struct DenseFfnWeights {
  quant::MatrixView gate, up, down;
};

// The embeddings of `tokens`, [n_tokens, n_embd], after checking that they fit the cache's
// context and the vocabulary (ModelError otherwise).
std::vector<float> embed_tokens(const TransformerHParams& hp, const quant::MatrixView& token_embd,
                                std::span<const int32_t> tokens, const KvCache& cache);

// The final RMSNorm and LM head of the rows of x ([n_tokens, n_embd]) that `mode` asks for
// (none, the last, or all) into `logits`; `scratch` holds n_tokens * n_embd floats.
void output_logits(ops::ThreadPool& pool, const TransformerHParams& hp,
                   std::span<const float> output_norm, const quant::MatrixView& output,
                   const float* x, int64_t n_tokens, LogitsMode mode, float* scratch,
                   float* logits);

// The residual connection: x += branch, elementwise.
void add_residual(std::vector<float>& x, const std::vector<float>& branch);

// Loads blk.<layer>.attn_{q,k,v,output}.weight (and attn_{q,k}_norm when `qk_norm`).
AttentionWeights load_attention(store::TensorStore& store, const TransformerHParams& hp,
                                int64_t layer, bool qk_norm);
DenseFfnWeights load_dense_ffn(store::TensorStore& store, const TransformerHParams& hp,
                               int64_t layer);

// Self-attention of n_tokens rows `x` (already normed) at positions cache.n_past() onward;
// stores their keys and values in the cache (the caller advances it) and writes the
// projected output, [n_tokens, n_embd], to `out`.
void attention_block(ops::ThreadPool& pool, const TransformerHParams& hp,
                     const AttentionWeights& w, const float* x, int64_t n_tokens,
                     KvCache& cache, int64_t layer, float* out);

// SwiGLU FFN: out = down(silu(gate x) * up x).
void dense_ffn_block(ops::ThreadPool& pool, const DenseFfnWeights& w, const float* x,
                     int64_t n_tokens, float* out);

// Chooses the experts of one token of MoE layer `layer` from its router logits (n_expert
// values): writes n_expert_used expert ids and their weights.
using ExpertSelector = std::function<void(int32_t layer, const float* router_logits,
                                          int32_t* expert_ids, float* expert_weights)>;

// How an architecture's MoE layer differs from Qwen3-MoE's (the defaults): how experts are
// chosen, a router bias, per-expert biases and the expert activation.
struct MoeOptions {
  bool top_k_then_softmax = false;     // softmax over the k chosen logits only (gpt-oss)
  ExpertSelector select;               // chooses experts itself (DeepSeek's grouped routing)
  std::span<const float> router_bias;  // [n_expert], added to the router logits; empty: none
  // Per-expert biases added after each projection: gate and up [n_expert * n_ff_exp], down
  // [n_expert * n_embd]; empty: none. Small, so they stay resident while experts stream.
  std::span<const float> gate_bias, up_bias, down_bias;
  std::optional<ops::ClampedSwigluParams> clamped_swiglu;  // gpt-oss; unset: SwiGLU
};

// Routed MoE FFN: softmax routing over `router`, top-k, each chosen expert run as a SwiGLU
// FFN over all the tokens that chose it, outputs summed with the routing weights; `options`
// (and `next_options` for the next layer's router) change that as MoeOptions says.
// All chosen experts are handed to the provider at once (so their reads are queued
// together) and the ones already in memory run first, while the others are read. When
// `next_router` is given (the router of the next MoE layer), it is applied to this layer's
// input to predict the next layer's experts, which the provider may read ahead. `select`
// replaces the softmax top-k routing (DeepSeek's grouped, biased routing) for both layers.
void moe_block(ops::ThreadPool& pool, const TransformerHParams& hp,
               const quant::MatrixView& router, store::ExpertProvider& experts, int32_t layer,
               const float* x, int64_t n_tokens, int64_t first_pos,
               const RoutingObserver& observer, float* out,
               const quant::MatrixView* next_router = nullptr, int32_t next_layer = -1,
               const MoeOptions& options = {}, const MoeOptions* next_options = nullptr);

}  // namespace sluice::model
