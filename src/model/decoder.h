// The residual stream of a pre-norm decoder-only transformer (Llama, Qwen3, Qwen3-MoE):
// embedding, then per layer x += attn(norm(x)); x += ffn(norm(x)), then the output norm and
// the LM head. Architecture files fill its weights; the FFN of each layer is either dense or
// routed experts.
#pragma once

#include <memory>
#include <vector>

#include "model/model.h"
#include "model/transformer_blocks.h"

namespace sluice::model {

struct DecoderLayer {
  std::span<const float> attn_norm, ffn_norm;
  AttentionWeights attention;
  DenseFfnWeights dense_ffn;   // used when router.data is null
  quant::MatrixView router;    // ffn_gate_inp: [n_expert rows, n_embd]
};

class Decoder : public Model {
 public:
  // Loads token_embd, output_norm and output (tied to token_embd when absent).
  Decoder(const gguf::GgufFile& file, TransformerHParams hp);

  const ModelInfo& info() const override { return info_; }
  const store::ExpertProvider* experts() const override { return experts_.get(); }
  KvCache new_cache(int64_t n_ctx) const override;
  void forward(ops::ThreadPool& pool, std::span<const int32_t> tokens, KvCache& cache,
               LogitsMode mode, float* logits) override;

 protected:
  // Architecture files call these from their constructors.
  store::TensorStore& tensors() { return store_; }
  const TransformerHParams& hparams() const { return hp_; }
  void add_layer(const DecoderLayer& layer) { layers_.push_back(layer); }
  // Loads blk.N.ffn_{gate,up,down}_exps of every MoE layer as resident experts and the
  // router of each; call after adding the layers.
  void load_routed_experts(const store::StoreConfig& config);
  // The common layer layout: attn_norm, attention (with per-head q/k norms when `qk_norm`),
  // ffn_norm, then a dense SwiGLU FFN, or routed experts when the model has experts.
  void load_standard_layers(bool qk_norm, const store::StoreConfig& config);

 private:
  TransformerHParams hp_;
  ModelInfo info_;
  store::TensorStore store_;
  quant::MatrixView token_embd_;
  quant::MatrixView output_;
  std::span<const float> output_norm_;
  std::vector<DecoderLayer> layers_;
  std::unique_ptr<store::ExpertProvider> experts_;
};

}  // namespace sluice::model
