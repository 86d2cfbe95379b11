// Qwen3-Next (arch `qwen3next`) and Qwen3.5 (arch `qwen35moe`, dense `qwen35`): hybrid decoders
// that interleave Gated DeltaNet linear attention with gated full attention (every
// `full_attention_interval`-th layer), each layer followed by a routed MoE with a sigmoid-gated
// shared expert (a dense SwiGLU FFN in `qwen35`). Mirrors transformers' Qwen3NextForCausalLM
// and Qwen3_5MoeForCausalLM (text only).
//
// The tensors are laid out as llama.cpp's convert_hf_to_gguf.py writes them:
//   - attn_norm, post_attention_norm, output_norm, attn_q_norm and attn_k_norm already hold
//     transformers' (1 + weight) (Qwen3NextRMSNorm); ssm_norm (the gated RMSNorm) holds weight;
//   - ssm_a holds A = -exp(A_log);
//   - attn_qkv holds the convolution's input channels q | k | v (qwen3next's per-key-group
//     interleaved in_proj_qkvz split apart) and attn_gate the z rows;
//   - qwen3next's ssm_ba keeps in_proj_ba's layout: per key head, r betas then r alphas
//     (r = value heads per key head);
//   - Qwen3.5's value heads are reordered from grouped to tiled (value head h reads key head
//     h % n_k_heads) in every tensor that has them, so the outputs are unchanged.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/architectures.h"
#include "model/hparams.h"
#include "model/memory_estimate.h"
#include "model/transformer_blocks.h"
#include "ops/attention.h"
#include "ops/conv1d.h"
#include "ops/gated_delta_rule.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/routing.h"
#include "quant/decode.h"

