#include "model/hparams.h"

#include <fmt/format.h>

#include <cmath>

#include "model/model.h"

namespace sluice::model {
namespace {

constexpr int64_t kMaxDimension = int64_t{1} << 24;

// Reads `<arch>.<key>` as a positive count no larger than kMaxDimension.
int64_t read_count(const gguf::GgufFile& file, const std::string& arch, std::string_view key,
                   std::optional<int64_t> fallback = std::nullopt) {
  const std::string full_key = fmt::format("{}.{}", arch, key);
  std::optional<uint64_t> value = file.find_uint(full_key);
  if (!value && fallback) return *fallback;
  if (!value) value = file.get_uint(full_key);  // throws "missing required metadata key"
  if (*value == 0 || *value > static_cast<uint64_t>(kMaxDimension)) {
    throw ModelError(fmt::format("{}: metadata '{}' = {} is out of range (1 to {})", file.path(),
                                 full_key, *value, kMaxDimension));
  }
  return static_cast<int64_t>(*value);
}

// rope.scaling.* of a YaRN model (llama.cpp's keys). The GGUF cannot say whether the
// correction range is rounded (transformers' `truncate`); the architecture sets that.
ops::YarnParams read_yarn_params(const gguf::GgufFile& file, const std::string& arch) {
  const std::string prefix = arch + ".rope.scaling.";
  ops::YarnParams yarn;
  yarn.enabled = true;
  yarn.factor = file.get_float(prefix + "factor");
  yarn.original_context = read_count(file, arch, "rope.scaling.original_context_length");
  yarn.beta_fast = file.find_float(prefix + "yarn_beta_fast").value_or(yarn.beta_fast);
  yarn.beta_slow = file.find_float(prefix + "yarn_beta_slow").value_or(yarn.beta_slow);
  const bool valid = std::isfinite(yarn.factor) && yarn.factor > 0.0 && yarn.factor <= 1e6 &&
                     std::isfinite(yarn.beta_fast) && std::isfinite(yarn.beta_slow) &&
                     yarn.beta_slow > 0.0 && yarn.beta_fast > yarn.beta_slow;
  if (!valid) {
    throw ModelError(fmt::format("{}: YaRN needs factor > 0 and beta_fast > beta_slow > 0 (got "
                                 "factor {}, beta_fast {}, beta_slow {})",
                                 file.path(), yarn.factor, yarn.beta_fast, yarn.beta_slow));
  }
  return yarn;
}

}  // namespace

TransformerHParams read_transformer_hparams(const gguf::GgufFile& file, const std::string& arch,
                                            ops::RopeStyle rope_style) {
  TransformerHParams hp;
  hp.arch = arch;
  hp.n_embd = read_count(file, arch, "embedding_length");
  hp.n_layer = read_count(file, arch, "block_count");
  hp.n_ctx_train = read_count(file, arch, "context_length");
  hp.n_head = read_count(file, arch, "attention.head_count");
  hp.n_head_kv = read_count(file, arch, "attention.head_count_kv", hp.n_head);
  if (hp.n_head % hp.n_head_kv != 0) {
    throw ModelError(fmt::format("{}: {} query heads cannot be grouped over {} KV heads",
                                 file.path(), hp.n_head, hp.n_head_kv));
  }
  const int64_t default_head_dim = hp.n_embd / hp.n_head;
  hp.head_dim_k = read_count(file, arch, "attention.key_length", default_head_dim);
  hp.head_dim_v = read_count(file, arch, "attention.value_length", default_head_dim);

  if (file.find(arch + ".expert_count")) {
    hp.n_expert = read_count(file, arch, "expert_count");
    hp.n_expert_used = read_count(file, arch, "expert_used_count");
    hp.n_ff_exp = read_count(file, arch, "expert_feed_forward_length");
    if (hp.n_expert_used > hp.n_expert) {
      throw ModelError(fmt::format("{}: expert_used_count {} exceeds expert_count {}",
                                   file.path(), hp.n_expert_used, hp.n_expert));
    }
    hp.expert_weights_norm = file.find_bool(arch + ".expert_weights_norm").value_or(true);
  } else {
    hp.n_ff = read_count(file, arch, "feed_forward_length");
  }

  const auto& token_embd = file.require_tensor("token_embd.weight");
  if (token_embd.dims.size() != 2) {
    throw ModelError(fmt::format("{}: token_embd.weight has shape {}, expected [n_embd, n_vocab]",
                                 file.path(), token_embd.shape_string()));
  }
  hp.n_vocab = read_count(file, arch, "vocab_size", static_cast<int64_t>(token_embd.dims[1]));

  hp.rms_eps = static_cast<float>(file.get_float(arch + ".attention.layer_norm_rms_epsilon"));
  hp.rope.style = rope_style;
  hp.rope.freq_base = static_cast<float>(file.find_float(arch + ".rope.freq_base").value_or(10000.0));
  hp.rope.n_rot = read_count(file, arch, "rope.dimension_count", hp.head_dim_k);
  if (hp.rope.n_rot > hp.head_dim_k || hp.rope.n_rot % 2 != 0) {
    throw ModelError(fmt::format("{}: rope.dimension_count {} must be even and at most the head "
                                 "dimension {}",
                                 file.path(), hp.rope.n_rot, hp.head_dim_k));
  }
  if (auto scaling = file.find_string(arch + ".rope.scaling.type");
      scaling && *scaling != "none") {
    if (*scaling != "yarn") {
      throw ModelError(fmt::format("{}: rope scaling '{}' is not supported yet", file.path(),
                                   *scaling));
    }
    hp.rope.yarn = read_yarn_params(file, arch);
  }
  return hp;
}

}  // namespace sluice::model
