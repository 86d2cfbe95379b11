#include "model/memory_estimate.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "model/deepseek2_hparams.h"
#include "model/model.h"

namespace sluice::model {
namespace {

// The recurrent half of a hybrid model, from `<arch>.ssm.*` (llama.cpp's names for
// transformers' linear_* config entries).
struct LinearAttentionShape {
  uint64_t d_conv = 0;     // ssm.conv_kernel
  uint64_t d_state = 0;    // ssm.state_size: head_k_dim
  uint64_t n_k_heads = 0;  // ssm.group_count
  uint64_t n_v_heads = 0;  // ssm.time_step_rank
  uint64_t d_inner = 0;    // ssm.inner_size: n_v_heads * head_v_dim

  uint64_t conv_dim() const { return 2 * n_k_heads * d_state + d_inner; }
  // What KvCache holds per recurrent layer: the last d_conv - 1 inputs of every conv
  // channel, and n_v_heads states of head_k_dim x head_v_dim.
  uint64_t state_floats() const { return (d_conv - 1) * conv_dim() + d_state * d_inner; }
  // Per token, what a Gated DeltaNet block holds at once: the qkv projection and its
  // convolved copy, z and the core output, beta and decay (and qwen3next's fused beta|alpha).
  uint64_t scratch_floats() const { return 2 * conv_dim() + 2 * d_inner + 4 * n_v_heads; }
};

std::optional<LinearAttentionShape> linear_attention_shape(const gguf::GgufFile& file,
                                                           const std::string& arch) {
  const auto get = [&](std::string_view key) { return file.find_uint(fmt::format("{}.ssm.{}", arch, key)); };
  const auto d_conv = get("conv_kernel"), d_state = get("state_size"), n_k = get("group_count"),
             n_v = get("time_step_rank"), d_inner = get("inner_size");
  if (!d_conv || !d_state || !n_k || !n_v || !d_inner || *d_conv == 0) return std::nullopt;
  return LinearAttentionShape{*d_conv, *d_state, *n_k, *n_v, *d_inner};
}

}  // namespace

std::vector<bool> read_recurrent_layers(const gguf::GgufFile& file, const std::string& arch,
                                        int64_t n_layer) {
  std::vector<bool> recurrent(static_cast<size_t>(n_layer), false);
  if (const gguf::Value* layers = file.find(arch + ".attention.recurrent_layers")) {
    const auto& items = layers->as_array().items;
    if (items.size() < recurrent.size()) {
      throw ModelError(fmt::format("{}: {}.attention.recurrent_layers has {} entries for {} "
                                   "layers", file.path(), arch, items.size(), n_layer));
    }
    for (size_t l = 0; l < recurrent.size(); ++l) {
      recurrent[l] = items[l].type == gguf::ValueType::BOOL ? items[l].as_bool()
                                                            : items[l].as_int() != 0;
    }
    return recurrent;
  }
  const std::string key = arch + ".full_attention_interval";
  const uint64_t interval = file.find_uint(key).value_or(4);
  if (interval == 0) throw ModelError(fmt::format("{}: metadata '{}' is 0", file.path(), key));
  for (int64_t l = 0; l < n_layer; ++l) {
    recurrent[static_cast<size_t>(l)] = static_cast<uint64_t>(l + 1) % interval != 0;
  }
  return recurrent;
}

MemoryEstimate estimate_memory(const gguf::GgufFile& file, int64_t n_ctx, int64_t n_batch,
                               int64_t n_logit_rows) {
  const std::string arch = file.get_string("general.architecture");
  auto count = [&](std::string_view key, uint64_t fallback) {
    return file.find_uint(fmt::format("{}.{}", arch, key)).value_or(fallback);
  };
  const uint64_t n_embd = count("embedding_length", 0);
  const uint64_t n_layer = count("block_count", 0);
  const uint64_t n_head = std::max<uint64_t>(1, count("attention.head_count", 1));
  const uint64_t n_head_kv = count("attention.head_count_kv", n_head);
  const uint64_t head_dim_k = count("attention.key_length", n_embd / n_head);
  const uint64_t head_dim_v = count("attention.value_length", n_embd / n_head);
  const uint64_t n_ff = std::max(count("feed_forward_length", 0), count("expert_feed_forward_length", 0));
  const uint64_t n_ff_shexp = count("expert_shared_feed_forward_length", 0);
  const uint64_t n_expert = count("expert_count", 0);
  const uint64_t n_expert_used = std::max<uint64_t>(1, count("expert_used_count", 1));
  const auto* tokens = file.find("tokenizer.ggml.tokens");
  const uint64_t n_vocab = count("vocab_size", tokens ? tokens->as_array().items.size() : 0);

  MemoryEstimate estimate;
  const uint64_t kv_floats_per_position = n_head_kv * (head_dim_k + head_dim_v);
  const std::optional<LinearAttentionShape> linear = linear_attention_shape(file, arch);
  // Multi-head latent attention caches one latent and one rotated key per position and layer
  // of its trunk, as the deepseek2 model allocates it.
  const std::optional<Deepseek2HParams> mla =
      arch == "deepseek2" ? std::optional(read_deepseek2_hparams(file)) : std::nullopt;
  if (mla) {
    estimate.state_bytes = static_cast<uint64_t>(mla->base.n_layer) * static_cast<uint64_t>(mla->cache_width()) *
                           static_cast<uint64_t>(n_ctx) * sizeof(float);
  } else if (linear) {
    // As the hybrid model allocates it: its trunk (block_count less the multi-token-prediction
    // layers it does not run), KV on full-attention layers, recurrent state on the others.
    const uint64_t n_nextn = count("nextn_predict_layers", 0);
    const uint64_t n_trunk = n_nextn < n_layer ? n_layer - n_nextn : n_layer;
    const std::vector<bool> recurrent = read_recurrent_layers(file, arch, static_cast<int64_t>(n_trunk));
    const auto n_recurrent = static_cast<uint64_t>(std::count(recurrent.begin(), recurrent.end(), true));
    estimate.state_bytes = ((n_trunk - n_recurrent) * kv_floats_per_position * static_cast<uint64_t>(n_ctx) +
                            n_recurrent * linear->state_floats()) * sizeof(float);
  } else {
    // Recurrent layers whose shape is not known hold a fixed state; 8 MiB per layer bounds
    // every released model.
    const uint64_t recurrent = file.find(arch + ".ssm.state_size") ? n_layer * (8ull << 20) : 0;
    estimate.state_bytes = n_layer * kv_floats_per_position * sizeof(float) * static_cast<uint64_t>(n_ctx) + recurrent;
  }

  // Per token of a batch: the residual stream, plus the peak of the token mixer (attention
  // or Gated DeltaNet, whichever the model has that is larger) and the peak of the FFN
  // (routed experts, or a dense or shared-expert SwiGLU), counted as if both were live.
  const auto batch = static_cast<uint64_t>(n_batch);
  const uint64_t q_width = n_head * std::max(head_dim_k, head_dim_v);
  const uint64_t residual = 3 * n_embd;  // x, normed, branch
  const uint64_t mixer = mla ? static_cast<uint64_t>(mla->attention_scratch_floats())
                             : std::max(5 * q_width,  // q|gate, q, gate, attention output, scratch
                                        linear ? linear->scratch_floats() : 0);
  const uint64_t routed = 2 * n_expert             // router logits, this layer's and the next's
                          + n_expert_used * n_embd  // per-choice expert contributions
                          + 2 * n_embd + 2 * n_ff   // gathered rows, down; gate, up
                          + 8 * n_expert_used;      // choices, weights, token lists
  const uint64_t swiglu = n_embd + 1 + 2 * std::max(n_ff, n_ff_shexp);  // shared expert (or dense FFN)
  const uint64_t per_token_floats = residual + mixer + std::max(routed, swiglu) + 2 * 1024;  // + slack
  estimate.buffer_bytes = batch * per_token_floats * sizeof(float)
                          + static_cast<uint64_t>(n_logit_rows) * n_vocab * sizeof(float)
                          + static_cast<uint64_t>(n_ctx) * sizeof(float) * 64;  // attention scores
  return estimate;
}

}  // namespace sluice::model
