// DeepSeek-V2 and DeepSeek-V3 (GGUF arch `deepseek2`): pre-norm decoders with multi-head latent
// attention (MLA), `leading_dense_block_count` dense SwiGLU layers, then MoE layers whose
// routed experts (grouped softmax or biased sigmoid routing, ops/group_routing.h) are added to
// an always-on shared expert. Mirrors transformers' DeepseekV3ForCausalLM (and
// DeepseekV2ForCausalLM, whose attention has no q_lora on the Lite models).
//
// The tensors are laid out as llama.cpp's convert_hf_to_gguf.py writes them:
//   - attn_q_a, attn_q_a_norm, attn_q_b (or attn_q without q_lora), attn_kv_a_mqa (the latent
//     then the shared rotated key), attn_kv_a_norm, attn_output;
//   - kv_b_proj split per head into attn_k_b ([n_head][kv_lora_rank rows][qk_nope], i.e. W_uk
//     transposed, ready to absorb into q) and attn_v_b ([n_head][v_head_dim rows][kv_lora_rank]);
//     older files keep the fused attn_kv_b ([n_head * (qk_nope + v_head_dim) rows][kv_lora_rank]);
//   - RoPE dimensions are not permuted: rope_interleave pairs adjacent dimensions;
//   - exp_probs_b.bias is e_score_correction_bias; ffn_*_shexp the shared experts.
// Attention runs in latent space (ops/attention_mla.h), so the cache keeps kv_lora_rank +
// qk_rope_head_dim floats per position and layer (576 in DeepSeek-V3, not 128 * (192 + 128)).
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/architectures.h"
#include "model/deepseek2_hparams.h"
#include "model/transformer_blocks.h"
#include "ops/attention_mla.h"
#include "ops/group_routing.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/rope.h"

