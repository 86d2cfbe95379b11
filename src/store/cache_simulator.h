// Replays a recorded routing trace through a cache policy to measure its hit rate, and
// through Belady's optimal offline policy for the upper bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/cache_policy.h"

namespace sluice::store {

// Expert choices of consecutive tokens: experts[(token * n_layer + layer) * k + j].
struct RoutingTrace {
  int32_t n_layer = 0;
  int32_t n_expert_used = 0;  // k
  int32_t n_expert = 0;
  std::vector<int16_t> experts;

  int64_t n_tokens() const { return static_cast<int64_t>(experts.size()) / (n_layer * n_expert_used); }
};

// Reads an int16 [token, layer, k] file; throws sluice::Error for a size that does not fit
// the shape or ids outside [0, n_expert).
RoutingTrace read_routing_trace(const std::string& path, int32_t n_layer, int32_t n_expert_used,
                                int32_t n_expert);

struct SimulationResult {
  uint64_t accesses = 0;
  uint64_t hits = 0;
  double hit_rate() const { return accesses ? static_cast<double>(hits) / static_cast<double>(accesses) : 0.0; }
};

// Demand caching of `capacity` experts (no prefetch); the experts of the layer being run are
// never evicted while it runs.
SimulationResult simulate_policy(const RoutingTrace& trace, size_t capacity, CachePolicy& policy);
SimulationResult simulate_belady(const RoutingTrace& trace, size_t capacity);

}  // namespace sluice::store
