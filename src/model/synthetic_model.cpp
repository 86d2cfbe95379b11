#include "model/synthetic_model.h"

#include <fmt/format.h>

#include <array>
#include <cmath>

#include "gguf/gguf_writer.h"
#include "quant/random_blocks.h"
#include "util/error.h"

namespace sluice::model {
namespace {

// Shapes from the models' published configs (config.json of each release; Qwen3.5's
// text_config).
const std::array kPresets = {
    SyntheticSpec{"qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 128, 8, 768, 151936, 40960, 1e6f, {}, {}, {},
                  quant::GgmlType::Q4_K, quant::GgmlType::Q4_K},
    SyntheticSpec{"qwen3-235b-a22b", "qwen3moe", 94, 4096, 64, 4, 128, 128, 8, 1536, 151936, 40960, 1e6f, {}, {}, {},
                  quant::GgmlType::Q4_K, quant::GgmlType::Q4_K},
    SyntheticSpec{.preset = "qwen3.5-397b-a17b", .arch = "qwen35moe",
                  .n_layer = 60, .n_embd = 4096, .n_head = 32, .n_head_kv = 2, .head_dim = 256,
                  .n_expert = 512, .n_expert_used = 10, .n_ff_exp = 1024,
                  .n_vocab = 248320, .n_ctx_train = 262144, .rope_freq_base = 1e7f,
                  .hybrid = {.n_ff_shexp = 1024, .full_attention_interval = 4,
                             .n_rot = 64,  // partial_rotary_factor 0.25
                             .rope_sections = {11, 11, 10, 0},
                             .ssm_d_conv = 4, .ssm_n_k_heads = 16, .ssm_n_v_heads = 64,
                             .ssm_head_k_dim = 128, .ssm_head_v_dim = 128},
                  .gpt_oss = {}, .mla = {},
                  .release_expert_type = quant::GgmlType::Q4_K, .release_type = quant::GgmlType::Q4_K},
    // gpt-oss-120b ships its routed experts in MXFP4; the rest as Q8_0, as llama.cpp's GGUF
    // release has them.
    SyntheticSpec{.preset = "gpt-oss-120b", .arch = "gpt-oss",
                  .n_layer = 36, .n_embd = 2880, .n_head = 64, .n_head_kv = 8, .head_dim = 64,
                  .n_expert = 128, .n_expert_used = 4, .n_ff_exp = 2880,
                  .n_vocab = 201088, .n_ctx_train = 131072, .rope_freq_base = 150000.0f,
                  .hybrid = {},
                  .gpt_oss = {.sliding_window = 128, .yarn_factor = 32.0f, .yarn_original_context = 4096},
                  .mla = {},
                  .release_expert_type = quant::GgmlType::MXFP4, .release_type = quant::GgmlType::Q8_0},
    SyntheticSpec{.preset = "deepseek-v3", .arch = "deepseek2",
                  .n_layer = 61, .n_embd = 7168, .n_head = 128,
                  .n_head_kv = 1,     // MLA: one shared latent per position
                  .head_dim = 192,    // qk_nope_head_dim + qk_rope_head_dim
                  .n_expert = 256, .n_expert_used = 8, .n_ff_exp = 2048,
                  .n_vocab = 129280, .n_ctx_train = 163840, .rope_freq_base = 10000.0f,
                  .hybrid = {}, .gpt_oss = {},
                  .mla = {.n_layer_dense_lead = 3, .n_ff_dense = 18432,
                          .q_lora_rank = 1536, .kv_lora_rank = 512,
                          .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128,
                          .n_expert_shared = 1, .n_group = 8, .topk_group = 4,
                          .routed_scaling_factor = 2.5f,
                          .yarn_factor = 40.0f, .yarn_original_context = 4096,
                          .yarn_mscale_all_dim = 1.0f},
                  .release_expert_type = quant::GgmlType::Q4_K, .release_type = quant::GgmlType::Q4_K},
};

// GPT-2's byte-to-unicode map: printable bytes stand for themselves, the others are moved
// above U+0100 so every byte has a visible character.
std::vector<std::string> byte_tokens() {
  std::vector<std::string> tokens(256);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int code = printable ? b : next++;
    std::string utf8;
    if (code < 0x80) {
      utf8 += static_cast<char>(code);
    } else {
      utf8 += static_cast<char>(0xC0 | (code >> 6));
      utf8 += static_cast<char>(0x80 | (code & 0x3F));
    }
    tokens[b] = utf8;
  }
  return tokens;
}

// Vocabulary: the 256 byte tokens, merges of letter pairs (each with its token), then
// filler words up to n_vocab.
void write_vocabulary(gguf::GgufWriter& writer, int64_t n_vocab, const std::string& pre) {
  std::vector<std::string> tokens = byte_tokens();
  std::vector<std::string> merges;
  const std::string space = tokens[' '];
  for (char a = 'a'; a <= 'z'; ++a) {
    merges.push_back(fmt::format("{} {}", space, a));
    tokens.push_back(space + a);
  }
  for (char a = 'a'; a <= 'z'; ++a) {
    for (char b = 'a'; b <= 'z'; ++b) {
      merges.push_back(fmt::format("{} {}", a, b));
      tokens.push_back(std::string{a, b});
    }
  }
  for (int64_t i = static_cast<int64_t>(tokens.size()); i < n_vocab; ++i) tokens.push_back(fmt::format("{}w{}", space, i));
  tokens.resize(static_cast<size_t>(n_vocab));
  writer.set_string("tokenizer.ggml.model", "gpt2");
  writer.set_string("tokenizer.ggml.pre", pre);
  writer.set_string_array("tokenizer.ggml.tokens", tokens);
  writer.set_int32_array("tokenizer.ggml.token_type", std::vector<int32_t>(tokens.size(), 1));
  writer.set_string_array("tokenizer.ggml.merges", merges);
}

// How a planned tensor's values are made.
enum class Fill {
  kRandom,    // uniform, magnitude about `scale` (quantized types: valid blocks)
  kConstant,  // every value `scale` (F32): norm weights that the model expects as ones
  kDecay,     // -uniform(1, 16) (F32): ssm_a = -exp(A_log), transformers' A_log init
};

struct PlannedTensor {
  std::string name;
  quant::GgmlType type;
  std::vector<uint64_t> dims;  // ggml order: row length first
  float scale = 1.0f;
  Fill fill = Fill::kRandom;
};

// The tensors of one architecture family, named and shaped as llama.cpp's
// convert_hf_to_gguf.py writes them. Weight scales keep activations O(1) through the layers:
// about 1/sqrt(fan-in) for matrices; norm weights are ones.
class TensorPlan {
 public:
  TensorPlan(const SyntheticSpec& spec, quant::GgmlType type, quant::GgmlType expert_type)
      : spec_(spec), type_(type), expert_type_(expert_type) {}