namespace sluice::model {
namespace {

std::string tensor_name(int64_t layer, std::string_view name) {
  return fmt::format("blk.{}.{}.weight", layer, name);
}

// y = W^T x for n_tokens rows (x: [n_tokens, W.n_rows], y: [n_tokens, W.n_cols]): absorbing a
// fused attn_kv_b's key rows into q, where the rows run over qk_nope instead of the latent.
void transposed_matmul(const quant::MatrixView& w, const float* x, int64_t n_tokens, float* y) {
  std::vector<float> row(static_cast<size_t>(w.n_cols));
  std::fill(y, y + n_tokens * w.n_cols, 0.0f);
  for (int64_t r = 0; r < w.n_rows; ++r) {
    ops::decode_matrix_row(w, r, row.data());
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float xr = x[t * w.n_rows + r];
      float* yt = y + t * w.n_cols;
      for (int64_t c = 0; c < w.n_cols; ++c) yt[c] += xr * row[c];
    }
  }
}

// Heads whose per-head products share one pass of the thread pool hold at most this many
// floats of inputs and outputs: every head of a decoded token, a few heads of a prompt.
constexpr int64_t kHeadGroupFloats = 256 * 1024;

// y_h = W_h x_h for every head h (W_h^T x_h when `transposed`), for n_tokens rows of in_width
// inputs and out_width outputs: gather(h, t, dst) fills head h's input row t, scatter(h, t,
// src) takes its output row t. Heads run in groups through one matmul_many each.
template <class Gather, class Scatter>
void per_head_products(ops::ThreadPool& pool, const std::vector<quant::MatrixView>& w,
                       int64_t n_tokens, int64_t in_width, int64_t out_width, bool transposed,
                       const Gather& gather, const Scatter& scatter) {
  const auto n_head = static_cast<int64_t>(w.size());
  const int64_t per_head = n_tokens * (in_width + out_width);
  const int64_t group = std::clamp<int64_t>(kHeadGroupFloats / std::max<int64_t>(per_head, 1), 1, n_head);
  std::vector<float> inputs(static_cast<size_t>(group * n_tokens * in_width));
  std::vector<float> outputs(static_cast<size_t>(group * n_tokens * out_width));
  std::vector<ops::MatmulTask> tasks;
  for (int64_t h0 = 0; h0 < n_head; h0 += group) {
    const int64_t n = std::min(group, n_head - h0);
    tasks.clear();
    for (int64_t i = 0; i < n; ++i) {
      float* in = inputs.data() + i * n_tokens * in_width;
      float* out = outputs.data() + i * n_tokens * out_width;
      for (int64_t t = 0; t < n_tokens; ++t) gather(h0 + i, t, in + t * in_width);
      if (transposed) {
        transposed_matmul(w[h0 + i], in, n_tokens, out);
      } else {
        tasks.push_back({&w[h0 + i], in, n_tokens, out});
      }
    }
    ops::matmul_many(pool, tasks);
    for (int64_t i = 0; i < n; ++i) {
      const float* out = outputs.data() + i * n_tokens * out_width;
      for (int64_t t = 0; t < n_tokens; ++t) scatter(h0 + i, t, out + t * out_width);
    }
  }
}

struct MlaWeights {
  quant::MatrixView q;               // attn_q: [n_head * qk_head_dim rows, n_embd] (no q_lora)
  quant::MatrixView q_a, q_b;        // attn_q_a: [q_lora, n_embd]; attn_q_b: [n_head * qk_head_dim, q_lora]
  std::span<const float> q_a_norm;
  quant::MatrixView kv_a;            // attn_kv_a_mqa: [kv_lora + rope, n_embd]
  std::span<const float> kv_a_norm;
  // W_uk per head: attn_k_b's [kv_lora rows, qk_nope] (q_latent = k_up q_nope), or with a fused
  // attn_kv_b its [qk_nope rows, kv_lora] (q_latent = k_up^T q_nope).
  std::vector<quant::MatrixView> k_up;
  bool k_up_transposed = false;
  std::vector<quant::MatrixView> v_up;  // W_uv per head: [v_head_dim rows, kv_lora]
  quant::MatrixView output;             // attn_output: [n_embd, n_head * v_head_dim]
};

struct Deepseek2Layer {
  std::span<const float> attn_norm, ffn_norm;
  MlaWeights attention;
  quant::MatrixView router;            // ffn_gate_inp; no data: a leading dense layer
  std::span<const float> choice_bias;  // exp_probs_b; empty: none
  DenseFfnWeights dense_ffn;
  DenseFfnWeights shared_expert;       // ffn_*_shexp; no data: none
};

class Deepseek2Model : public Model {
 public:
  Deepseek2Model(const gguf::GgufFile& file, const store::StoreConfig& config)
      : hp_(read_deepseek2_hparams(file)), store_(file) {
    const TransformerHParams& b = hp_.base;
    info_ = {b.arch, b.n_vocab, b.n_ctx_train, b.n_layer, b.n_embd};
    const int64_t embd_dims[] = {b.n_embd, b.n_vocab};
    token_embd_ = store_.load_matrix("token_embd.weight", embd_dims);
    output_ = store_.has("output.weight") ? store_.load_matrix("output.weight", embd_dims) : token_embd_;
    output_norm_ = store_.load_vector("output_norm.weight", b.n_embd);

    std::vector<store::ExpertTensorNames> expert_names(static_cast<size_t>(b.n_layer));
    for (int64_t l = 0; l < b.n_layer; ++l) {
      Deepseek2Layer layer;
      layer.attn_norm = store_.load_vector(tensor_name(l, "attn_norm"), b.n_embd);
      layer.ffn_norm = store_.load_vector(tensor_name(l, "ffn_norm"), b.n_embd);
      layer.attention = load_attention(l);
      if (l < hp_.n_layer_dense_lead) {
        layer.dense_ffn = load_dense_ffn(store_, b, l);
      } else {
        const int64_t router_dims[] = {b.n_embd, b.n_expert};
        layer.router = store_.load_matrix(tensor_name(l, "ffn_gate_inp"), router_dims);
        const std::string bias = fmt::format("blk.{}.exp_probs_b.bias", l);
        if (store_.has(bias)) layer.choice_bias = store_.load_vector(bias, b.n_expert);
        expert_names[static_cast<size_t>(l)] = {tensor_name(l, "ffn_gate_exps"), tensor_name(l, "ffn_up_exps"),
                                                tensor_name(l, "ffn_down_exps")};
        if (hp_.n_ff_shexp > 0) {
          const int64_t gate_up_dims[] = {b.n_embd, hp_.n_ff_shexp};
          const int64_t down_dims[] = {hp_.n_ff_shexp, b.n_embd};
          layer.shared_expert = {store_.load_matrix(tensor_name(l, "ffn_gate_shexp"), gate_up_dims),
                                 store_.load_matrix(tensor_name(l, "ffn_up_shexp"), gate_up_dims),
                                 store_.load_matrix(tensor_name(l, "ffn_down_shexp"), down_dims)};
        }
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
    return KvCache(hp_.base.n_layer, n_ctx, hp_.cache_width(), 0);
  }

  void forward(ops::ThreadPool& pool, std::span<const int32_t> tokens, KvCache& cache,
               LogitsMode mode, float* logits) override {
    const TransformerHParams& b = hp_.base;
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    const int64_t n_embd = b.n_embd;
    if (n_tokens == 0) return;
    std::vector<float> x = embed_tokens(b, token_embd_, tokens, cache);

    // DeepseekV3DecoderLayer.forward: x += attn(norm(x)); x += mlp(norm(x)).
    std::vector<float> normed(x.size());
    std::vector<float> branch(x.size());
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Deepseek2Layer& layer = layers_[l];
      const auto il = static_cast<int32_t>(l);
      ops::rms_norm_rows(x.data(), layer.attn_norm.data(), n_tokens, n_embd, b.rms_eps, normed.data());
      attention_block(pool, layer.attention, normed.data(), n_tokens, cache, il, branch.data());
      add_residual(x, branch);

      ops::rms_norm_rows(x.data(), layer.ffn_norm.data(), n_tokens, n_embd, b.rms_eps, normed.data());
      const Deepseek2Layer* next = l + 1 < layers_.size() ? &layers_[l + 1] : nullptr;
      ffn_block(pool, layer, next, il, normed.data(), n_tokens, cache.n_past(), branch.data());
      add_residual(x, branch);
    }
    cache.advance(n_tokens);

    output_logits(pool, b, output_norm_, output_, x.data(), n_tokens, mode, normed.data(), logits);
  }

 private:
  MlaWeights load_attention(int64_t l) {
    const TransformerHParams& b = hp_.base;
    const int64_t n_head = b.n_head;
    const int64_t q_width = n_head * hp_.qk_head_dim();
    MlaWeights w;
    if (hp_.q_lora_rank > 0) {
      const int64_t q_a_dims[] = {b.n_embd, hp_.q_lora_rank};
      const int64_t q_b_dims[] = {hp_.q_lora_rank, q_width};
      w.q_a = store_.load_matrix(tensor_name(l, "attn_q_a"), q_a_dims);
      w.q_a_norm = store_.load_vector(tensor_name(l, "attn_q_a_norm"), hp_.q_lora_rank);
      w.q_b = store_.load_matrix(tensor_name(l, "attn_q_b"), q_b_dims);
    } else {
      const int64_t q_dims[] = {b.n_embd, q_width};
      w.q = store_.load_matrix(tensor_name(l, "attn_q"), q_dims);
    }
    const int64_t kv_a_dims[] = {b.n_embd, hp_.cache_width()};
    w.kv_a = store_.load_matrix(tensor_name(l, "attn_kv_a_mqa"), kv_a_dims);
    w.kv_a_norm = store_.load_vector(tensor_name(l, "attn_kv_a_norm"), hp_.kv_lora_rank);
    const int64_t rank = hp_.kv_lora_rank, nope = hp_.qk_nope_head_dim, dv = hp_.v_head_dim;
    if (store_.has(tensor_name(l, "attn_k_b")) || !store_.has(tensor_name(l, "attn_kv_b"))) {
      const int64_t k_b_dims[] = {nope, rank, n_head};
      const int64_t v_b_dims[] = {rank, dv, n_head};
      const quant::MatrixView k_b = store_.load_matrix(tensor_name(l, "attn_k_b"), k_b_dims);
      const quant::MatrixView v_b = store_.load_matrix(tensor_name(l, "attn_v_b"), v_b_dims);
      for (int64_t h = 0; h < n_head; ++h) {
        w.k_up.push_back(row_slice(k_b, h * rank, rank));
        w.v_up.push_back(row_slice(v_b, h * dv, dv));
      }
    } else {
      const int64_t kv_b_dims[] = {rank, n_head * (nope + dv)};
      const quant::MatrixView kv_b = store_.load_matrix(tensor_name(l, "attn_kv_b"), kv_b_dims);
      w.k_up_transposed = true;
      for (int64_t h = 0; h < n_head; ++h) {
        w.k_up.push_back(row_slice(kv_b, h * (nope + dv), nope));
        w.v_up.push_back(row_slice(kv_b, h * (nope + dv) + nope, dv));
      }
    }
    const int64_t o_dims[] = {n_head * dv, b.n_embd};
    w.output = store_.load_matrix(tensor_name(l, "attn_output"), o_dims);
    return w;
  }

  // DeepseekV3Attention.forward in latent space: queries (through the q_lora bottleneck),
  // the compressed latent and shared rotated key of each new token into the cache, W_uk
  // absorbed into the queries, attention over the cache, W_uv and the output projection.
  void attention_block(ops::ThreadPool& pool, const MlaWeights& w, const float* x, int64_t n_tokens,
                       KvCache& cache, int64_t layer, float* out) const {
    const TransformerHParams& b = hp_.base;
    const int64_t n_head = b.n_head;
    const int64_t qk_head = hp_.qk_head_dim(), nope = hp_.qk_nope_head_dim, n_rot = hp_.qk_rope_head_dim;
    const int64_t rank = hp_.kv_lora_rank, dv = hp_.v_head_dim, width = hp_.cache_width();
    const int64_t q_width = n_head * qk_head;
    const int64_t first_pos = cache.n_past();
    const auto sized = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n)); };

