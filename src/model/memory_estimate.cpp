#include "model/memory_estimate.h"

#include <algorithm>
#include <fmt/format.h>

namespace sluice::model {

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
  const uint64_t n_expert_used = std::max<uint64_t>(1, count("expert_used_count", 1));
  const auto* tokens = file.find("tokenizer.ggml.tokens");
  const uint64_t n_vocab = count("vocab_size", tokens ? tokens->as_array().items.size() : 0);

  MemoryEstimate estimate;
  const uint64_t per_position = n_layer * n_head_kv * (head_dim_k + head_dim_v) * sizeof(float);
  // Recurrent layers (Qwen3-Next) hold a fixed state; 8 MiB per layer bounds it for every
  // released model and is small next to the KV cache of real contexts.
  const uint64_t recurrent = file.find(arch + ".ssm.state_size") ? n_layer * (8ull << 20) : 0;
  estimate.state_bytes = per_position * static_cast<uint64_t>(n_ctx) + recurrent;

  const auto batch = static_cast<uint64_t>(n_batch);
  const uint64_t q_width = n_head * std::max(head_dim_k, head_dim_v);
  const uint64_t per_token_floats =
      6 * n_embd                   // residual, normed, branch, gathered, expert output, ...
      + 5 * q_width                // q, attention output, gate, scratch
      + 3 * n_ff                   // gate, up (and a spare)
      + n_expert_used * n_embd     // per-choice expert contributions
      + 2 * 1024;                  // router logits and slack
  estimate.buffer_bytes = batch * per_token_floats * sizeof(float)
                          + static_cast<uint64_t>(n_logit_rows) * n_vocab * sizeof(float)
                          + static_cast<uint64_t>(n_ctx) * sizeof(float) * 64;  // attention scores
  return estimate;
}

}  // namespace sluice::model