  // A matrix of `type` with rows of `row` values: uniform in +-1/sqrt(row).
  void matrix(std::string name, uint64_t row, std::vector<uint64_t> rest) {
    std::vector<uint64_t> dims{row};
    dims.insert(dims.end(), rest.begin(), rest.end());
    tensors_.push_back({std::move(name), type_, std::move(dims), fan_in_scale(row)});
  }
  // A stacked routed-expert matrix: as `matrix`, of the experts' type.
  void expert_matrix(std::string name, uint64_t row, std::vector<uint64_t> rest) {
    std::vector<uint64_t> dims{row};
    dims.insert(dims.end(), rest.begin(), rest.end());
    tensors_.push_back({std::move(name), expert_type_, std::move(dims), fan_in_scale(row)});
  }
  // An F32 tensor: routers, convolution taps, biases.
  void f32(std::string name, std::vector<uint64_t> dims, float scale, Fill fill = Fill::kRandom) {
    tensors_.push_back({std::move(name), quant::GgmlType::F32, std::move(dims), scale, fill});
  }
  void ones(std::string name, uint64_t n) { f32(std::move(name), {n}, 1.0f, Fill::kConstant); }
  // A matrix whose rows may be shorter than `type`'s blocks (deepseek2's attn_k_b rows of
  // qk_nope_head_dim): Q8_0 then, as llama.cpp's quantizer falls back to a 32-value format.
  void short_row_matrix(std::string name, uint64_t row, std::vector<uint64_t> rest) {
    matrix(std::move(name), row, std::move(rest));
    if (row % quant::traits_of(type_).block_size != 0) tensors_.back().type = quant::GgmlType::Q8_0;
  }

