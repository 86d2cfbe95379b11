#include "store/model_layout.h"

#include <charconv>
#include <map>

namespace sluice::store {

std::optional<int32_t> layer_of(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  int32_t layer = 0;
  const char* begin = name.data() + kPrefix.size();
  const auto [end, error] = std::from_chars(begin, name.data() + name.size(), layer);
  if (error != std::errc() || end == begin || *end != '.') return std::nullopt;
  return layer;
}

namespace {
bool is_routed_expert_tensor(const gguf::TensorInfo& t) {
  return t.name.find("_exps.") != std::string::npos && t.dims.size() == 3 && layer_of(t.name);
}
}  // namespace

ModelLayout analyze_layout(const gguf::GgufFile& file) {
  ModelLayout layout;
  std::map<int32_t, ExpertLayerLayout> layers;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (!is_routed_expert_tensor(t)) {
      layout.dense_bytes += t.n_bytes;
      continue;
    }
    layout.expert_bytes += t.n_bytes;
    ExpertLayerLayout& layer = layers[*layer_of(t.name)];
    layer.layer = *layer_of(t.name);
    layer.n_expert = static_cast<int64_t>(t.dims[2]);
    layer.bytes_per_expert += t.n_bytes / t.dims[2];
    layer.tensors.push_back(&t);
  }
  for (auto& [index, layer] : layers) layout.expert_layers.push_back(std::move(layer));
  return layout;
}

}  // namespace sluice::store
