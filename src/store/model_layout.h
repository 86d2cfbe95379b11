// The split that matters for streaming: which bytes of a GGUF are dense (always resident)
// and which are routed experts (read on demand), and how big one expert is per layer.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gguf/gguf_file.h"

namespace sluice::store {

struct ExpertLayerLayout {
  int32_t layer = 0;
  int64_t n_expert = 0;
  uint64_t bytes_per_expert = 0;  // gate + up + down slices of one expert
  std::vector<const gguf::TensorInfo*> tensors;  // the layer's *_exps tensors
};

struct ModelLayout {
  uint64_t dense_bytes = 0;
  uint64_t expert_bytes = 0;
  std::vector<ExpertLayerLayout> expert_layers;  // only layers that have routed experts
};

// Routed-expert tensors are the stacked `blk.N.*_exps.*` tensors (llama.cpp's naming),
// whose last dimension is the expert count; everything else is dense.
ModelLayout analyze_layout(const gguf::GgufFile& file);

// Layer index of a `blk.N.` tensor name.
std::optional<int32_t> layer_of(std::string_view tensor_name);

}  // namespace sluice::store