  // Embeddings and the output head (untied, as both families release them).
  void embeddings_and_head() {
    const auto E = static_cast<uint64_t>(spec_.n_embd);
    const auto V = static_cast<uint64_t>(spec_.n_vocab);
    tensors_.push_back({"token_embd.weight", type_, {E, V}, 1.0f});
    ones("output_norm.weight", E);
    matrix("output.weight", E, {V});
  }

  // The router and the routed experts of layer l (each expert's slice contiguous).
  void routed_experts(int64_t l) {
    const auto E = static_cast<uint64_t>(spec_.n_embd);
    const auto F = static_cast<uint64_t>(spec_.n_ff_exp);
    const auto N = static_cast<uint64_t>(spec_.n_expert);
    f32(name(l, "ffn_gate_inp"), {E, N}, fan_in_scale(E));
    expert_matrix(name(l, "ffn_gate_exps"), E, {F, N});
    expert_matrix(name(l, "ffn_up_exps"), E, {F, N});
    expert_matrix(name(l, "ffn_down_exps"), F, {E, N});
  }

  static std::string name(int64_t layer, std::string_view tensor) {
    return fmt::format("blk.{}.{}.weight", layer, tensor);
  }
  static float fan_in_scale(uint64_t n) { return 1.0f / std::sqrt(static_cast<float>(n)); }

  const SyntheticSpec& spec() const { return spec_; }
  std::vector<PlannedTensor> take() { return std::move(tensors_); }

