// Cache policies on small traces whose optimal and LRU answers are known, and on the routing
// trace of the trained fixture model, where Belady's optimum bounds every policy.
#include <gtest/gtest.h>

#include <fstream>

#include "store/cache_policy.h"
#include "store/cache_simulator.h"
#include "support/fixtures.h"
#include "util/error.h"

namespace sluice::store {
namespace {

// One layer, one expert per token: the trace is a plain page-reference string.
RoutingTrace reference_string(std::vector<int16_t> pages, int32_t n_pages) {
  return RoutingTrace{1, 1, n_pages, std::move(pages)};
}

// The reference string of Silberschatz, Galvin & Gagne, "Operating System Concepts", ch. 10:
// with 3 frames, optimal replacement takes 9 faults and LRU 12 (of 20 references).
const std::vector<int16_t> kTextbookString = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1};

TEST(CachePolicy, BeladyMatchesTextbookOptimum) {
  const SimulationResult r = simulate_belady(reference_string(kTextbookString, 8), 3);
  EXPECT_EQ(r.accesses, 20u);
  EXPECT_EQ(r.accesses - r.hits, 9u);
}

TEST(CachePolicy, LruMatchesTextbookCount) {
  auto lru = make_cache_policy("lru", 1, 8);
  const SimulationResult r = simulate_policy(reference_string(kTextbookString, 8), 3, *lru);
  EXPECT_EQ(r.accesses - r.hits, 12u);
}

TEST(CachePolicy, LfuKeepsTheFrequentExpert) {
  // Expert 0 is used three times, then returns after every two one-off experts. With two
  // slots LFU keeps 0 and hits on each return; LRU loses it to the two newer experts.
  const std::vector<int16_t> trace = {0, 0, 0, 1, 2, 0, 3, 4, 0, 5, 6, 0};
  auto lfu = make_cache_policy("lfu", 1, 8);
  auto lru = make_cache_policy("lru", 1, 8);
  const SimulationResult with_lfu = simulate_policy(reference_string(trace, 8), 2, *lfu);
  const SimulationResult with_lru = simulate_policy(reference_string(trace, 8), 2, *lru);
  EXPECT_EQ(with_lfu.hits, 2u + 3u);  // the two repeats at the start, then every return of 0
  EXPECT_EQ(with_lru.hits, 2u);       // 1,2 and 3,4 push 0 out each time
}

TEST(CachePolicy, ExpectedNextUseBeatsLruOnLayerCycles) {
  // Three layers each always using expert 0, two slots: LRU evicts exactly the expert needed
  // next and never hits; the optimum hits half the time, and so does ENU, which knows which
  // layer comes next.
  RoutingTrace trace{3, 1, 4, {}};
  for (int t = 0; t < 100; ++t) trace.experts.insert(trace.experts.end(), {0, 0, 0});
  auto lru = make_cache_policy("lru", 3, 4);
  auto enu = make_cache_policy("enu", 3, 4);
  EXPECT_EQ(simulate_policy(trace, 2, *lru).hits, 0u);
  const SimulationResult optimum = simulate_belady(trace, 2);
  const SimulationResult with_enu = simulate_policy(trace, 2, *enu);
  EXPECT_NEAR(optimum.hit_rate(), 0.5, 0.01);
  EXPECT_NEAR(with_enu.hit_rate(), optimum.hit_rate(), 0.01);
}

TEST(CachePolicy, UnknownNameIsRefused) {
  EXPECT_THROW(make_cache_policy("fifo", 1, 1), Error);
}

TEST(CachePolicy, BeladyBoundsEveryPolicyOnTheTrainedModelTrace) {
  const RoutingTrace trace = read_routing_trace(testing::fixture_path("trained/routing_trace_4096x8x4.i16"), 8, 4, 32);
  ASSERT_EQ(trace.n_tokens(), 4096);
  const size_t all = 8 * 32;
  for (double fraction : {0.10, 0.25, 0.50}) {
    const auto capacity = static_cast<size_t>(fraction * all);
    const double optimum = simulate_belady(trace, capacity).hit_rate();
    for (const std::string& name : cache_policy_names()) {
      auto policy = make_cache_policy(name, 8, 32);
      const double hit_rate = simulate_policy(trace, capacity, *policy).hit_rate();
      EXPECT_LE(hit_rate, optimum) << name << " at " << fraction;
      // LRU may score 0 at 10%: 25 slots against a cycle of 32 accesses per token.
      if (name != "lru") {
        EXPECT_GT(hit_rate, 0.0) << name << " at " << fraction;
      }
      std::printf("[ policy ] %3.0f%% of experts: %-4s %.3f (Belady %.3f)\n", 100 * fraction, name.c_str(), hit_rate, optimum);
    }
  }
}

TEST(CachePolicy, TraceWithBadShapeIsRefused) {
  EXPECT_THROW(read_routing_trace(testing::fixture_path("trained/routing_trace_4096x8x4.i16"), 7, 4, 32), Error);
  EXPECT_THROW(read_routing_trace(testing::fixture_path("trained/routing_trace_4096x8x4.i16"), 8, 4, 3), Error);
}

}  // namespace
}  // namespace sluice::store
