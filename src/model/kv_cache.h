// Per-layer key/value cache of a generation session.
#pragma once

#include <cstdint>
#include <vector>

#include "util/error.h"

namespace sluice::model {

class KvCache {
 public:
  KvCache() = default;
  // k_width / v_width: floats per position per layer (n_head_kv * head_dim).
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width)
      : n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width) {
    keys_.resize(static_cast<size_t>(n_layer));
    values_.resize(static_cast<size_t>(n_layer));
    for (auto& k : keys_) k.resize(static_cast<size_t>(n_ctx * k_width));
    for (auto& v : values_) v.resize(static_cast<size_t>(n_ctx * v_width));
  }

  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_past() const { return n_past_; }
  void advance(int64_t n) {
    SLUICE_ASSERT(n_past_ + n <= n_ctx_);
    n_past_ += n;
  }
  void clear() { n_past_ = 0; }

  float* keys(int64_t layer) { return keys_[static_cast<size_t>(layer)].data(); }
  float* values(int64_t layer) { return values_[static_cast<size_t>(layer)].data(); }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }
  uint64_t bytes() const {
    return static_cast<uint64_t>(keys_.size()) * static_cast<uint64_t>(n_ctx_) *
           static_cast<uint64_t>(k_width_ + v_width_) * sizeof(float);
  }

 private:
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  int64_t k_width_ = 0;
  int64_t v_width_ = 0;
  std::vector<std::vector<float>> keys_;
  std::vector<std::vector<float>> values_;
};

}  // namespace sluice::model