 private:
  const SyntheticSpec& spec_;
  quant::GgmlType type_;
  quant::GgmlType expert_type_;
  std::vector<PlannedTensor> tensors_;
};

// ---------------------------------------------------------------------------------------
// qwen3moe: GQA attention with q/k RMSNorm, routed MoE in every layer.

void qwen3moe_metadata(gguf::GgufWriter& writer, const SyntheticSpec& spec) {
  const std::string& a = spec.arch;
  writer.set_uint32(a + ".feed_forward_length", static_cast<uint32_t>(spec.n_ff_exp * spec.n_expert_used));
}

void qwen3moe_layer(TensorPlan& plan, int64_t l) {
  const SyntheticSpec& s = plan.spec();
  const auto E = static_cast<uint64_t>(s.n_embd);
  const auto Q = static_cast<uint64_t>(s.n_head * s.head_dim);
  const auto KV = static_cast<uint64_t>(s.n_head_kv * s.head_dim);
  const auto H = static_cast<uint64_t>(s.head_dim);
  plan.ones(plan.name(l, "attn_norm"), E);
  plan.matrix(plan.name(l, "attn_q"), E, {Q});
  plan.matrix(plan.name(l, "attn_k"), E, {KV});
  plan.matrix(plan.name(l, "attn_v"), E, {KV});
  plan.matrix(plan.name(l, "attn_output"), Q, {E});
  plan.ones(plan.name(l, "attn_q_norm"), H);
  plan.ones(plan.name(l, "attn_k_norm"), H);
  plan.ones(plan.name(l, "ffn_norm"), E);
  plan.routed_experts(l);
}

// ---------------------------------------------------------------------------------------
// qwen35moe: Gated DeltaNet layers with a gated full-attention layer every
// full_attention_interval-th, each followed by routed experts plus a sigmoid-gated shared
// expert. The norms llama.cpp stores as (1 + weight) hold ones, as a freshly initialised
// transformers model (weight 0) gives; ssm_norm holds its weight, also initialised to ones.

void qwen35moe_metadata(gguf::GgufWriter& writer, const SyntheticSpec& spec) {
  const std::string& a = spec.arch;
  const HybridShape& h = spec.hybrid;
  writer.set_uint32(a + ".expert_shared_feed_forward_length", static_cast<uint32_t>(h.n_ff_shexp));
  writer.set_uint32(a + ".ssm.conv_kernel", static_cast<uint32_t>(h.ssm_d_conv));
  writer.set_uint32(a + ".ssm.state_size", static_cast<uint32_t>(h.ssm_head_k_dim));
  writer.set_uint32(a + ".ssm.group_count", static_cast<uint32_t>(h.ssm_n_k_heads));
  writer.set_uint32(a + ".ssm.time_step_rank", static_cast<uint32_t>(h.ssm_n_v_heads));
  writer.set_uint32(a + ".ssm.inner_size", static_cast<uint32_t>(h.ssm_n_v_heads * h.ssm_head_v_dim));
  writer.set_uint32(a + ".full_attention_interval", static_cast<uint32_t>(h.full_attention_interval));
  writer.set_uint32(a + ".rope.dimension_count", static_cast<uint32_t>(h.n_rot));
  writer.set_int32_array(a + ".rope.dimension_sections",
                         std::vector<int32_t>(h.rope_sections.begin(), h.rope_sections.end()));
}

void qwen35moe_layer(TensorPlan& plan, int64_t l) {
  const SyntheticSpec& s = plan.spec();
  const HybridShape& h = s.hybrid;
  const auto E = static_cast<uint64_t>(s.n_embd);
  plan.ones(plan.name(l, "attn_norm"), E);
  plan.ones(plan.name(l, "post_attention_norm"), E);
  if ((l + 1) % h.full_attention_interval != 0) {
    // Gated DeltaNet: qkv feeds the short convolution (q | k | v channels), z gates the output.
    const auto n_v = static_cast<uint64_t>(h.ssm_n_v_heads);
    const auto key_dim = static_cast<uint64_t>(h.ssm_n_k_heads * h.ssm_head_k_dim);
    const auto value_dim = static_cast<uint64_t>(h.ssm_n_v_heads * h.ssm_head_v_dim);
    const uint64_t conv_dim = 2 * key_dim + value_dim;
    const auto d_conv = static_cast<uint64_t>(h.ssm_d_conv);
    plan.matrix(plan.name(l, "attn_qkv"), E, {conv_dim});
    plan.matrix(plan.name(l, "attn_gate"), E, {value_dim});
    plan.matrix(plan.name(l, "ssm_beta"), E, {n_v});
    plan.matrix(plan.name(l, "ssm_alpha"), E, {n_v});
    // PyTorch's Conv1d init bound for a depthwise kernel: 1/sqrt(kernel).
    plan.f32(plan.name(l, "ssm_conv1d"), {d_conv, conv_dim}, TensorPlan::fan_in_scale(d_conv));
    plan.f32(fmt::format("blk.{}.ssm_a", l), {n_v}, 1.0f, Fill::kDecay);
    plan.f32(fmt::format("blk.{}.ssm_dt.bias", l), {n_v}, 1.0f, Fill::kConstant);  // torch.ones
    plan.ones(plan.name(l, "ssm_norm"), static_cast<uint64_t>(h.ssm_head_v_dim));
    plan.matrix(plan.name(l, "ssm_out"), value_dim, {E});
  } else {
    // Gated attention: attn_q holds, per head, head_dim queries then head_dim gate values.
    const auto Q = static_cast<uint64_t>(s.n_head * s.head_dim);
    const auto KV = static_cast<uint64_t>(s.n_head_kv * s.head_dim);
    plan.matrix(plan.name(l, "attn_q"), E, {2 * Q});
    plan.matrix(plan.name(l, "attn_k"), E, {KV});
    plan.matrix(plan.name(l, "attn_v"), E, {KV});
    plan.matrix(plan.name(l, "attn_output"), Q, {E});
    plan.ones(plan.name(l, "attn_q_norm"), static_cast<uint64_t>(s.head_dim));
    plan.ones(plan.name(l, "attn_k_norm"), static_cast<uint64_t>(s.head_dim));
  }
  plan.routed_experts(l);
  const auto S = static_cast<uint64_t>(h.n_ff_shexp);
  plan.matrix(plan.name(l, "ffn_gate_shexp"), E, {S});
  plan.matrix(plan.name(l, "ffn_up_shexp"), E, {S});
  plan.matrix(plan.name(l, "ffn_down_shexp"), S, {E});
  plan.f32(plan.name(l, "ffn_gate_inp_shexp"), {E, 1}, TensorPlan::fan_in_scale(E));
}


// ---------------------------------------------------------------------------------------
// gpt-oss: attention with biases and one sink logit per head, sliding-window attention on
// every other layer, YaRN RoPE; routed experts with biases in every layer. Biases and sinks
// are small random values, as a trained model's are.

void gpt_oss_metadata(gguf::GgufWriter& writer, const SyntheticSpec& spec) {
  const std::string& a = spec.arch;
  const GptOssShape& g = spec.gpt_oss;
  writer.set_uint32(a + ".feed_forward_length", static_cast<uint32_t>(spec.n_ff_exp));
  writer.set_uint32(a + ".attention.sliding_window", static_cast<uint32_t>(g.sliding_window));
  writer.set_float32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
  writer.set_string(a + ".rope.scaling.type", "yarn");
  writer.set_float32(a + ".rope.scaling.factor", g.yarn_factor);
  writer.set_uint32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(g.yarn_original_context));
  writer.set_float32(a + ".rope.scaling.yarn_beta_fast", 32.0f);
  writer.set_float32(a + ".rope.scaling.yarn_beta_slow", 1.0f);
}

