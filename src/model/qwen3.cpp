// Qwen3 (arch `qwen3`) and Qwen3-MoE (arch `qwen3moe`): Llama's layout plus per-head RMSNorm
// of q and k before RoPE, RoPE in the NEOX pairing, and for qwen3moe a routed SwiGLU MoE in
// every layer (softmax routing, top-k renormalised). Mirrors transformers' Qwen3ForCausalLM
// and Qwen3MoeForCausalLM.
#include "model/architectures.h"
#include "model/decoder.h"

namespace sluice::model {
namespace {

class Qwen3Model : public Decoder {
 public:
  Qwen3Model(const gguf::GgufFile& file, const std::string& arch,
             const store::StoreConfig& config)
      : Decoder(file, read_transformer_hparams(file, arch, ops::RopeStyle::kNeox)) {
    load_standard_layers(/*qk_norm=*/true, config);
  }
};

}  // namespace

std::unique_ptr<Model> make_qwen3(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<Qwen3Model>(file, "qwen3", config);
}
std::unique_ptr<Model> make_qwen3moe(const gguf::GgufFile& file, const store::StoreConfig& config) {
  return std::make_unique<Qwen3Model>(file, "qwen3moe", config);
}

}  // namespace sluice::model