namespace sluice::model {
namespace {

constexpr int64_t kMaxDimension = int64_t{1} << 24;

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
float silu(float x) { return x / (1.0f + std::exp(-x)); }
// torch.nn.functional.softplus with its defaults (beta 1, threshold 20).
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

std::string tensor_name(int64_t layer, std::string_view name) {
  return fmt::format("blk.{}.{}.weight", layer, name);
}

struct HybridHParams {
  TransformerHParams base;
  int64_t n_ff_shexp = 0;
  std::vector<bool> recurrent;  // per layer: Gated DeltaNet (true) or full attention
  int64_t ssm_d_conv = 0;       // taps of the short convolution
  int64_t key_dim = 0;          // n_k_heads * head_k_dim
  int64_t value_dim = 0;        // n_v_heads * head_v_dim (ssm.inner_size)
  int64_t conv_dim = 0;         // channels of the convolution: q, k and v
  ops::GatedDeltaShape delta;
  bool fused_beta_alpha = false;  // qwen3next's ssm_ba instead of ssm_beta + ssm_alpha
};

int64_t read_dim(const gguf::GgufFile& file, const std::string& key) {
  const uint64_t value = file.get_uint(key);
  if (value == 0 || value > static_cast<uint64_t>(kMaxDimension)) {
    throw ModelError(fmt::format("{}: metadata '{}' = {} is out of range (1 to {})", file.path(),
                                 key, value, kMaxDimension));
  }
  return static_cast<int64_t>(value);
}

HybridHParams read_hybrid_hparams(const gguf::GgufFile& file, const std::string& arch) {
  HybridHParams hp;
  hp.base = read_transformer_hparams(file, arch, ops::RopeStyle::kNeox);
  // Qwen3.5 GGUFs may append multi-token-prediction blocks (nextn_predict_layers) after the
  // trunk; block_count includes them. Only the trunk computes the next token's logits.
  if (const auto n_nextn = file.find_uint(arch + ".nextn_predict_layers"); n_nextn && *n_nextn > 0) {
    if (*n_nextn >= static_cast<uint64_t>(hp.base.n_layer)) {
      throw ModelError(fmt::format("{}: {}.nextn_predict_layers = {} leaves no layers of {}",
                                   file.path(), arch, *n_nextn, hp.base.n_layer));
    }
    hp.base.n_layer -= static_cast<int64_t>(*n_nextn);
  }
  const TransformerHParams& b = hp.base;
  if (b.head_dim_k != b.head_dim_v) {
    throw ModelError(fmt::format("{}: gated attention needs key_length == value_length (got {} "
                                 "and {})", file.path(), b.head_dim_k, b.head_dim_v));
  }
  if (b.n_expert > 0) {
    const std::string key = arch + ".expert_shared_feed_forward_length";
    hp.n_ff_shexp = file.find(key) ? read_dim(file, key) : 0;
  }
  // rope.dimension_sections (Qwen3.5's multimodal RoPE) is not read: for text every section
  // gets the token's position, which is plain NEOX RoPE over rope.dimension_count dimensions.

  hp.ssm_d_conv = read_dim(file, arch + ".ssm.conv_kernel");
  hp.value_dim = read_dim(file, arch + ".ssm.inner_size");
  hp.delta.head_k_dim = read_dim(file, arch + ".ssm.state_size");
  hp.delta.n_k_heads = read_dim(file, arch + ".ssm.group_count");
  hp.delta.n_v_heads = read_dim(file, arch + ".ssm.time_step_rank");
  if (hp.delta.n_v_heads % hp.delta.n_k_heads != 0 || hp.value_dim % hp.delta.n_v_heads != 0) {
    throw ModelError(fmt::format("{}: {} value heads of inner size {} cannot be grouped over {} "
                                 "key heads", file.path(), hp.delta.n_v_heads, hp.value_dim,
                                 hp.delta.n_k_heads));
  }
  hp.delta.head_v_dim = hp.value_dim / hp.delta.n_v_heads;
  hp.delta.sharing = arch == "qwen3next" ? ops::DeltaHeadSharing::kGrouped
                                         : ops::DeltaHeadSharing::kTiled;
  hp.key_dim = hp.delta.n_k_heads * hp.delta.head_k_dim;
  hp.conv_dim = 2 * hp.key_dim + hp.value_dim;
  hp.fused_beta_alpha = arch == "qwen3next";

  hp.recurrent = read_recurrent_layers(file, arch, b.n_layer);
  return hp;
}

// Gated DeltaNet mixer (transformers' Qwen3NextGatedDeltaNet / Qwen3_5GatedDeltaNet).
struct DeltaNetWeights {
  quant::MatrixView qkv;          // attn_qkv: [conv_dim rows, n_embd]
  quant::MatrixView z;            // attn_gate: [value_dim, n_embd]
  quant::MatrixView beta_alpha;   // qwen3next ssm_ba: [2 * n_v_heads, n_embd]
  quant::MatrixView beta, alpha;  // Qwen3.5 ssm_beta, ssm_alpha: [n_v_heads, n_embd]
  std::vector<float> conv;        // ssm_conv1d widened: [conv_dim][d_conv]
  std::span<const float> a;       // ssm_a = -exp(A_log): [n_v_heads]
  std::span<const float> dt_bias; // ssm_dt.bias: [n_v_heads]
  std::span<const float> norm;    // ssm_norm: [head_v_dim]
  quant::MatrixView out;          // ssm_out: [n_embd, value_dim]
};

// Full attention with an output gate (transformers' Qwen3NextAttention): q_proj yields, per
// head, head_dim query values followed by head_dim gate values.
struct GatedAttentionWeights {
  quant::MatrixView q_gate, k, v, output;
  std::span<const float> q_norm, k_norm;
};

struct HybridLayer {
  bool recurrent = false;
  std::span<const float> attn_norm, post_attention_norm;
  DeltaNetWeights delta;
  GatedAttentionWeights attention;
  quant::MatrixView router;              // ffn_gate_inp; no data: dense FFN layer
  DenseFfnWeights dense_ffn;             // when there is no router
  DenseFfnWeights shared_expert;         // ffn_{gate,up,down}_shexp
  quant::MatrixView shared_expert_gate;  // ffn_gate_inp_shexp: [1, n_embd]; no data: none
};

class Qwen3NextModel : public Model {
 public:
  Qwen3NextModel(const gguf::GgufFile& file, const std::string& arch,
                 const store::StoreConfig& config)
      : hp_(read_hybrid_hparams(file, arch)), store_(file) {
    const TransformerHParams& b = hp_.base;
    info_ = {b.arch, b.n_vocab, b.n_ctx_train, b.n_layer, b.n_embd};
    const int64_t embd_dims[] = {b.n_embd, b.n_vocab};
    token_embd_ = store_.load_matrix("token_embd.weight", embd_dims);
    output_ = store_.has("output.weight") ? store_.load_matrix("output.weight", embd_dims)
                                          : token_embd_;
    output_norm_ = store_.load_vector("output_norm.weight", b.n_embd);

    std::vector<store::ExpertTensorNames> expert_names(static_cast<size_t>(b.n_layer));
    for (int64_t l = 0; l < b.n_layer; ++l) {
      HybridLayer layer;
      layer.recurrent = hp_.recurrent[static_cast<size_t>(l)];
      layer.attn_norm = store_.load_vector(tensor_name(l, "attn_norm"), b.n_embd);
      layer.post_attention_norm = store_.load_vector(tensor_name(l, "post_attention_norm"), b.n_embd);
      if (layer.recurrent) {
        layer.delta = load_delta_net(l);
      } else {
        layer.attention = load_gated_attention(l);
      }
      if (store_.has(tensor_name(l, "ffn_gate_inp"))) {
        if (b.n_expert == 0) {
          throw ModelError(fmt::format("{}: layer {} has a router but the metadata has no "
                                       "expert_count", file.path(), l));
        }
        const int64_t router_dims[] = {b.n_embd, b.n_expert};
        layer.router = store_.load_matrix(tensor_name(l, "ffn_gate_inp"), router_dims);
        expert_names[static_cast<size_t>(l)] = {tensor_name(l, "ffn_gate_exps"),
                                                tensor_name(l, "ffn_up_exps"),
                                                tensor_name(l, "ffn_down_exps")};
        if (store_.has(tensor_name(l, "ffn_up_shexp"))) load_shared_expert(l, layer);
      } else {
        if (b.n_ff == 0) {
          throw ModelError(fmt::format("{}: layer {} has neither a router nor a dense FFN "
                                       "(no feed_forward_length)", file.path(), l));
        }
        layer.dense_ffn = load_dense_ffn(store_, b, l);
      }
      layers_.push_back(std::move(layer));
    }
    if (b.n_expert > 0) {
      experts_ = store::make_expert_provider(store_, expert_names, b.n_embd, b.n_ff_exp,
                                             static_cast<int32_t>(b.n_expert), config);
    }
  }

