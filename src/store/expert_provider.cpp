#include "store/expert_provider.h"

#include "store/expert_cache.h"
#include "util/error.h"

namespace sluice::store {
namespace {

// Rows [expert * rows_per_expert, (expert + 1) * rows_per_expert) of a stacked tensor.
quant::MatrixView expert_slice(const quant::MatrixView& stacked, int32_t expert,
                               int64_t rows_per_expert) {
  return quant::row_slice(stacked, expert * rows_per_expert, rows_per_expert);
}

}  // namespace

ResidentExperts::ResidentExperts(TensorStore& store, std::span<const ExpertTensorNames> layers,
                                 int64_t n_embd, int64_t n_ff_exp, int32_t n_expert)
    : n_ff_exp_(n_ff_exp), n_embd_(n_embd) {
  const int64_t gate_up_dims[] = {n_embd, n_ff_exp, n_expert};
  const int64_t down_dims[] = {n_ff_exp, n_embd, n_expert};
  for (const ExpertTensorNames& names : layers) {
    LayerTensors tensors;
    if (!names.gate.empty()) {
      tensors.gate = store.load_matrix(names.gate, gate_up_dims);
      tensors.up = store.load_matrix(names.up, gate_up_dims);
      tensors.down = store.load_matrix(names.down, down_dims);
    }
    layers_.push_back(tensors);
  }
}

ExpertWeights ResidentExperts::acquire(int32_t layer, int32_t expert) {
  SLUICE_ASSERT(layer >= 0 && static_cast<size_t>(layer) < layers_.size());
  const LayerTensors& t = layers_[static_cast<size_t>(layer)];
  SLUICE_ASSERT(t.gate.data != nullptr);
  return {expert_slice(t.gate, expert, n_ff_exp_), expert_slice(t.up, expert, n_ff_exp_),
          expert_slice(t.down, expert, n_embd_)};
}

std::unique_ptr<ExpertProvider> make_expert_provider(TensorStore& store,
                                                     std::span<const ExpertTensorNames> layers,
                                                     int64_t n_embd, int64_t n_ff_exp,
                                                     int32_t n_expert, const StoreConfig& config) {
  if (config.stream_experts) return std::make_unique<ExpertCache>(store.file(), layers, n_expert, config);
  return std::make_unique<ResidentExperts>(store, layers, n_embd, n_ff_exp, n_expert);
}

}  // namespace sluice::store
