// The interface every architecture implements, and the registry that picks one from a GGUF.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "gguf/gguf_file.h"
#include "model/kv_cache.h"
#include "ops/thread_pool.h"
#include "store/expert_provider.h"

namespace sluice::model {

class ModelError : public Error {
 public:
  using Error::Error;
};

// Called for every MoE layer and token with the experts the router chose, in the router's
// order: tests compare them with references, the store learns from them.
using RoutingObserver =
    std::function<void(int32_t layer, int64_t position, std::span<const int32_t> experts)>;

enum class LogitsMode { kNone, kLast, kAll };

struct ModelInfo {
  std::string architecture;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  int64_t n_layer = 0;
  int64_t n_embd = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;

  // A KV cache (and, for hybrid models, recurrent state) for `n_ctx` positions.
  virtual KvCache new_cache(int64_t n_ctx) const = 0;

  // Runs `tokens` at positions cache.n_past() .. + tokens.size() and appends them to the
  // cache. Writes logits ([1 or n_tokens, n_vocab] by `mode`) into `logits`.
  virtual void forward(ops::ThreadPool& pool, std::span<const int32_t> tokens, KvCache& cache,
                       LogitsMode mode, float* logits) = 0;

  void set_routing_observer(RoutingObserver observer) { routing_observer_ = std::move(observer); }

  // Where the routed experts come from (nullptr for dense models).
  virtual const store::ExpertProvider* experts() const { return nullptr; }

 protected:
  RoutingObserver routing_observer_;
};

// Opens the architecture named by general.architecture; throws ModelError for unknown
// architectures (naming it and listing the supported ones) and GgufError for bad files.
std::unique_ptr<Model> load_model(const gguf::GgufFile& file,
                                  const store::StoreConfig& store_config = {});

}  // namespace sluice::model