void gpt_oss_layer(TensorPlan& plan, int64_t l) {
  const SyntheticSpec& s = plan.spec();
  const auto E = static_cast<uint64_t>(s.n_embd);
  const auto Q = static_cast<uint64_t>(s.n_head * s.head_dim);
  const auto KV = static_cast<uint64_t>(s.n_head_kv * s.head_dim);
  const auto F = static_cast<uint64_t>(s.n_ff_exp);
  const auto N = static_cast<uint64_t>(s.n_expert);
  const auto bias = [&](std::string_view tensor, std::vector<uint64_t> dims) {
    plan.f32(fmt::format("blk.{}.{}.bias", l, tensor), std::move(dims), 0.05f);
  };
  plan.ones(plan.name(l, "attn_norm"), E);
  plan.matrix(plan.name(l, "attn_q"), E, {Q});
  plan.matrix(plan.name(l, "attn_k"), E, {KV});
  plan.matrix(plan.name(l, "attn_v"), E, {KV});
  plan.matrix(plan.name(l, "attn_output"), Q, {E});
  bias("attn_q", {Q});
  bias("attn_k", {KV});
  bias("attn_v", {KV});
  bias("attn_output", {E});
  plan.f32(plan.name(l, "attn_sinks"), {static_cast<uint64_t>(s.n_head)}, 1.0f);
  plan.ones(plan.name(l, "post_attention_norm"), E);
  plan.routed_experts(l);
  bias("ffn_gate_inp", {N});
  bias("ffn_gate_exps", {F, N});
  bias("ffn_up_exps", {F, N});
  bias("ffn_down_exps", {E, N});
}

// ---------------------------------------------------------------------------------------
// deepseek2 (DeepSeek-V3): multi-head latent attention in every layer, the first
// n_layer_dense_lead layers with a dense SwiGLU FFN, the others routed experts (sigmoid scores
// with a selection bias, grouped) plus a shared expert. A cut-down file keeps at least one MoE
// layer, and falls back to ungrouped routing when its expert count cannot be grouped as the
// preset's.

int64_t deepseek2_dense_lead(const SyntheticSpec& spec) {
  return std::min(spec.mla.n_layer_dense_lead, spec.n_layer - 1);
}

