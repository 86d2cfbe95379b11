// Llama (arch `llama`): RMSNorm, GQA attention with RoPE on adjacent pairs (llama.cpp's
// converter permutes q/k for it), SwiGLU FFN; Mixtral-style routed experts when the file has
// them. Mirrors transformers' LlamaForCausalLM.
#include "model/architectures.h"
#include "model/decoder.h"

namespace sluice::model {
namespace {

class LlamaModel : public Decoder {
 public:
  LlamaModel(const gguf::GgufFile& file, const store::StoreConfig& config)
      : Decoder(file, read_transformer_hparams(file, "llama", ops::RopeStyle::kNormal)) {
    const TransformerHParams& hp = hparams();
    for (int64_t l = 0; l < hp.n_layer; ++l) {
      DecoderLayer layer;
      layer.attn_norm = tensors().load_vector(fmt::format("blk.{}.attn_norm.weight", l), hp.n_embd);
      layer.ffn_norm = tensors().load_vector(fmt::format("blk.{}.ffn_norm.weight", l), hp.n_embd);
      layer.attention = load_attention(tensors(), hp, l, /*qk_norm=*/false);
      if (hp.n_expert == 0) layer.dense_ffn = load_dense_ffn(tensors(), hp, l);
      add_layer(layer);
    }
    if (hp.n_expert > 0) load_routed_experts(config);
  }
};

}  // namespace

std::unique_ptr<Model> make_llama(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<LlamaModel>(file, config);
}

}  // namespace sluice::model
