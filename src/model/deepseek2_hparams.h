// Hyper-parameters of DeepSeek-V2/V3 (GGUF arch `deepseek2`), read from `deepseek2.*` metadata
// with llama.cpp's key names and validated before any buffer is sized from them. The model
// sizes its cache from them and estimate_memory counts that cache, so the two cannot disagree.
#pragma once

#include <cstdint>
#include <optional>

#include "gguf/gguf_file.h"
#include "model/hparams.h"
#include "ops/group_routing.h"
#include "ops/rope.h"

namespace sluice::model {

struct Deepseek2HParams {
  // The shared fields: n_embd, n_layer (the trunk, without multi-token-prediction layers),
  // n_head, n_vocab, n_ff (leading dense layers), the routed experts, rms_eps, and RoPE
  // (adjacent pairs over the qk_rope_head_dim rotated dimensions).
  TransformerHParams base;
  int64_t n_layer_dense_lead = 0;  // leading_dense_block_count: dense SwiGLU FFN layers first
  int64_t q_lora_rank = 0;         // 0: queries from a plain attn_q (DeepSeek-V2-Lite)
  int64_t kv_lora_rank = 0;        // latent dimensions of keys and values
  int64_t qk_nope_head_dim = 0;    // per-head query/key dimensions without RoPE
  int64_t qk_rope_head_dim = 0;    // per-head rotated dimensions (= base.rope.n_rot)
  int64_t v_head_dim = 0;
  int64_t n_ff_shexp = 0;          // shared experts' FFN width (expert_shared_count * n_ff_exp)
  ops::GroupRoutingParams routing;
  float attention_scale = 1.0f;    // 1/sqrt(qk_head_dim), times YaRN's mscale^2

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  // Floats cached per position and layer: the latent and the rotated key.
  int64_t cache_width() const { return kv_lora_rank + qk_rope_head_dim; }
  // Floats per token of the attention block's scratch buffers (q_a, q, absorbed q, the
  // compressed kv, attended latents, per-head values, and the per-head gathers).
  int64_t attention_scratch_floats() const;
};

// Throws GgufError for missing keys and ModelError for values that cannot describe a model.
Deepseek2HParams read_deepseek2_hparams(const gguf::GgufFile& file);

}  // namespace sluice::model