    std::vector<float> q = sized(n_tokens * q_width);
    if (w.q_a.data) {
      std::vector<float> q_a = sized(n_tokens * hp_.q_lora_rank);
      ops::matmul(pool, w.q_a, x, n_tokens, q_a.data());
      ops::rms_norm_rows(q_a.data(), w.q_a_norm.data(), n_tokens, hp_.q_lora_rank, b.rms_eps, q_a.data());
      ops::matmul(pool, w.q_b, q_a.data(), n_tokens, q.data());
    } else {
      ops::matmul(pool, w.q, x, n_tokens, q.data());
    }
    // The new positions' cache rows: latent (normed) then rotated key.
    float* kv_new = cache.keys(layer) + first_pos * width;
    ops::matmul(pool, w.kv_a, x, n_tokens, kv_new);
    for (int64_t t = 0; t < n_tokens; ++t) {
      float* row = kv_new + t * width;
      ops::rms_norm(row, w.kv_a_norm.data(), rank, b.rms_eps, row);
      ops::apply_rope(b.rope, row + rank, 1, n_rot, first_pos + t);
      ops::apply_rope(b.rope, q.data() + t * q_width + nope, n_head, qk_head, first_pos + t);
    }

    // Per head: q_latent = [W_uk^T q_nope | q_rope].
    std::vector<float> q_latent = sized(n_tokens * n_head * width);
    per_head_products(pool, w.k_up, n_tokens, nope, rank, w.k_up_transposed,
                      [&](int64_t h, int64_t t, float* dst) {
                        std::copy_n(q.data() + t * q_width + h * qk_head, nope, dst);
                      },
                      [&](int64_t h, int64_t t, const float* src) {
                        float* qh = q_latent.data() + (t * n_head + h) * width;
                        std::copy_n(src, rank, qh);
                        std::copy_n(q.data() + t * q_width + h * qk_head + nope, n_rot, qh + rank);
                      });

