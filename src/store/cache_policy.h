// Eviction policies of the expert cache, behind one small interface so they can be compared
// on recorded routing traces (cache_simulator.h) and swapped in live runs.
//
// Keys are experts numbered layer * n_expert + expert. Time is the count of accesses so far.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::store {

using ExpertKey = int32_t;

class CachePolicy {
 public:
  virtual ~CachePolicy() = default;
  virtual std::string_view name() const = 0;
  // The expert was used (a hit, or just loaded for a miss).
  virtual void on_access(ExpertKey key) = 0;
  // The expert entered the cache (before its first on_access when it is a demand miss).
  virtual void on_insert(ExpertKey /*key*/) {}
  virtual void on_evict(ExpertKey /*key*/) {}
  // Which of `candidates` (resident, evictable) to evict.
  virtual ExpertKey choose_victim(std::span<const ExpertKey> candidates) = 0;
};

// Names accepted by make_cache_policy: "lru", "lfu" (LFU with exponential decay), "enu"
// (expected next use, sluice's default: see cache_policy.cpp).
std::vector<std::string> cache_policy_names();
std::unique_ptr<CachePolicy> make_cache_policy(std::string_view name, int32_t n_layer,
                                               int32_t n_expert);

}  // namespace sluice::store
