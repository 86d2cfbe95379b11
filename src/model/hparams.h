// Hyper-parameters of decoder-only transformers, read from `<arch>.*` GGUF metadata with
// llama.cpp's key names, and validated before any buffer is sized from them.
#pragma once

#include <cstdint>
#include <string>

#include "gguf/gguf_file.h"
#include "ops/rope.h"

namespace sluice::model {

struct TransformerHParams {
  std::string arch;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim_k = 0;
  int64_t head_dim_v = 0;
  int64_t n_ff = 0;           // dense FFN width (0 when every layer is MoE)
  int64_t n_expert = 0;       // routed experts per MoE layer (0: dense model)
  int64_t n_expert_used = 0;  // top-k
  int64_t n_ff_exp = 0;       // routed expert FFN width
  bool expert_weights_norm = true;
  float rms_eps = 1e-6f;
  ops::RopeParams rope;
};

// Reads the common keys for `arch`; `rope_style` is fixed by the architecture. Throws
// GgufError for missing keys and ModelError for values that cannot describe a model.
TransformerHParams read_transformer_hparams(const gguf::GgufFile& file, const std::string& arch,
                                            ops::RopeStyle rope_style);

}  // namespace sluice::model
