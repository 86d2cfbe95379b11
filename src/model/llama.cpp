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
    load_standard_layers(/*qk_norm=*/false, config);
  }
};

}  // namespace

std::unique_ptr<Model> make_llama(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<LlamaModel>(file, config);
}

}  // namespace sluice::model
