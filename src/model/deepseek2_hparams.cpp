#include "model/deepseek2_hparams.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "model/model.h"

namespace sluice::model {
namespace {

constexpr int64_t kMaxDimension = int64_t{1} << 24;
const std::string kArch = "deepseek2";

class Reader {
 public:
  explicit Reader(const gguf::GgufFile& file) : file_(file) {}

  // `deepseek2.<key>` as a count in [minimum, kMaxDimension]; `fallback` when absent (required
  // when there is none).
  int64_t count(std::string_view key, std::optional<int64_t> fallback = std::nullopt,
                int64_t minimum = 1) const {
    const std::string full_key = fmt::format("{}.{}", kArch, key);
    std::optional<uint64_t> value = file_.find_uint(full_key);
    if (!value && fallback) return *fallback;
    if (!value) value = file_.get_uint(full_key);  // throws "missing required metadata key"
    if (*value < static_cast<uint64_t>(minimum) || *value > static_cast<uint64_t>(kMaxDimension)) {
      fail("metadata '{}' = {} is out of range ({} to {})", full_key, *value, minimum, kMaxDimension);
    }
    return static_cast<int64_t>(*value);
  }
  std::optional<double> real(std::string_view key) const {
    return file_.find_float(fmt::format("{}.{}", kArch, key));
  }

  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw ModelError(fmt::format("{}: {}", file_.path(), fmt::format(format, std::forward<Args>(args)...)));
  }

 private:
  const gguf::GgufFile& file_;
};

void read_rope_scaling(const gguf::GgufFile& file, const Reader& r, Deepseek2HParams& hp) {
  const auto type = file.find_string(kArch + ".rope.scaling.type");
  if (!type || *type == "none") return;
  if (*type != "yarn") r.fail("rope scaling '{}' is not supported (deepseek2 supports yarn)", *type);
  const double factor = r.real("rope.scaling.factor").value_or(0.0);
  if (!(factor >= 1.0 && factor <= 1e4)) r.fail("yarn rope.scaling.factor {} is out of range (1 to 10000)", factor);
  ops::YarnParams& yarn = hp.base.rope.yarn;
  yarn.enabled = true;
  yarn.factor = factor;
  yarn.original_context = r.count("rope.scaling.original_context_length");
  // rope.scaling.yarn_log_multiplier holds 0.1 * mscale_all_dim (llama.cpp's converter). As in
  // transformers' DeepseekV3Attention, the softmax scale grows by mscale^2 with
  // mscale = 0.1 * mscale_all_dim * ln(factor) + 1, and the rotation keeps magnitude
  // get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) = 1 (mscale equals
  // mscale_all_dim in every release). Without the key, YaRN's usual 0.1 * ln(factor) + 1
  // scales the rotation instead (the attention factor's default).
  if (const auto log_multiplier = r.real("rope.scaling.yarn_log_multiplier")) {
    if (!(*log_multiplier >= 0.0 && *log_multiplier <= 10.0)) {
      r.fail("rope.scaling.yarn_log_multiplier {} is out of range (0 to 10)", *log_multiplier);
    }
    const double mscale = 1.0 + *log_multiplier * std::log(factor);
    hp.attention_scale *= static_cast<float>(mscale * mscale);
    yarn.attention_factor = 1.0;
  }
}

}  // namespace

int64_t Deepseek2HParams::attention_scratch_floats() const {
  const int64_t n_head = base.n_head;
  return q_lora_rank + n_head * qk_head_dim() + n_head * cache_width() + cache_width() +
         n_head * kv_lora_rank + n_head * v_head_dim + 2 * std::max(kv_lora_rank, qk_nope_head_dim) +
         v_head_dim;
}

