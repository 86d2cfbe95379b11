// Division of the memory budget and parsing of --mem sizes.
#include <gtest/gtest.h>

#include "store/budget.h"
#include "util/error.h"
#include "util/memory_info.h"

namespace sluice::store {
namespace {

BudgetRequest request_with_budget(uint64_t budget) {
  BudgetRequest r;
  r.mem_budget = budget;
  r.dense_bytes = 1000;
  r.state_bytes = 100;
  r.buffer_bytes = 50;
  r.reserve_bytes = 200;
  r.slot_bytes = 10;
  r.n_experts_total = 64;
  r.min_slots = 4;
  return r;
}

TEST(Budget, ExpertCacheGetsWhatIsLeft) {
  const BudgetPlan plan = plan_budget(request_with_budget(1350 + 205));
  EXPECT_EQ(plan.fixed_bytes, 1350u);
  EXPECT_EQ(plan.n_slots, 20u);
  EXPECT_EQ(plan.expert_cache_bytes, 200u);
  EXPECT_FALSE(plan.all_experts_fit);
}

TEST(Budget, NeverMoreSlotsThanExperts) {
  const BudgetPlan plan = plan_budget(request_with_budget(1 << 20));
  EXPECT_EQ(plan.n_slots, 64u);
  EXPECT_TRUE(plan.all_experts_fit);
}

TEST(Budget, TooSmallIsRefusedWithTheSizeNeeded) {
  try {
    plan_budget(request_with_budget(900));
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("too small"), std::string::npos) << message;
    EXPECT_NE(message.find("use --mem"), std::string::npos) << message;
    EXPECT_NE(message.find("dense weights alone exceed"), std::string::npos) << message;
  }
  EXPECT_THROW(plan_budget(request_with_budget(1350 + 39)), Error);  // 3 slots < top-k 4
  EXPECT_NO_THROW(plan_budget(request_with_budget(1350 + 40)));
}

TEST(Budget, ParsesSizesInBinaryUnits) {
  EXPECT_EQ(parse_size("6G"), 6ull << 30);
  EXPECT_EQ(parse_size("512M"), 512ull << 20);
  EXPECT_EQ(parse_size("1.5GiB"), 3ull << 29);
  EXPECT_EQ(parse_size("64k"), 64ull << 10);
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_FALSE(parse_size("six gigs"));
  EXPECT_FALSE(parse_size("-1G"));
  EXPECT_FALSE(parse_size("5X"));
  EXPECT_FALSE(parse_size(""));
}

}  // namespace
}  // namespace sluice::store
