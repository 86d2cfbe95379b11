// gpt-oss (arch `gpt-oss`): a pre-norm MoE decoder with biased attention projections, RoPE in
// the NEOX pairing with YaRN, learned attention sinks, sliding-window attention on every
// other layer, and a routed MoE in every layer (router with a bias, softmax over the top-k
// logits, experts with biases and a clamped SwiGLU). Mirrors transformers'
// GptOssForCausalLM.
//
// Two things the GGUF does not say are fixed here as the released models have them:
//   - YaRN's correction range is not rounded (config `truncate: false`);
//   - layers 0, 2, 4, ... use the sliding window, the others full attention (transformers'
//     default layer_types for gpt-oss; llama.cpp's swa pattern of 2).
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/architectures.h"
#include "model/hparams.h"
#include "model/transformer_blocks.h"
#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/norm.h"

namespace sluice::model {
namespace {

constexpr const char* kArch = "gpt-oss";
constexpr int64_t kMaxSlidingWindow = int64_t{1} << 24;

std::string tensor_name(int64_t layer, std::string_view name, std::string_view kind = "weight") {
  return fmt::format("blk.{}.{}.{}", layer, name, kind);
}

struct GptOssHParams {
  TransformerHParams base;
  int64_t sliding_window = 0;
  std::vector<bool> sliding;  // per layer: windowed (true) or full attention
};

GptOssHParams read_gpt_oss_hparams(const gguf::GgufFile& file) {
  GptOssHParams hp;
  hp.base = read_transformer_hparams(file, kArch, ops::RopeStyle::kNeox);
  hp.base.rope.yarn.truncate = false;
  if (hp.base.n_expert == 0) {
    throw ModelError(fmt::format("{}: gpt-oss needs {}.expert_count (every layer is MoE)",
                                 file.path(), kArch));
  }
  const std::string window_key = std::string(kArch) + ".attention.sliding_window";
  const uint64_t window = file.get_uint(window_key);
  if (window == 0 || window > static_cast<uint64_t>(kMaxSlidingWindow)) {
    throw ModelError(fmt::format("{}: metadata '{}' = {} is out of range (1 to {})", file.path(),
                                 window_key, window, kMaxSlidingWindow));
  }
  hp.sliding_window = static_cast<int64_t>(window);
  hp.sliding.resize(static_cast<size_t>(hp.base.n_layer));
  for (int64_t l = 0; l < hp.base.n_layer; ++l) hp.sliding[static_cast<size_t>(l)] = l % 2 == 0;
  return hp;
}

struct GptOssAttentionWeights {
  quant::MatrixView q, k, v, output;
  std::span<const float> q_bias, k_bias, v_bias, output_bias;
  std::span<const float> sinks;  // one logit per query head
};

struct GptOssLayer {
  std::span<const float> attn_norm, post_attention_norm;
  GptOssAttentionWeights attention;
  quant::MatrixView router;          // ffn_gate_inp: [n_expert rows, n_embd]
  std::vector<float> gate_bias, up_bias, down_bias;  // per expert, widened from the file
  MoeOptions moe;                    // points into this layer's biases
};

class GptOssModel : public Model {
 public:
  GptOssModel(const gguf::GgufFile& file, const store::StoreConfig& config)
      : hp_(read_gpt_oss_hparams(file)), store_(file) {
    const TransformerHParams& b = hp_.base;
    info_ = {b.arch, b.n_vocab, b.n_ctx_train, b.n_layer, b.n_embd};
    const int64_t embd_dims[] = {b.n_embd, b.n_vocab};
    token_embd_ = store_.load_matrix("token_embd.weight", embd_dims);
    output_ = store_.has("output.weight") ? store_.load_matrix("output.weight", embd_dims)
                                          : token_embd_;
    output_norm_ = store_.load_vector("output_norm.weight", b.n_embd);

    std::vector<store::ExpertTensorNames> expert_names(static_cast<size_t>(b.n_layer));
    layers_.resize(static_cast<size_t>(b.n_layer));
    for (int64_t l = 0; l < b.n_layer; ++l) {
      GptOssLayer& layer = layers_[static_cast<size_t>(l)];
      layer.attn_norm = store_.load_vector(tensor_name(l, "attn_norm"), b.n_embd);
      layer.post_attention_norm = store_.load_vector(tensor_name(l, "post_attention_norm"), b.n_embd);
      layer.attention = load_attention(l);
      load_moe(l, layer);
      expert_names[static_cast<size_t>(l)] = {tensor_name(l, "ffn_gate_exps"),
                                              tensor_name(l, "ffn_up_exps"),
                                              tensor_name(l, "ffn_down_exps")};
    }
    experts_ = store::make_expert_provider(store_, expert_names, b.n_embd, b.n_ff_exp,
                                           static_cast<int32_t>(b.n_expert), config);
  }

