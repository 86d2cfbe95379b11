#include "store/budget.h"

#include <algorithm>
#include <fmt/format.h>

#include "util/error.h"

namespace sluice::store {
namespace {

std::string gib(uint64_t bytes) {
  return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
}
std::string mib(uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024));
}

}  // namespace

BudgetPlan plan_budget(const BudgetRequest& r) {
  BudgetPlan plan;
  plan.fixed_bytes = r.dense_bytes + r.state_bytes + r.buffer_bytes + r.reserve_bytes;
  const uint64_t minimum = plan.fixed_bytes + r.min_slots * r.slot_bytes;
  if (r.mem_budget < minimum) {
    const bool dense_fits = r.mem_budget >= r.dense_bytes;
    throw Error(fmt::format(
        "memory budget {} is too small: {} ({} dense weights, {} KV/state, {} buffers, {} "
        "reserve) plus {} expert slots of {} are needed; use --mem {:.0f}M or more{}",
        gib(r.mem_budget), gib(plan.fixed_bytes), gib(r.dense_bytes), mib(r.state_bytes),
        mib(r.buffer_bytes), mib(r.reserve_bytes), r.min_slots, mib(r.slot_bytes),
        static_cast<double>(minimum) / (1024.0 * 1024) + 1,
        dense_fits ? "" : " (the dense weights alone exceed the budget)"));
  }
  if (r.slot_bytes == 0) return plan;  // nothing streams
  plan.n_slots = std::min(r.n_experts_total, (r.mem_budget - plan.fixed_bytes) / r.slot_bytes);
  plan.expert_cache_bytes = plan.n_slots * r.slot_bytes;
  plan.all_experts_fit = plan.n_slots == r.n_experts_total;
  return plan;
}

std::string describe_budget(const BudgetRequest& r, const BudgetPlan& plan) {
  return fmt::format(
      "memory budget {}: dense weights {}, KV/state {}, buffers {}, reserve {}, expert cache {} "
      "({} slots of {} = {:.1f}% of {} experts)",
      gib(r.mem_budget), gib(r.dense_bytes), mib(r.state_bytes), mib(r.buffer_bytes),
      mib(r.reserve_bytes), gib(plan.expert_cache_bytes), plan.n_slots, mib(r.slot_bytes),
      100.0 * static_cast<double>(plan.n_slots) / static_cast<double>(std::max<uint64_t>(1, r.n_experts_total)),
      r.n_experts_total);
}

}  // namespace sluice::store
