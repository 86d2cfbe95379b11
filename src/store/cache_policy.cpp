#include "store/cache_policy.h"

#include <cmath>
#include <fmt/format.h>
#include <limits>

#include "util/error.h"

namespace sluice::store {
namespace {

// Least recently used.
class LruPolicy : public CachePolicy {
 public:
  explicit LruPolicy(size_t n_keys) : last_use_(n_keys, 0) {}
  std::string_view name() const override { return "lru"; }
  void on_access(ExpertKey key) override { last_use_[key] = ++clock_; }
  ExpertKey choose_victim(std::span<const ExpertKey> candidates) override {
    ExpertKey victim = candidates[0];
    for (ExpertKey k : candidates) {
      if (last_use_[k] < last_use_[victim]) victim = k;
    }
    return victim;
  }

 private:
  std::vector<uint64_t> last_use_;
  uint64_t clock_ = 0;
};

// Least frequently used, with counts that halve every `half_life` accesses so that experts
// that were popular long ago make room for today's (decay applied lazily).
class DecayedLfuPolicy : public CachePolicy {
 public:
  DecayedLfuPolicy(size_t n_keys, double half_life)
      : count_(n_keys, 0.0), stamp_(n_keys, 0), decay_per_access_(std::pow(0.5, 1.0 / half_life)) {}
  std::string_view name() const override { return "lfu"; }
  void on_access(ExpertKey key) override {
    ++clock_;
    count_[key] = current(key) + 1.0;
    stamp_[key] = clock_;
  }
  ExpertKey choose_victim(std::span<const ExpertKey> candidates) override {
    ExpertKey victim = candidates[0];
    double lowest = current(victim);
    for (ExpertKey k : candidates) {
      const double c = current(k);
      if (c < lowest) {
        lowest = c;
        victim = k;
      }
    }
    return victim;
  }

 private:
  double current(ExpertKey key) const {
    return count_[key] * std::pow(decay_per_access_, static_cast<double>(clock_ - stamp_[key]));
  }
  std::vector<double> count_;
  std::vector<uint64_t> stamp_;
  double decay_per_access_;
  uint64_t clock_ = 0;
};

// Expected next use (ENU): approximates Belady's rule (evict what is needed furthest in the
// future) with what a MoE decoder knows about its own future. Layers are visited in a fixed
// cycle, so an expert of layer j cannot be needed before the cycle reaches j again: that is
// d_j layers away. Whether it is needed then is a coin with the expert's selection
// probability p (a decayed per-layer frequency, smoothed towards the uniform k/n); if it
// comes up tails the wait is a geometric number of further cycles. Expected wait in layer
// steps: d_j + L * (1 - p) / p. The victim is the candidate with the longest expected wait.
// Unlike LRU it does not evict the next layer's popular experts just because they were used
// a whole token ago, and unlike plain LFU it knows which layer comes next.
class ExpectedNextUsePolicy : public CachePolicy {
 public:
  ExpectedNextUsePolicy(int32_t n_layer, int32_t n_expert)
      : n_layer_(n_layer), n_expert_(n_expert),
        uses_(static_cast<size_t>(n_layer) * n_expert, 0.0),
        layer_visits_(static_cast<size_t>(n_layer), 0.0) {}
  std::string_view name() const override { return "enu"; }

  void on_access(ExpertKey key) override {
    const int32_t layer = key / n_expert_;
    if (layer != current_layer_) {  // a new visit of `layer`: decay its statistics
      current_layer_ = layer;
      for (int32_t e = 0; e < n_expert_; ++e) uses_[layer * n_expert_ + e] *= kDecay;
      layer_visits_[layer] = layer_visits_[layer] * kDecay + 1.0;
    }
    uses_[key] += 1.0;
  }

  ExpertKey choose_victim(std::span<const ExpertKey> candidates) override {
    ExpertKey victim = candidates[0];
    double longest = -1.0;
    for (ExpertKey k : candidates) {
      const double wait = expected_wait(k);
      if (wait > longest) {
        longest = wait;
        victim = k;
      }
    }
    return victim;
  }

 private:
  static constexpr double kDecay = 0.97;       // per visit of a layer: ~23-token half-life
  static constexpr double kPriorVisits = 4.0;  // weight of the uniform prior

  double expected_wait(ExpertKey key) const {
    const int32_t layer = key / n_expert_;
    const int32_t here = current_layer_ < 0 ? 0 : current_layer_;
    int32_t distance = (layer - here + n_layer_) % n_layer_;
    if (distance == 0) distance = n_layer_;  // the current layer comes round again last
    // Smoothed probability that one visit of the layer selects this expert; uses_ counts
    // selections, the prior spreads kPriorVisits visits' worth uniformly.
    const double visits = layer_visits_[layer] + kPriorVisits;
    const double prior = kPriorVisits / static_cast<double>(n_expert_);
    const double p = std::min(1.0, (uses_[key] + prior) / visits);
    return distance + n_layer_ * (1.0 - p) / p;
  }

  int32_t n_layer_, n_expert_;
  std::vector<double> uses_;
  std::vector<double> layer_visits_;
  int32_t current_layer_ = -1;
};

}  // namespace

std::vector<std::string> cache_policy_names() { return {"enu", "lru", "lfu"}; }

std::unique_ptr<CachePolicy> make_cache_policy(std::string_view name, int32_t n_layer,
                                               int32_t n_expert) {
  const auto n_keys = static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert);
  if (name == "lru") return std::make_unique<LruPolicy>(n_keys);
  if (name == "lfu") return std::make_unique<DecayedLfuPolicy>(n_keys, 4.0 * static_cast<double>(n_keys));
  if (name == "enu") return std::make_unique<ExpectedNextUsePolicy>(n_layer, n_expert);
  throw Error(fmt::format("unknown cache policy '{}' (known: enu, lru, lfu)", name));
}

}  // namespace sluice::store