  const ModelInfo& info() const override { return info_; }
  const store::ExpertProvider* experts() const override { return experts_.get(); }

  // Every layer keeps keys and values for the whole context, windowed layers included.
  KvCache new_cache(int64_t n_ctx) const override {
    const TransformerHParams& b = hp_.base;
    return KvCache(b.n_layer, n_ctx, b.n_head_kv * b.head_dim_k, b.n_head_kv * b.head_dim_v);
  }

  // GptOssModel.forward: x += attn(rms_norm(x)); x += moe(rms_norm(x)) per layer.
  void forward(ops::ThreadPool& pool, std::span<const int32_t> tokens, KvCache& cache,
               LogitsMode mode, float* logits) override {
    const TransformerHParams& b = hp_.base;
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    const int64_t n_embd = b.n_embd;
    if (n_tokens == 0) return;
    std::vector<float> x = embed_tokens(b, token_embd_, tokens, cache);

    std::vector<float> normed(x.size());
    std::vector<float> branch(x.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      const GptOssLayer& layer = layers_[l];
      const auto il = static_cast<int32_t>(l);
      ops::rms_norm_rows(x.data(), layer.attn_norm.data(), n_tokens, n_embd, b.rms_eps, normed.data());
      attention_block(pool, layer.attention, hp_.sliding[l], normed.data(), n_tokens, cache, il,
                      branch.data());
      add_residual(x, branch);

      ops::rms_norm_rows(x.data(), layer.post_attention_norm.data(), n_tokens, n_embd, b.rms_eps,
                         normed.data());
      const GptOssLayer* next = l + 1 < layers_.size() ? &layers_[l + 1] : nullptr;
      moe_block(pool, b, layer.router, *experts_, il, normed.data(), n_tokens, cache.n_past(),
                routing_observer_, branch.data(), next ? &next->router : nullptr, il + 1,
                layer.moe, next ? &next->moe : nullptr);
      add_residual(x, branch);
    }
    cache.advance(n_tokens);

    output_logits(pool, b, output_norm_, output_, x.data(), n_tokens, mode, normed.data(), logits);
  }

 private:
  GptOssAttentionWeights load_attention(int64_t l) {
    const TransformerHParams& b = hp_.base;
    const int64_t q_width = b.n_head * b.head_dim_k;
    const int64_t k_width = b.n_head_kv * b.head_dim_k;
    const int64_t v_width = b.n_head_kv * b.head_dim_v;
    const int64_t o_width = b.n_head * b.head_dim_v;
    const int64_t q_dims[] = {b.n_embd, q_width};
    const int64_t k_dims[] = {b.n_embd, k_width};
    const int64_t v_dims[] = {b.n_embd, v_width};
    const int64_t o_dims[] = {o_width, b.n_embd};
    GptOssAttentionWeights w;
    w.q = store_.load_matrix(tensor_name(l, "attn_q"), q_dims);
    w.k = store_.load_matrix(tensor_name(l, "attn_k"), k_dims);
    w.v = store_.load_matrix(tensor_name(l, "attn_v"), v_dims);
    w.output = store_.load_matrix(tensor_name(l, "attn_output"), o_dims);
    w.q_bias = store_.load_vector(tensor_name(l, "attn_q", "bias"), q_width);
    w.k_bias = store_.load_vector(tensor_name(l, "attn_k", "bias"), k_width);
    w.v_bias = store_.load_vector(tensor_name(l, "attn_v", "bias"), v_width);
    w.output_bias = store_.load_vector(tensor_name(l, "attn_output", "bias"), b.n_embd);
    w.sinks = store_.load_vector(tensor_name(l, "attn_sinks"), b.n_head);
    return w;
  }

  // A stacked [n_expert, width] bias tensor widened to f32, expert after expert.
  std::vector<float> load_expert_bias(int64_t l, std::string_view name, int64_t width) {
    const int64_t dims[] = {width, hp_.base.n_expert};
    const quant::MatrixView stacked = store_.load_matrix(tensor_name(l, name, "bias"), dims);
    std::vector<float> values(static_cast<size_t>(width * hp_.base.n_expert));
    for (int64_t e = 0; e < hp_.base.n_expert; ++e) {
      ops::decode_matrix_row(stacked, e, values.data() + e * width);
    }
    return values;
  }

