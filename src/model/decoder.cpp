#include "model/decoder.h"

#include <fmt/format.h>

#include "ops/matmul.h"
#include "ops/norm.h"

namespace sluice::model {

Decoder::Decoder(const gguf::GgufFile& file, TransformerHParams hp)
    : hp_(std::move(hp)), store_(file) {
  info_.architecture = hp_.arch;
  info_.n_vocab = hp_.n_vocab;
  info_.n_ctx_train = hp_.n_ctx_train;
  info_.n_layer = hp_.n_layer;
  info_.n_embd = hp_.n_embd;
  const int64_t embd_dims[] = {hp_.n_embd, hp_.n_vocab};
  token_embd_ = store_.load_matrix("token_embd.weight", embd_dims);
  output_ = store_.has("output.weight") ? store_.load_matrix("output.weight", embd_dims) : token_embd_;
  output_norm_ = store_.load_vector("output_norm.weight", hp_.n_embd);
}

void Decoder::load_routed_experts(const store::StoreConfig& config) {
  std::vector<store::ExpertTensorNames> names(layers_.size());
  const int64_t router_dims[] = {hp_.n_embd, hp_.n_expert};
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (!store_.has(fmt::format("blk.{}.ffn_gate_inp.weight", l))) continue;
    layers_[l].router = store_.load_matrix(fmt::format("blk.{}.ffn_gate_inp.weight", l), router_dims);
    names[l] = {fmt::format("blk.{}.ffn_gate_exps.weight", l),
                fmt::format("blk.{}.ffn_up_exps.weight", l),
                fmt::format("blk.{}.ffn_down_exps.weight", l)};
  }
  experts_ = store::make_expert_provider(store_, names, hp_.n_embd, hp_.n_ff_exp,
                                         static_cast<int32_t>(hp_.n_expert), config);
}

void Decoder::load_standard_layers(bool qk_norm, const store::StoreConfig& config) {
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    DecoderLayer layer;
    layer.attn_norm = store_.load_vector(fmt::format("blk.{}.attn_norm.weight", l), hp_.n_embd);
    layer.ffn_norm = store_.load_vector(fmt::format("blk.{}.ffn_norm.weight", l), hp_.n_embd);
    layer.attention = load_attention(store_, hp_, l, qk_norm);
    if (hp_.n_expert == 0) layer.dense_ffn = load_dense_ffn(store_, hp_, l);
    add_layer(layer);
  }
  if (hp_.n_expert > 0) load_routed_experts(config);
}

KvCache Decoder::new_cache(int64_t n_ctx) const {
  return KvCache(hp_.n_layer, n_ctx, hp_.n_head_kv * hp_.head_dim_k, hp_.n_head_kv * hp_.head_dim_v);
}

void Decoder::forward(ops::ThreadPool& pool, std::span<const int32_t> tokens, KvCache& cache,
                      LogitsMode mode, float* logits) {
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  const int64_t n_embd = hp_.n_embd;
  if (n_tokens == 0) return;
  std::vector<float> x = embed_tokens(hp_, token_embd_, tokens, cache);

  std::vector<float> normed(x.size());
  std::vector<float> branch(x.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    const DecoderLayer& layer = layers_[l];
    const auto il = static_cast<int32_t>(l);
    ops::rms_norm_rows(x.data(), layer.attn_norm.data(), n_tokens, n_embd, hp_.rms_eps, normed.data());
    attention_block(pool, hp_, layer.attention, normed.data(), n_tokens, cache, il, branch.data());
    add_residual(x, branch);

    ops::rms_norm_rows(x.data(), layer.ffn_norm.data(), n_tokens, n_embd, hp_.rms_eps, normed.data());
    if (layer.router.data) {
      const DecoderLayer* next = l + 1 < layers_.size() ? &layers_[l + 1] : nullptr;
      const bool next_is_moe = next && next->router.data;
      moe_block(pool, hp_, layer.router, *experts_, il, normed.data(), n_tokens, cache.n_past(),
                routing_observer_, branch.data(), next_is_moe ? &next->router : nullptr, il + 1);
    } else {
      dense_ffn_block(pool, layer.dense_ffn, normed.data(), n_tokens, branch.data());
    }
    add_residual(x, branch);
  }
  cache.advance(n_tokens);

  output_logits(pool, hp_, output_norm_, output_, x.data(), n_tokens, mode, normed.data(), logits);
}

}  // namespace sluice::model