    ops::MlaAttentionShape shape;
    shape.n_head = n_head;
    shape.kv_lora_rank = rank;
    shape.n_rot = n_rot;
    shape.scale = hp_.attention_scale;
    std::vector<float> attended = sized(n_tokens * n_head * rank);
    ops::mla_attention(pool, shape, q_latent.data(), n_tokens, first_pos, cache.keys(layer), attended.data());

    // Per head: values = W_uv attended latent, then the output projection over all heads.
    std::vector<float> values = sized(n_tokens * n_head * dv);
    per_head_products(pool, w.v_up, n_tokens, rank, dv, /*transposed=*/false,
                      [&](int64_t h, int64_t t, float* dst) {
                        std::copy_n(attended.data() + (t * n_head + h) * rank, rank, dst);
                      },
                      [&](int64_t h, int64_t t, const float* src) {
                        std::copy_n(src, dv, values.data() + (t * n_head + h) * dv);
                      });
    ops::matmul(pool, w.output, values.data(), n_tokens, out);
  }

  // DeepseekV3MoE.forward (routed experts plus the shared experts), or DeepseekV3MLP for the
  // leading dense layers. `next` lets the expert provider read ahead the experts the next
  // layer's router is predicted to choose.
  void ffn_block(ops::ThreadPool& pool, const Deepseek2Layer& layer, const Deepseek2Layer* next,
                 int32_t il, const float* x, int64_t n_tokens, int64_t first_pos, float* out) {
    const int64_t n_embd = hp_.base.n_embd;
    if (!layer.router.data) {
      dense_ffn_block(pool, layer.dense_ffn, x, n_tokens, out);
      return;
    }
    MoeOptions options;
    options.select = [this](int32_t l, const float* logits, int32_t* ids, float* weights) {
      const std::span<const float> bias = layers_[static_cast<size_t>(l)].choice_bias;
      ops::group_limited_top_k(hp_.routing, logits, bias.empty() ? nullptr : bias.data(), ids, weights);
    };
    const bool next_is_moe = next && next->router.data;
    moe_block(pool, hp_.base, layer.router, *experts_, il, x, n_tokens, first_pos, routing_observer_,
              out, next_is_moe ? &next->router : nullptr, il + 1, options, &options);
    if (!layer.shared_expert.gate.data) return;
    std::vector<float> shared(static_cast<size_t>(n_tokens * n_embd));
    dense_ffn_block(pool, layer.shared_expert, x, n_tokens, shared.data());
    for (size_t i = 0; i < shared.size(); ++i) out[i] += shared[i];
  }

  Deepseek2HParams hp_;
  ModelInfo info_;
  store::TensorStore store_;
  quant::MatrixView token_embd_;
  quant::MatrixView output_;
  std::span<const float> output_norm_;
  std::vector<Deepseek2Layer> layers_;
  std::unique_ptr<store::ExpertProvider> experts_;
};

}  // namespace

std::unique_ptr<Model> make_deepseek2(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<Deepseek2Model>(file, config);
}

}  // namespace sluice::model