std::pair<int64_t, int64_t> deepseek2_groups(const SyntheticSpec& spec) {
  const MlaShape& m = spec.mla;
  const bool groups_fit = spec.n_expert % m.n_group == 0 &&
                          spec.n_expert_used <= m.topk_group * (spec.n_expert / m.n_group);
  return groups_fit ? std::pair{m.n_group, m.topk_group} : std::pair<int64_t, int64_t>{1, 1};
}

void deepseek2_metadata(gguf::GgufWriter& writer, const SyntheticSpec& spec) {
  const std::string& a = spec.arch;
  const MlaShape& m = spec.mla;
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  const auto [n_group, n_group_used] = deepseek2_groups(spec);
  writer.set_uint32(a + ".feed_forward_length", u32(m.n_ff_dense));
  writer.set_uint32(a + ".leading_dense_block_count", u32(deepseek2_dense_lead(spec)));
  writer.set_uint32(a + ".vocab_size", u32(spec.n_vocab));
  writer.set_uint32(a + ".attention.q_lora_rank", u32(m.q_lora_rank));
  writer.set_uint32(a + ".attention.kv_lora_rank", u32(m.kv_lora_rank));
  // As llama.cpp's converter writes MLA: key/value_length are the cached widths, *_mla the
  // per-head ones.
  writer.set_uint32(a + ".attention.key_length", u32(m.kv_lora_rank + m.qk_rope_head_dim));
  writer.set_uint32(a + ".attention.value_length", u32(m.kv_lora_rank));
  writer.set_uint32(a + ".attention.key_length_mla", u32(m.qk_nope_head_dim + m.qk_rope_head_dim));
  writer.set_uint32(a + ".attention.value_length_mla", u32(m.v_head_dim));
  writer.set_uint32(a + ".rope.dimension_count", u32(m.qk_rope_head_dim));
  writer.set_uint32(a + ".expert_shared_count", u32(m.n_expert_shared));
  writer.set_uint32(a + ".expert_group_count", u32(n_group));
  writer.set_uint32(a + ".expert_group_used_count", u32(n_group_used));
  writer.set_float32(a + ".expert_weights_scale", m.routed_scaling_factor);
  writer.set_bool(a + ".expert_weights_norm", true);
  writer.set_uint32(a + ".expert_gating_func", 2);  // sigmoid
  if (m.yarn_factor > 0.0f) {
    writer.set_string(a + ".rope.scaling.type", "yarn");
    writer.set_float32(a + ".rope.scaling.factor", m.yarn_factor);
    writer.set_uint32(a + ".rope.scaling.original_context_length", u32(m.yarn_original_context));
    writer.set_float32(a + ".rope.scaling.yarn_log_multiplier", 0.1f * m.yarn_mscale_all_dim);
  }
}

void deepseek2_layer(TensorPlan& plan, int64_t l) {
  const SyntheticSpec& s = plan.spec();
  const MlaShape& m = s.mla;
  const auto E = static_cast<uint64_t>(s.n_embd);
  const auto H = static_cast<uint64_t>(s.n_head);
  const auto q_lora = static_cast<uint64_t>(m.q_lora_rank);
  const auto kv_lora = static_cast<uint64_t>(m.kv_lora_rank);
  const auto nope = static_cast<uint64_t>(m.qk_nope_head_dim);
  const auto rope = static_cast<uint64_t>(m.qk_rope_head_dim);
  const auto V = static_cast<uint64_t>(m.v_head_dim);
  plan.ones(plan.name(l, "attn_norm"), E);
  plan.matrix(plan.name(l, "attn_q_a"), E, {q_lora});
  plan.ones(plan.name(l, "attn_q_a_norm"), q_lora);
  plan.matrix(plan.name(l, "attn_q_b"), q_lora, {H * (nope + rope)});
  plan.matrix(plan.name(l, "attn_kv_a_mqa"), E, {kv_lora + rope});
  plan.ones(plan.name(l, "attn_kv_a_norm"), kv_lora);
  plan.short_row_matrix(plan.name(l, "attn_k_b"), nope, {kv_lora, H});
  plan.matrix(plan.name(l, "attn_v_b"), kv_lora, {V, H});
  plan.matrix(plan.name(l, "attn_output"), H * V, {E});
  plan.ones(plan.name(l, "ffn_norm"), E);
  if (l < deepseek2_dense_lead(s)) {
    const auto F = static_cast<uint64_t>(m.n_ff_dense);
    plan.matrix(plan.name(l, "ffn_gate"), E, {F});
    plan.matrix(plan.name(l, "ffn_up"), E, {F});
    plan.matrix(plan.name(l, "ffn_down"), F, {E});
    return;
  }
  plan.routed_experts(l);
  plan.f32(fmt::format("blk.{}.exp_probs_b.bias", l), {static_cast<uint64_t>(s.n_expert)}, 0.01f);
  const auto S = static_cast<uint64_t>(s.n_ff_exp * m.n_expert_shared);
  plan.matrix(plan.name(l, "ffn_gate_shexp"), E, {S});
  plan.matrix(plan.name(l, "ffn_up_shexp"), E, {S});
  plan.matrix(plan.name(l, "ffn_down_shexp"), S, {E});
}

