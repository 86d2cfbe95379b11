// The boundary between a model's MoE layers and wherever routed experts live.
//
// A model asks for "expert e of layer l" and gets views of its gate, up and down matrices
// that stay valid until it releases them. Whether the bytes are resident or streamed from
// SSD is the provider's business; the model never reads files.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "quant/matrix_view.h"
#include "store/io_engine.h"
#include "store/tensor_store.h"

namespace sluice::store {

struct ExpertWeights {
  quant::MatrixView gate;  // [n_ff_exp rows, n_embd cols]
  quant::MatrixView up;    // [n_ff_exp, n_embd]
  quant::MatrixView down;  // [n_embd, n_ff_exp]
};

// GGUF names of one layer's stacked expert tensors (ffn_{gate,up,down}_exps).
struct ExpertTensorNames {
  std::string gate, up, down;
};

class ExpertProvider {
 public:
  virtual ~ExpertProvider() = default;
  // Hint: these experts of `layer` will be acquired soon (the chosen experts of a batch, or
  // the predicted ones of the next layer). A streaming provider starts reading the missing
  // ones; it never blocks.
  // Experts chosen by the layer about to run are passed to prefetch (they are kept until
  // acquired); experts only predicted for a later layer to predict (read if room allows).
  virtual void prefetch(int32_t /*layer*/, std::span<const int32_t> /*experts*/) {}
  virtual void predict(int32_t /*layer*/, std::span<const int32_t> /*experts*/) {}
  // Whether predict does anything: a prediction costs the model a product with the next
  // layer's router (a few percent of decoding in memory), not worth it for resident experts.
  virtual bool wants_predictions() const { return false; }
  // Whether acquire would return without waiting for a read.
  virtual bool is_ready(int32_t /*layer*/, int32_t /*expert*/) const { return true; }
  // Views of one expert, valid until release(); blocks until its bytes are in memory.
  virtual ExpertWeights acquire(int32_t layer, int32_t expert) = 0;
  virtual void release(int32_t layer, int32_t expert) = 0;
};

// How routed experts are held. Without a budget every expert is resident.
struct StoreConfig {
  bool stream_experts = false;      // false: every expert resident, read at load time
  uint64_t expert_cache_bytes = 0;  // slot memory when streaming
  std::string policy = "enu";       // see cache_policy.h
  IoEngineKind io_engine = IoEngineKind::kAuto;
  unsigned queue_depth = 128;
  // Experts (layer * n_expert + expert) loaded at start and never evicted, most valuable
  // first; those beyond half of the slots are ignored so the cache can still adapt.
  std::vector<int32_t> pinned_experts;
};

// The provider `config` asks for, over the stacked expert tensors named in `layers`.
std::unique_ptr<ExpertProvider> make_expert_provider(TensorStore& store,
                                                     std::span<const ExpertTensorNames> layers,
                                                     int64_t n_embd, int64_t n_ff_exp,
                                                     int32_t n_expert, const StoreConfig& config);

// Every expert resident in memory: slices of the stacked tensors loaded through the store.
class ResidentExperts : public ExpertProvider {
 public:
  // layers[l] names layer l's tensors (empty names for layers without routed experts).
  ResidentExperts(TensorStore& store, std::span<const ExpertTensorNames> layers, int64_t n_embd,
                  int64_t n_ff_exp, int32_t n_expert);
  ExpertWeights acquire(int32_t layer, int32_t expert) override;
  void release(int32_t, int32_t) override {}

 private:
  struct LayerTensors {
    quant::MatrixView gate, up, down;  // all experts stacked: n_expert * rows
  };
  std::vector<LayerTensors> layers_;
  int64_t n_ff_exp_ = 0;
  int64_t n_embd_ = 0;
};

}  // namespace sluice::store