  const ModelInfo& info() const override { return info_; }
  const store::ExpertProvider* experts() const override { return experts_.get(); }

  KvCache new_cache(int64_t n_ctx) const override {
    const TransformerHParams& b = hp_.base;
    RecurrentStateSize recurrent;
    recurrent.conv_floats = (hp_.ssm_d_conv - 1) * hp_.conv_dim;
    recurrent.delta_floats = ops::gated_delta_state_floats(hp_.delta);
    return KvCache(n_ctx, b.n_head_kv * b.head_dim_k, b.n_head_kv * b.head_dim_v, hp_.recurrent,
                   recurrent);
  }

  void forward(ops::ThreadPool& pool, std::span<const int32_t> tokens, KvCache& cache,
               LogitsMode mode, float* logits) override {
    const TransformerHParams& b = hp_.base;
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    const int64_t n_embd = b.n_embd;
    if (n_tokens == 0) return;
    std::vector<float> x = embed_tokens(b, token_embd_, tokens, cache);

    // Pre-norm residual stream (Qwen3NextDecoderLayer.forward).
    std::vector<float> normed(x.size());
    std::vector<float> branch(x.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      const HybridLayer& layer = layers_[l];
      const auto il = static_cast<int64_t>(l);
      ops::rms_norm_rows(x.data(), layer.attn_norm.data(), n_tokens, n_embd, b.rms_eps, normed.data());
      if (layer.recurrent) {
        delta_net_block(pool, layer.delta, normed.data(), n_tokens, cache, il, branch.data());
      } else {
        gated_attention_block(pool, layer.attention, normed.data(), n_tokens, cache, il,
                              branch.data());
      }
      add_residual(x, branch);

      ops::rms_norm_rows(x.data(), layer.post_attention_norm.data(), n_tokens, n_embd, b.rms_eps,
                         normed.data());
      const HybridLayer* next = l + 1 < layers_.size() ? &layers_[l + 1] : nullptr;
      ffn_block(pool, layer, next, static_cast<int32_t>(il), normed.data(), n_tokens,
                cache.n_past(), branch.data());
      add_residual(x, branch);
    }
    cache.advance(n_tokens);

    output_logits(pool, b, output_norm_, output_, x.data(), n_tokens, mode, normed.data(), logits);
  }

