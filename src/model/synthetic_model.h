// Random-weight GGUFs with the real shapes of large MoE models (`sluice synth`), so that
// streaming and kernels can be measured on 20-200 GB models without downloading them.
// The files carry complete metadata and a byte-level BPE vocabulary, so every command
// (and llama.cpp) runs them. Families: Qwen3-MoE (`qwen3moe`), the Qwen3.5 hybrids
// (`qwen35moe`: Gated DeltaNet + gated attention + MoE with a shared expert), gpt-oss
// (`gpt-oss`: biased attention with sinks, sliding window and YaRN; MXFP4 experts) and
// DeepSeek-V3 (`deepseek2`: multi-head latent attention, leading dense layers, grouped routing).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "quant/ggml_type.h"

namespace sluice::model {

// The linear-attention half of a Qwen3.5 hybrid (transformers' Qwen3_5MoeTextConfig names).
struct HybridShape {
  int64_t n_ff_shexp = 0;               // shared_expert_intermediate_size
  int64_t full_attention_interval = 0;  // layer l is full attention when (l + 1) % this == 0
  int64_t n_rot = 0;                    // head_dim * partial_rotary_factor
  std::array<int32_t, 4> rope_sections{};  // mrope_section, padded with 0
  int64_t ssm_d_conv = 0;               // linear_conv_kernel_dim
  int64_t ssm_n_k_heads = 0;            // linear_num_key_heads
  int64_t ssm_n_v_heads = 0;            // linear_num_value_heads
  int64_t ssm_head_k_dim = 0;           // linear_key_head_dim
  int64_t ssm_head_v_dim = 0;           // linear_value_head_dim
};

// gpt-oss's attention and RoPE (transformers' GptOssConfig names).
struct GptOssShape {
  int64_t sliding_window = 0;         // sliding_window, on every other layer
  float yarn_factor = 0.0f;           // rope_scaling.factor
  int64_t yarn_original_context = 0;  // rope_scaling.original_max_position_embeddings
};

// DeepSeek-V3's multi-head latent attention, leading dense layers and grouped routing
// (transformers' DeepseekV3Config names).
struct MlaShape {
  int64_t n_layer_dense_lead = 0;  // first_k_dense_replace
  int64_t n_ff_dense = 0;          // intermediate_size of those layers
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t n_expert_shared = 0;     // n_shared_experts
  int64_t n_group = 0;
  int64_t topk_group = 0;
  float routed_scaling_factor = 1.0f;
  float yarn_factor = 0.0f;               // rope_scaling.factor; 0: no YaRN
  int64_t yarn_original_context = 0;      // rope_scaling.original_max_position_embeddings
  float yarn_mscale_all_dim = 0.0f;
};

struct SyntheticSpec {
  std::string preset;
  std::string arch;  // GGUF architecture written: qwen3moe, qwen35moe, gpt-oss or deepseek2
  int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;
  int64_t n_vocab = 0, n_ctx_train = 0;
  float rope_freq_base = 1e6f;
  HybridShape hybrid;  // qwen35moe only
  GptOssShape gpt_oss;  // gpt-oss only
  MlaShape mla;         // deepseek2 only
  // The weight types of the release, used when SyntheticOptions::type is unset: routed
  // experts, and every other matrix (norms, routers and biases are always F32).
  quant::GgmlType release_expert_type = quant::GgmlType::Q4_K;
  quant::GgmlType release_type = quant::GgmlType::Q4_K;
};

std::vector<std::string> synthetic_preset_names();
// Throws sluice::Error for unknown presets and for presets of architectures sluice cannot
// run yet (naming the architecture).
SyntheticSpec synthetic_preset(const std::string& name);

struct SyntheticOptions {
  // Routed experts and dense matrices; unset: the preset's release types.
  std::optional<quant::GgmlType> type;
  int64_t n_layer = 0;                           // 0: the preset's (layer types keep their pattern)
  int64_t n_expert = 0;                          // 0: the preset's
  int64_t n_vocab = 0;                           // 0: the preset's
  uint64_t seed = 1;
};

// Writes the model; `progress(done_bytes, total_bytes)` is called as tensor data is written.
// Returns the bytes of tensor data. Throws sluice::Error when `type` cannot hold the
// preset's rows (naming the tensor) or when the options leave no model.
uint64_t write_synthetic_model(const SyntheticSpec& spec, const SyntheticOptions& options,
                               const std::string& path,
                               const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace sluice::model