// ---------------------------------------------------------------------------------------

struct Family {
  std::string_view arch;
  std::string_view pre_tokenizer;  // tokenizer.ggml.pre of the family's releases
  void (*metadata)(gguf::GgufWriter&, const SyntheticSpec&);
  void (*layer)(TensorPlan&, int64_t);
};

constexpr std::array kFamilies = {
    Family{"qwen3moe", "qwen2", qwen3moe_metadata, qwen3moe_layer},
    Family{"qwen35moe", "qwen35", qwen35moe_metadata, qwen35moe_layer},
    Family{"gpt-oss", "gpt-4o", gpt_oss_metadata, gpt_oss_layer},
    Family{"deepseek2", "deepseek-v3", deepseek2_metadata, deepseek2_layer},
};

const Family& family_of(const SyntheticSpec& spec) {
  for (const Family& f : kFamilies) {
    if (f.arch == spec.arch) return f;
  }
  throw Error(fmt::format("sluice synth cannot write architecture '{}'", spec.arch));
}

// Keys every family writes, named as llama.cpp names them.
void write_common_metadata(gguf::GgufWriter& writer, const SyntheticSpec& spec) {
  const std::string& a = spec.arch;
  writer.set_string("general.architecture", a);
  writer.set_string("general.name", fmt::format("sluice synthetic {}", spec.preset));
  writer.set_uint32(a + ".block_count", static_cast<uint32_t>(spec.n_layer));
  writer.set_uint32(a + ".context_length", static_cast<uint32_t>(spec.n_ctx_train));
  writer.set_uint32(a + ".embedding_length", static_cast<uint32_t>(spec.n_embd));
  writer.set_uint32(a + ".attention.head_count", static_cast<uint32_t>(spec.n_head));
  writer.set_uint32(a + ".attention.head_count_kv", static_cast<uint32_t>(spec.n_head_kv));
  writer.set_uint32(a + ".attention.key_length", static_cast<uint32_t>(spec.head_dim));
  writer.set_uint32(a + ".attention.value_length", static_cast<uint32_t>(spec.head_dim));
  writer.set_float32(a + ".rope.freq_base", spec.rope_freq_base);
  writer.set_float32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
  writer.set_uint32(a + ".expert_count", static_cast<uint32_t>(spec.n_expert));
  writer.set_uint32(a + ".expert_used_count", static_cast<uint32_t>(spec.n_expert_used));
  writer.set_uint32(a + ".expert_feed_forward_length", static_cast<uint32_t>(spec.n_ff_exp));
  writer.set_uint32("general.quantization_version", 2);
}

// The values of a Fill::kConstant or Fill::kDecay tensor.
std::vector<float> small_tensor_values(const PlannedTensor& p, uint64_t n, uint64_t seed) {
  std::vector<float> values(n, p.scale);
  if (p.fill == Fill::kDecay) {
    quant::fill_random_blocks(quant::GgmlType::F32,
                              {reinterpret_cast<std::byte*>(values.data()), n * sizeof(float)}, seed, 1.0f);
    for (float& v : values) v = -(8.5f + 7.5f * v);  // uniform(-1, 1) -> -uniform(1, 16)
  }
  return values;
}

}  // namespace