 private:
  DeltaNetWeights load_delta_net(int64_t l) {
    const int64_t n_embd = hp_.base.n_embd;
    const int64_t n_v = hp_.delta.n_v_heads;
    DeltaNetWeights w;
    const int64_t qkv_dims[] = {n_embd, hp_.conv_dim};
    const int64_t z_dims[] = {n_embd, hp_.value_dim};
    const int64_t out_dims[] = {hp_.value_dim, n_embd};
    const int64_t conv_dims[] = {hp_.ssm_d_conv, hp_.conv_dim};
    w.qkv = store_.load_matrix(tensor_name(l, "attn_qkv"), qkv_dims);
    w.z = store_.load_matrix(tensor_name(l, "attn_gate"), z_dims);
    if (hp_.fused_beta_alpha) {
      const int64_t ba_dims[] = {n_embd, 2 * n_v};
      w.beta_alpha = store_.load_matrix(tensor_name(l, "ssm_ba"), ba_dims);
    } else {
      const int64_t dims[] = {n_embd, n_v};
      w.beta = store_.load_matrix(tensor_name(l, "ssm_beta"), dims);
      w.alpha = store_.load_matrix(tensor_name(l, "ssm_alpha"), dims);
    }
    const quant::MatrixView conv = store_.load_matrix(tensor_name(l, "ssm_conv1d"), conv_dims);
    w.conv.resize(static_cast<size_t>(hp_.conv_dim * hp_.ssm_d_conv));
    for (int64_t c = 0; c < hp_.conv_dim; ++c) {
      ops::decode_matrix_row(conv, c, w.conv.data() + c * hp_.ssm_d_conv);
    }
    w.a = store_.load_vector(fmt::format("blk.{}.ssm_a", l), n_v);
    w.dt_bias = store_.load_vector(fmt::format("blk.{}.ssm_dt.bias", l), n_v);
    w.norm = store_.load_vector(tensor_name(l, "ssm_norm"), hp_.delta.head_v_dim);
    w.out = store_.load_matrix(tensor_name(l, "ssm_out"), out_dims);
    return w;
  }

  GatedAttentionWeights load_gated_attention(int64_t l) {
    const TransformerHParams& b = hp_.base;
    GatedAttentionWeights w;
    const int64_t q_dims[] = {b.n_embd, b.n_head * b.head_dim_k * 2};
    const int64_t k_dims[] = {b.n_embd, b.n_head_kv * b.head_dim_k};
    const int64_t v_dims[] = {b.n_embd, b.n_head_kv * b.head_dim_v};
    const int64_t o_dims[] = {b.n_head * b.head_dim_v, b.n_embd};
    w.q_gate = store_.load_matrix(tensor_name(l, "attn_q"), q_dims);
    w.k = store_.load_matrix(tensor_name(l, "attn_k"), k_dims);
    w.v = store_.load_matrix(tensor_name(l, "attn_v"), v_dims);
    w.output = store_.load_matrix(tensor_name(l, "attn_output"), o_dims);
    w.q_norm = store_.load_vector(tensor_name(l, "attn_q_norm"), b.head_dim_k);
    w.k_norm = store_.load_vector(tensor_name(l, "attn_k_norm"), b.head_dim_k);
    return w;
  }

  void load_shared_expert(int64_t l, HybridLayer& layer) {
    const int64_t n_embd = hp_.base.n_embd;
    if (hp_.n_ff_shexp == 0) {
      throw ModelError(fmt::format("{}: layer {} has a shared expert but the metadata has no "
                                   "expert_shared_feed_forward_length", store_.file().path(), l));
    }
    const int64_t gate_up_dims[] = {n_embd, hp_.n_ff_shexp};
    const int64_t down_dims[] = {hp_.n_ff_shexp, n_embd};
    layer.shared_expert = {store_.load_matrix(tensor_name(l, "ffn_gate_shexp"), gate_up_dims),
                           store_.load_matrix(tensor_name(l, "ffn_up_shexp"), gate_up_dims),
                           store_.load_matrix(tensor_name(l, "ffn_down_shexp"), down_dims)};
    // The converter writes the gate as [n_embd, 1]; llama-quantize's outputs hold [n_embd].
    const std::string gate_name = tensor_name(l, "ffn_gate_inp_shexp");
    const gguf::TensorInfo& gate = store_.file().require_tensor(gate_name);
    const int64_t gate_dims_2d[] = {n_embd, 1};
    const int64_t gate_dims_1d[] = {n_embd};
    layer.shared_expert_gate =
        gate.dims.size() == 1 ? store_.load_matrix(gate_name, gate_dims_1d)
                              : store_.load_matrix(gate_name, gate_dims_2d);
  }

