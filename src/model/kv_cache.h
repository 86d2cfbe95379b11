// Per-layer state of a generation session: the key/value cache of attention layers and, for
// hybrid models (Qwen3-Next, Qwen3.5), the recurrent state of their linear-attention layers
// (the rolling input window of the short convolution and the delta-rule memory).
//
// Copying a KvCache copies the whole session state (a snapshot); clear() starts a new session.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "util/error.h"
#include "util/huge_page_allocator.h"

namespace sluice::model {

// Floats of recurrent state per recurrent layer.
struct RecurrentStateSize {
  int64_t conv_floats = 0;   // the last (kernel - 1) inputs of every conv channel
  int64_t delta_floats = 0;  // n_v_heads * head_k_dim * head_v_dim
};

class KvCache {
 public:
  KvCache() = default;
  // k_width / v_width: floats per position per layer (n_head_kv * head_dim).
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width)
      : n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width) {
    keys_.resize(static_cast<size_t>(n_layer));
    values_.resize(static_cast<size_t>(n_layer));
    conv_states_.resize(static_cast<size_t>(n_layer));
    delta_states_.resize(static_cast<size_t>(n_layer));
    for (auto& k : keys_) k.resize(static_cast<size_t>(n_ctx * k_width));
    for (auto& v : values_) v.resize(static_cast<size_t>(n_ctx * v_width));
  }

  // A hybrid model's cache: layer l keeps keys and values when !recurrent[l], and zeroed
  // recurrent state of `recurrent_size` when recurrent[l].
  KvCache(int64_t n_ctx, int64_t k_width, int64_t v_width, const std::vector<bool>& recurrent,
          RecurrentStateSize recurrent_size)
      : n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width) {
    const size_t n_layer = recurrent.size();
    keys_.resize(n_layer);
    values_.resize(n_layer);
    conv_states_.resize(n_layer);
    delta_states_.resize(n_layer);
    for (size_t l = 0; l < n_layer; ++l) {
      if (recurrent[l]) {
        conv_states_[l].assign(static_cast<size_t>(recurrent_size.conv_floats), 0.0f);
        delta_states_[l].assign(static_cast<size_t>(recurrent_size.delta_floats), 0.0f);
      } else {
        keys_[l].resize(static_cast<size_t>(n_ctx * k_width));
        values_[l].resize(static_cast<size_t>(n_ctx * v_width));
      }
    }
  }

  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_past() const { return n_past_; }
  void advance(int64_t n) {
    SLUICE_ASSERT(n_past_ + n <= n_ctx_);
    n_past_ += n;
  }
  // Starts a new session: no positions, recurrent state back to zero.
  void clear() {
    n_past_ = 0;
    for (auto& s : conv_states_) std::fill(s.begin(), s.end(), 0.0f);
    for (auto& s : delta_states_) std::fill(s.begin(), s.end(), 0.0f);
  }

  float* keys(int64_t layer) { return keys_[static_cast<size_t>(layer)].data(); }
  float* values(int64_t layer) { return values_[static_cast<size_t>(layer)].data(); }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }

  bool has_recurrent_state(int64_t layer) const {
    return !delta_states_[static_cast<size_t>(layer)].empty();
  }
  // Recurrent state of a recurrent layer, sized as RecurrentStateSize says.
  float* conv_state(int64_t layer) {
    SLUICE_ASSERT(has_recurrent_state(layer));
    return conv_states_[static_cast<size_t>(layer)].data();
  }
  float* delta_state(int64_t layer) {
    SLUICE_ASSERT(has_recurrent_state(layer));
    return delta_states_[static_cast<size_t>(layer)].data();
  }

  // Bytes held: keys, values and recurrent state of every layer.
  uint64_t bytes() const {
    uint64_t floats = 0;
    const auto add = [&](const auto& group) {
      for (const auto& layer : group) floats += layer.size();
    };
    add(keys_);
    add(values_);
    add(conv_states_);
    add(delta_states_);
    return floats * sizeof(float);
  }

 private:
  int64_t n_ctx_ = 0;
  int64_t n_past_ = 0;
  int64_t k_width_ = 0;
  int64_t v_width_ = 0;
  // In huge pages where the kernel gives them: attention reads a head's rows 2 KiB apart.
  std::vector<std::vector<float, HugePageAllocator<float>>> keys_;
  std::vector<std::vector<float, HugePageAllocator<float>>> values_;
  std::vector<std::vector<float>> conv_states_;
  std::vector<std::vector<float>> delta_states_;
};

}  // namespace sluice::model