std::vector<std::string> synthetic_preset_names() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.push_back(p.preset);
  return names;
}

SyntheticSpec synthetic_preset(const std::string& name) {
  for (const auto& p : kPresets) {
    if (p.preset == name) return p;
  }
  std::string known;
  for (const auto& n : synthetic_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(fmt::format("unknown preset '{}' (known: {})", name, known));
}

uint64_t write_synthetic_model(const SyntheticSpec& preset, const SyntheticOptions& options,
                               const std::string& path,
                               const std::function<void(uint64_t, uint64_t)>& progress) {
  SyntheticSpec spec = preset;
  if (options.n_layer > 0) spec.n_layer = options.n_layer;
  if (options.n_expert > 0) spec.n_expert = options.n_expert;
  if (options.n_vocab > 0) spec.n_vocab = options.n_vocab;
  if (spec.n_vocab < 1024) throw Error(fmt::format("a vocabulary of {} is too small (at least 1024)", spec.n_vocab));
  if (spec.n_expert_used > spec.n_expert) spec.n_expert_used = spec.n_expert;
  const quant::GgmlType type = options.type.value_or(spec.release_type);
  const quant::GgmlType expert_type = options.type.value_or(spec.release_expert_type);
  for (const quant::GgmlType t : {type, expert_type}) {
    if (!quant::can_fill_random(t)) {
      throw Error(fmt::format("sluice synth cannot write {} weights", quant::type_name(t)));
    }
  }
  const Family& family = family_of(spec);

  TensorPlan planner(spec, type, expert_type);
  planner.embeddings_and_head();
  for (int64_t l = 0; l < spec.n_layer; ++l) family.layer(planner, l);
  const std::vector<PlannedTensor> plan = planner.take();
  for (const PlannedTensor& p : plan) {
    const uint32_t block = quant::traits_of(p.type).block_size;
    if (p.dims[0] % block != 0) {
      throw Error(fmt::format("{} needs rows that are multiples of {}; {} has a row of {} ({})",
                              quant::type_name(p.type), block, spec.preset, p.dims[0], p.name));
    }
  }

  gguf::GgufWriter writer;
  write_common_metadata(writer, spec);
  family.metadata(writer, spec);
  write_vocabulary(writer, spec.n_vocab, std::string(family.pre_tokenizer));
  for (const PlannedTensor& p : plan) writer.add_tensor_info(p.name, p.type, p.dims);

  uint64_t total = 0;
  for (const auto& info : writer.tensors()) total += info.n_bytes;
  uint64_t done = 0;
  constexpr uint64_t kChunkBlocks = 1 << 14;
  std::vector<std::byte> chunk;
  writer.write(path, [&](size_t index, const gguf::TensorInfo& tensor, const gguf::ByteSink& sink) {
    const PlannedTensor& p = plan[index];
    const uint64_t seed = options.seed ^ (index * 0x100000001b3ull);
    if (p.fill != Fill::kRandom) {
      SLUICE_ASSERT(p.type == quant::GgmlType::F32);
      const std::vector<float> values = small_tensor_values(p, tensor.n_elements, seed);
      sink({reinterpret_cast<const std::byte*>(values.data()), values.size() * sizeof(float)});
      done += tensor.n_bytes;
      return;
    }
    const uint64_t block_bytes = quant::traits_of(p.type).type_size;
    const uint64_t chunk_bytes = kChunkBlocks * block_bytes;
    for (uint64_t at = 0; at < tensor.n_bytes; at += chunk_bytes) {
      const uint64_t n = std::min(chunk_bytes, tensor.n_bytes - at);
      chunk.resize(n);
      quant::fill_random_blocks(p.type, chunk, seed ^ at, p.scale);
      sink(chunk);
      done += n;
      if (progress) progress(done, total);
    }
  });
  return total;
}

}  // namespace sluice::model