  // GptOssMLP: GptOssTopKRouter (linear with bias, top-k, softmax over the k) and
  // GptOssExperts (gate/up with biases, clamped SwiGLU, down with bias).
  void load_moe(int64_t l, GptOssLayer& layer) {
    const TransformerHParams& b = hp_.base;
    const int64_t router_dims[] = {b.n_embd, b.n_expert};
    layer.router = store_.load_matrix(tensor_name(l, "ffn_gate_inp"), router_dims);
    layer.gate_bias = load_expert_bias(l, "ffn_gate_exps", b.n_ff_exp);
    layer.up_bias = load_expert_bias(l, "ffn_up_exps", b.n_ff_exp);
    layer.down_bias = load_expert_bias(l, "ffn_down_exps", b.n_embd);
    layer.moe.top_k_then_softmax = true;
    layer.moe.router_bias = store_.load_vector(tensor_name(l, "ffn_gate_inp", "bias"), b.n_expert);
    layer.moe.gate_bias = layer.gate_bias;
    layer.moe.up_bias = layer.up_bias;
    layer.moe.down_bias = layer.down_bias;
    layer.moe.clamped_swiglu = ops::ClampedSwigluParams{};  // alpha 1.702, limit 7 in every release
  }

  // GptOssAttention.forward: biased q/k/v projections, NEOX RoPE with YaRN, attention with
  // sinks (windowed on sliding layers), biased output projection.
  void attention_block(ops::ThreadPool& pool, const GptOssAttentionWeights& w, bool sliding,
                       const float* x, int64_t n_tokens, KvCache& cache, int64_t layer,
                       float* out) const {
    const TransformerHParams& b = hp_.base;
    const int64_t first_pos = cache.n_past();
    const int64_t q_width = b.n_head * b.head_dim_k;
    const int64_t k_width = cache.k_width();
    const int64_t v_width = cache.v_width();
    std::vector<float> q(static_cast<size_t>(n_tokens * q_width));
    float* k_new = cache.keys(layer) + first_pos * k_width;
    float* v_new = cache.values(layer) + first_pos * v_width;
    const ops::MatmulTask qkv[] = {{&w.q, x, n_tokens, q.data()}, {&w.k, x, n_tokens, k_new},
                                   {&w.v, x, n_tokens, v_new}};
    ops::matmul_many(pool, qkv);
    for (int64_t t = 0; t < n_tokens; ++t) {
      float* qt = q.data() + t * q_width;
      float* kt = k_new + t * k_width;
      float* vt = v_new + t * v_width;
      for (int64_t i = 0; i < q_width; ++i) qt[i] += w.q_bias[i];
      for (int64_t i = 0; i < k_width; ++i) kt[i] += w.k_bias[i];
      for (int64_t i = 0; i < v_width; ++i) vt[i] += w.v_bias[i];
      ops::apply_rope(b.rope, qt, b.n_head, b.head_dim_k, first_pos + t);
      ops::apply_rope(b.rope, kt, b.n_head_kv, b.head_dim_k, first_pos + t);
    }

    ops::AttentionShape shape;
    shape.n_head = b.n_head;
    shape.n_head_kv = b.n_head_kv;
    shape.head_dim_k = b.head_dim_k;
    shape.head_dim_v = b.head_dim_v;
    shape.scale = 1.0f / std::sqrt(static_cast<float>(b.head_dim_k));
    shape.sliding_window = sliding ? hp_.sliding_window : 0;
    shape.sinks = w.sinks.data();
    std::vector<float> attended(static_cast<size_t>(n_tokens * b.n_head * b.head_dim_v));
    ops::causal_attention(pool, shape, q.data(), n_tokens, first_pos, cache.keys(layer),
                          cache.values(layer), attended.data());
    ops::matmul(pool, w.output, attended.data(), n_tokens, out);
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t i = 0; i < b.n_embd; ++i) out[t * b.n_embd + i] += w.output_bias[i];
    }
  }

  GptOssHParams hp_;
  ModelInfo info_;
  store::TensorStore store_;
  quant::MatrixView token_embd_;
  quant::MatrixView output_;
  std::span<const float> output_norm_;
  std::vector<GptOssLayer> layers_;  // sized once: MoeOptions point into its elements
  std::unique_ptr<store::ExpertProvider> experts_;
};

}  // namespace

std::unique_ptr<Model> make_gpt_oss(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<GptOssModel>(file, config);
}

}  // namespace sluice::model
