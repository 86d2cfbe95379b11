// Random-weight GGUFs with the real shapes of large MoE models (`sluice synth`), so that
// streaming and kernels can be measured on 20-200 GB models without downloading them.
// The files carry complete metadata and a byte-level BPE vocabulary, so every command
// (and llama.cpp) runs them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "quant/ggml_type.h"

namespace sluice::model {

struct SyntheticSpec {
  std::string preset;
  std::string arch;  // GGUF architecture written
  int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t n_expert = 0, n_expert_used = 0, n_ff_exp = 0;
  int64_t n_vocab = 0, n_ctx_train = 0;
  float rope_freq_base = 1e6f;
};

std::vector<std::string> synthetic_preset_names();
// Throws sluice::Error for unknown presets and for presets of architectures sluice cannot
// run yet (naming the architecture).
SyntheticSpec synthetic_preset(const std::string& name);

struct SyntheticOptions {
  quant::GgmlType type = quant::GgmlType::Q4_K;  // routed experts and dense matrices
  int64_t n_layer = 0;                           // 0: the preset's
  int64_t n_expert = 0;                          // 0: the preset's
  int64_t n_vocab = 0;                           // 0: the preset's
  uint64_t seed = 1;
};

// Writes the model; `progress(done_bytes, total_bytes)` is called as tensor data is written.
// Returns the file size.
uint64_t write_synthetic_model(const SyntheticSpec& spec, const SyntheticOptions& options,
                               const std::string& path,
                               const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace sluice::model
