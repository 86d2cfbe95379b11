// Division of the memory budget (`--mem`) between what must be resident and the expert cache.
//
// The budget covers the whole process: dense weights + KV/recurrent state + activation
// buffers + a reserve for code, stacks, metadata and allocator slack, and what is left holds
// expert slots. A budget that cannot hold the fixed part plus the slots of one layer's
// experts is refused with the size that would work.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::store {

struct BudgetRequest {
  uint64_t mem_budget = 0;
  uint64_t dense_bytes = 0;
  uint64_t state_bytes = 0;
  uint64_t buffer_bytes = 0;
  uint64_t reserve_bytes = 0;
  uint64_t slot_bytes = 0;       // one expert slot (0: nothing streams)
  uint64_t n_experts_total = 0;  // routed experts over all layers
  uint64_t min_slots = 1;        // fewest slots that can run
};

struct BudgetPlan {
  uint64_t fixed_bytes = 0;        // dense + state + buffers + reserve
  uint64_t expert_cache_bytes = 0;
  uint64_t n_slots = 0;
  bool all_experts_fit = false;
};

// Throws sluice::Error when the budget is too small, naming the smallest that would run.
BudgetPlan plan_budget(const BudgetRequest& request);

// One line per part, for the start-up report.
std::string describe_budget(const BudgetRequest& request, const BudgetPlan& plan);

}  // namespace sluice::store