Deepseek2HParams read_deepseek2_hparams(const gguf::GgufFile& file) {
  const Reader r(file);
  Deepseek2HParams hp;
  TransformerHParams& b = hp.base;
  b.arch = kArch;
  b.n_embd = r.count("embedding_length");
  b.n_layer = r.count("block_count");
  b.n_ctx_train = r.count("context_length");
  b.n_head = r.count("attention.head_count");
  // Multi-token-prediction blocks (nextn_predict_layers) follow the trunk and are counted in
  // block_count; they only draft tokens for speculative decoding, so they are not run.
  const int64_t n_nextn = r.count("nextn_predict_layers", 0, 0);
  if (n_nextn >= b.n_layer) r.fail("nextn_predict_layers = {} leaves no layers of {}", n_nextn, b.n_layer);
  b.n_layer -= n_nextn;

  // MLA dimensions. Current converters write key_length / value_length as the cached widths
  // (kv_lora_rank + rope, kv_lora_rank) and the per-head ones as *_mla; older files have
  // only the per-head ones, as key_length / value_length.
  hp.kv_lora_rank = r.count("attention.kv_lora_rank");
  hp.q_lora_rank = r.count("attention.q_lora_rank", 0, 0);
  hp.qk_rope_head_dim = r.count("rope.dimension_count");
  const bool split_mla = file.find(kArch + ".attention.key_length_mla") != nullptr;
  const int64_t qk_head_dim = r.count(split_mla ? "attention.key_length_mla" : "attention.key_length");
  hp.v_head_dim = r.count(split_mla ? "attention.value_length_mla" : "attention.value_length");
  if (split_mla) {
    const int64_t key_length = r.count("attention.key_length", hp.kv_lora_rank + hp.qk_rope_head_dim);
    const int64_t value_length = r.count("attention.value_length", hp.kv_lora_rank);
    if (key_length != hp.kv_lora_rank + hp.qk_rope_head_dim || value_length != hp.kv_lora_rank) {
      r.fail("attention.key_length {} / value_length {} do not match kv_lora_rank {} + "
             "rope.dimension_count {} / kv_lora_rank", key_length, value_length, hp.kv_lora_rank,
             hp.qk_rope_head_dim);
    }
  }
  if (hp.qk_rope_head_dim % 2 != 0 || hp.qk_rope_head_dim >= qk_head_dim) {
    r.fail("rope.dimension_count {} must be even and below the key head dimension {}",
           hp.qk_rope_head_dim, qk_head_dim);
  }
  hp.qk_nope_head_dim = qk_head_dim - hp.qk_rope_head_dim;
  b.n_head_kv = b.n_head;
  b.head_dim_k = qk_head_dim;
  b.head_dim_v = hp.v_head_dim;

  // Leading dense layers, then MoE layers with shared experts.
  hp.n_layer_dense_lead = r.count("leading_dense_block_count", 0, 0);
  if (hp.n_layer_dense_lead > b.n_layer) {
    r.fail("leading_dense_block_count {} exceeds the {} layers", hp.n_layer_dense_lead, b.n_layer);
  }
  if (hp.n_layer_dense_lead > 0) b.n_ff = r.count("feed_forward_length");
  if (hp.n_layer_dense_lead < b.n_layer) {
    b.n_expert = r.count("expert_count");
    b.n_expert_used = r.count("expert_used_count");
    b.n_ff_exp = r.count("expert_feed_forward_length");
    if (b.n_expert_used > b.n_expert) {
      r.fail("expert_used_count {} exceeds expert_count {}", b.n_expert_used, b.n_expert);
    }
    hp.n_ff_shexp = b.n_ff_exp * r.count("expert_shared_count", 0, 0);
    ops::GroupRoutingParams& routing = hp.routing;
    routing.n_expert = static_cast<int32_t>(b.n_expert);
    routing.n_expert_used = static_cast<int32_t>(b.n_expert_used);
    routing.n_group = static_cast<int32_t>(r.count("expert_group_count", 1));
    routing.n_group_used = static_cast<int32_t>(r.count("expert_group_used_count", routing.n_group));
    if (b.n_expert % routing.n_group != 0 || routing.n_group_used > routing.n_group ||
        b.n_expert_used > routing.n_group_used * (b.n_expert / routing.n_group)) {
      r.fail("{} experts in expert_group_count {} groups, expert_group_used_count {} of them, "
             "cannot give expert_used_count {}", b.n_expert, routing.n_group, routing.n_group_used,
             b.n_expert_used);
    }
    // expert_gating_func: 1 softmax (also when absent: DeepSeek-V2 files), 2 sigmoid.
    const int64_t gating = r.count("expert_gating_func", 1, 0);
    if (gating > 2) r.fail("expert_gating_func {} is not supported (1 softmax, 2 sigmoid)", gating);
    routing.gating = gating == 2 ? ops::ExpertGating::kSigmoid : ops::ExpertGating::kSoftmax;
    routing.normalize_top_k = file.find_bool(kArch + ".expert_weights_norm").value_or(false);
    const double scale = r.real("expert_weights_scale").value_or(1.0);
    if (!(scale > 0.0 && scale <= 1e3)) r.fail("expert_weights_scale {} is out of range", scale);
    routing.weights_scale = static_cast<float>(scale);
    b.expert_weights_norm = routing.normalize_top_k;
  }

  const auto& token_embd = file.require_tensor("token_embd.weight");
  if (token_embd.dims.size() != 2) {
    r.fail("token_embd.weight has shape {}, expected [n_embd, n_vocab]", token_embd.shape_string());
  }
  b.n_vocab = r.count("vocab_size", static_cast<int64_t>(token_embd.dims[1]));
  b.rms_eps = static_cast<float>(file.get_float(kArch + ".attention.layer_norm_rms_epsilon"));

  // RoPE on adjacent pairs: transformers' rope_interleave, llama.cpp's "normal" style.
  b.rope.style = ops::RopeStyle::kNormal;
  b.rope.n_rot = hp.qk_rope_head_dim;
  b.rope.freq_base = static_cast<float>(r.real("rope.freq_base").value_or(10000.0));
  hp.attention_scale = 1.0f / std::sqrt(static_cast<float>(qk_head_dim));
  read_rope_scaling(file, r, hp);
  return hp;
}

}  // namespace sluice::model
