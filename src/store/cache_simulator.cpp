#include "store/cache_simulator.h"

#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <limits>
#include <set>

#include "util/error.h"

namespace sluice::store {
namespace {

// Position of a (token, layer) group in the access sequence.
struct Group {
  int64_t begin, end;
};

}  // namespace

RoutingTrace read_routing_trace(const std::string& path, int32_t n_layer, int32_t n_expert_used,
                                int32_t n_expert) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(fmt::format("cannot open routing trace '{}'", path));
  const auto bytes = static_cast<uint64_t>(in.tellg());
  const uint64_t row = static_cast<uint64_t>(n_layer) * static_cast<uint64_t>(n_expert_used) * 2;
  if (row == 0 || bytes % row != 0) {
    throw Error(fmt::format("routing trace '{}' has {} bytes, not a whole number of tokens of "
                            "{} layers x {} experts (int16)",
                            path, bytes, n_layer, n_expert_used));
  }
  RoutingTrace trace{n_layer, n_expert_used, n_expert, std::vector<int16_t>(bytes / 2)};
  in.seekg(0);
  in.read(reinterpret_cast<char*>(trace.experts.data()), static_cast<std::streamsize>(bytes));
  for (int16_t e : trace.experts) {
    if (e < 0 || e >= n_expert) throw Error(fmt::format("routing trace '{}' has expert id {} outside 0..{}", path, e, n_expert - 1));
  }
  return trace;
}

SimulationResult simulate_policy(const RoutingTrace& trace, size_t capacity, CachePolicy& policy) {
  SimulationResult result;
  std::vector<char> cached(static_cast<size_t>(trace.n_layer) * trace.n_expert, 0);
  std::vector<ExpertKey> resident;
  std::vector<ExpertKey> candidates;
  const int32_t k = trace.n_expert_used;
  for (int64_t group = 0; group < trace.n_tokens() * trace.n_layer; ++group) {
    const int32_t layer = static_cast<int32_t>(group % trace.n_layer);
    const int16_t* chosen = trace.experts.data() + group * k;
    for (int32_t j = 0; j < k; ++j) {
      const ExpertKey key = layer * trace.n_expert + chosen[j];
      ++result.accesses;
      if (cached[key]) {
        ++result.hits;
      } else {
        if (resident.size() >= capacity) {
          candidates.clear();
          for (ExpertKey r : resident) {
            const bool in_use = r / trace.n_expert == layer && std::find(chosen, chosen + j, r % trace.n_expert) != chosen + j;
            if (!in_use) candidates.push_back(r);
          }
          SLUICE_ASSERT(!candidates.empty());
          const ExpertKey victim = policy.choose_victim(candidates);
          resident.erase(std::find(resident.begin(), resident.end(), victim));
          cached[victim] = 0;
          policy.on_evict(victim);
        }
        resident.push_back(key);
        cached[key] = 1;
        policy.on_insert(key);
      }
      policy.on_access(key);
    }
  }
  return result;
}

SimulationResult simulate_belady(const RoutingTrace& trace, size_t capacity) {
  const int32_t k = trace.n_expert_used;
  const auto n_access = static_cast<int64_t>(trace.experts.size());
  auto key_at = [&](int64_t i) {
    const int64_t group = i / k;
    return static_cast<ExpertKey>((group % trace.n_layer) * trace.n_expert + trace.experts[i]);
  };
  // next_use[i]: the next access index of the same key after i (or infinity).
  constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> next_use(static_cast<size_t>(n_access));
  std::vector<int64_t> upcoming(static_cast<size_t>(trace.n_layer) * trace.n_expert, kNever);
  for (int64_t i = n_access - 1; i >= 0; --i) {
    next_use[i] = upcoming[key_at(i)];
    upcoming[key_at(i)] = i;
  }
  SimulationResult result;
  std::vector<int64_t> cached_next(upcoming.size(), -1);  // -1: not cached
  std::set<std::pair<int64_t, ExpertKey>> by_next_use;     // resident keys, furthest last
  for (int64_t i = 0; i < n_access; ++i) {
    const ExpertKey key = key_at(i);
    ++result.accesses;
    if (cached_next[key] >= 0) {
      ++result.hits;
      by_next_use.erase({cached_next[key], key});
    } else if (by_next_use.size() >= capacity) {
      // Evict the key needed furthest in the future. Unlike simulate_policy this may pick
      // an expert of the group being run; being less constrained it can only do better, so
      // it remains an upper bound.
      auto victim = std::prev(by_next_use.end());
      cached_next[victim->second] = -1;
      by_next_use.erase(victim);
    }
    cached_next[key] = next_use[i];
    by_next_use.insert({next_use[i], key});
  }
  return result;
}

}  // namespace sluice::store