  // Qwen3NextGatedDeltaNet.forward: projections, short causal conv + SiLU, the gated delta
  // rule over the layer's recurrent state, gated RMSNorm, output projection.
  void delta_net_block(ops::ThreadPool& pool, const DeltaNetWeights& w, const float* x,
                       int64_t n_tokens, KvCache& cache, int64_t layer, float* out) const {
    const int64_t n_v = hp_.delta.n_v_heads;
    const int64_t dv = hp_.delta.head_v_dim;
    const int64_t conv_dim = hp_.conv_dim;
    const auto sized = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };

    std::vector<float> qkv = sized(n_tokens * conv_dim);
    std::vector<float> z = sized(n_tokens * hp_.value_dim);
    std::vector<float> beta = sized(n_tokens * n_v);
    std::vector<float> decay = sized(n_tokens * n_v);  // g: log of the per-token decay
    const ops::MatmulTask projections[] = {{&w.qkv, x, n_tokens, qkv.data()},
                                           {&w.z, x, n_tokens, z.data()}};
    ops::matmul_many(pool, projections);
    if (hp_.fused_beta_alpha) {
      // in_proj_ba rows, per key head: r betas then r alphas (fix_query_key_value_ordering).
      std::vector<float> ba = sized(n_tokens * 2 * n_v);
      ops::matmul(pool, w.beta_alpha, x, n_tokens, ba.data());
      const int64_t r = n_v / hp_.delta.n_k_heads;
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t h = 0; h < n_v; ++h) {
          const float* group = ba.data() + t * 2 * n_v + (h / r) * 2 * r;
          beta[t * n_v + h] = group[h % r];
          decay[t * n_v + h] = group[r + h % r];
        }
      }
    } else {
      ops::matmul(pool, w.beta, x, n_tokens, beta.data());
      ops::matmul(pool, w.alpha, x, n_tokens, decay.data());
    }
    // beta = sigmoid(b); g = -exp(A_log) * softplus(a + dt_bias).
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t h = 0; h < n_v; ++h) {
        float& bt = beta[t * n_v + h];
        float& gt = decay[t * n_v + h];
        bt = sigmoid(bt);
        gt = w.a[h] * softplus(gt + w.dt_bias[h]);
      }
    }

    std::vector<float> mixed = sized(n_tokens * conv_dim);
    ops::causal_conv1d(pool, {conv_dim, hp_.ssm_d_conv}, w.conv.data(), qkv.data(), n_tokens,
                       cache.conv_state(layer), mixed.data());
    for (float& v : mixed) v = silu(v);

    std::vector<float> core = sized(n_tokens * hp_.value_dim);
    ops::GatedDeltaInputs inputs;
    inputs.q = mixed.data();
    inputs.k = mixed.data() + hp_.key_dim;
    inputs.v = mixed.data() + 2 * hp_.key_dim;
    inputs.row_stride = conv_dim;
    inputs.g = decay.data();
    inputs.beta = beta.data();
    inputs.n_tokens = n_tokens;
    ops::gated_delta_rule(pool, hp_.delta, inputs, cache.delta_state(layer), core.data());

    // Qwen3NextRMSNormGated: rms_norm(o) * weight * silu(z), per value head.
    for (int64_t row = 0; row < n_tokens * n_v; ++row) {
      float* o = core.data() + row * dv;
      ops::rms_norm(o, w.norm.data(), dv, hp_.base.rms_eps, o);
      const float* zr = z.data() + row * dv;
      for (int64_t j = 0; j < dv; ++j) o[j] *= silu(zr[j]);
    }
    ops::matmul(pool, w.out, core.data(), n_tokens, out);
  }

  // Qwen3NextAttention.forward: q/gate split, per-head q/k RMSNorm, partial NEOX RoPE, causal
  // attention over the KV cache, output * sigmoid(gate), output projection.
  void gated_attention_block(ops::ThreadPool& pool, const GatedAttentionWeights& w,
                             const float* x, int64_t n_tokens, KvCache& cache, int64_t layer,
                             float* out) const {
    const TransformerHParams& b = hp_.base;
    const int64_t hd = b.head_dim_k;
    const int64_t q_width = b.n_head * hd;
    const int64_t first_pos = cache.n_past();
    const int64_t k_width = cache.k_width();
    const int64_t v_width = cache.v_width();

    std::vector<float> q_gate(static_cast<size_t>(n_tokens * 2 * q_width));
    float* k_new = cache.keys(layer) + first_pos * k_width;
    float* v_new = cache.values(layer) + first_pos * v_width;
    const ops::MatmulTask qkv[] = {{&w.q_gate, x, n_tokens, q_gate.data()},
                                   {&w.k, x, n_tokens, k_new}, {&w.v, x, n_tokens, v_new}};
    ops::matmul_many(pool, qkv);

    std::vector<float> q(static_cast<size_t>(n_tokens * q_width));
    std::vector<float> gate(q.size());
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t h = 0; h < b.n_head; ++h) {
        const float* src = q_gate.data() + t * 2 * q_width + h * 2 * hd;
        std::copy_n(src, hd, q.data() + t * q_width + h * hd);
        std::copy_n(src + hd, hd, gate.data() + t * q_width + h * hd);
      }
      float* qt = q.data() + t * q_width;
      float* kt = k_new + t * k_width;
      ops::rms_norm_rows(qt, w.q_norm.data(), b.n_head, hd, b.rms_eps, qt);
      ops::rms_norm_rows(kt, w.k_norm.data(), b.n_head_kv, hd, b.rms_eps, kt);
      ops::apply_rope(b.rope, qt, b.n_head, hd, first_pos + t);
      ops::apply_rope(b.rope, kt, b.n_head_kv, hd, first_pos + t);
    }

    ops::AttentionShape shape;
    shape.n_head = b.n_head;
    shape.n_head_kv = b.n_head_kv;
    shape.head_dim_k = hd;
    shape.head_dim_v = b.head_dim_v;
    shape.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    std::vector<float> attended(static_cast<size_t>(n_tokens * b.n_head * b.head_dim_v));
    ops::causal_attention(pool, shape, q.data(), n_tokens, first_pos, cache.keys(layer),
                          cache.values(layer), attended.data());
    for (size_t i = 0; i < attended.size(); ++i) attended[i] *= sigmoid(gate[i]);
    ops::matmul(pool, w.output, attended.data(), n_tokens, out);
  }

  // Qwen3NextSparseMoeBlock.forward: routed experts (softmax top-k, renormalised) plus
  // sigmoid(shared_expert_gate(x)) * shared_expert(x); or the dense SwiGLU FFN.
  // `next` (the following layer, if any) lets the expert provider read ahead the experts its
  // router is predicted to choose.
  void ffn_block(ops::ThreadPool& pool, const HybridLayer& layer, const HybridLayer* next,
                 int32_t il, const float* x, int64_t n_tokens, int64_t first_pos, float* out) {
    const int64_t n_embd = hp_.base.n_embd;
    if (!layer.router.data) {
      dense_ffn_block(pool, layer.dense_ffn, x, n_tokens, out);
      return;
    }
    const bool next_is_moe = next && next->router.data;
    moe_block(pool, hp_.base, layer.router, *experts_, il, x, n_tokens, first_pos,
              routing_observer_, out, next_is_moe ? &next->router : nullptr, il + 1);
    if (!layer.shared_expert_gate.data) return;
    std::vector<float> shared(static_cast<size_t>(n_tokens * n_embd));
    std::vector<float> gate(static_cast<size_t>(n_tokens));
    dense_ffn_block(pool, layer.shared_expert, x, n_tokens, shared.data());
    ops::matmul(pool, layer.shared_expert_gate, x, n_tokens, gate.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float g = sigmoid(gate[t]);
      for (int64_t d = 0; d < n_embd; ++d) out[t * n_embd + d] += g * shared[t * n_embd + d];
    }
  }

  HybridHParams hp_;
  ModelInfo info_;
  store::TensorStore store_;
  quant::MatrixView token_embd_;
  quant::MatrixView output_;
  std::span<const float> output_norm_;
  std::vector<HybridLayer> layers_;
  std::unique_ptr<store::ExpertProvider> experts_;
};

}  // namespace

std::unique_ptr<Model> make_qwen3next(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<Qwen3NextModel>(file, "qwen3next", config);
}
std::unique_ptr<Model> make_qwen35moe(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<Qwen3NextModel>(file, "qwen35moe", config);
}
std::unique_ptr<Model> make_qwen35(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<Qwen3NextModel>(file, "qwen35", config);
}

}  // namespace sluice::model
