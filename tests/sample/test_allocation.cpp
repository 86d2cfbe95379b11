// Sampling allocates nothing after the first call: the scratch buffers are reused.
//
// This file replaces the global operator new for the whole test binary to count allocations;
// counting is switched on only around the calls under test.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "sample_test_support.h"

// AddressSanitizer replaces operator new itself; counting allocations is a Release check.
#if !defined(SLUICE_SANITIZED)

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

}  // namespace

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
void operator delete(void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }

namespace sluice::sample {
namespace {

TEST(Allocation, NoneAfterTheFirstCall) {
  std::vector<float> logits(5000);
  for (size_t i = 0; i < logits.size(); ++i) {
    logits[i] = static_cast<float>((i * 7919) % 1000) / 100.0f;  // many ties, no order
  }
  std::vector<int32_t> history;
  for (int32_t i = 0; i < 300; ++i) history.push_back((i * 31) % 5000);

  SamplingParams params;  // the default chain
  params.repeat_penalty = 1.1f;
  params.frequency_penalty = 0.2f;
  params.seed = 8;
  SamplingParams no_top_k = params;  // top-p then sorts the whole vocabulary
  no_top_k.top_k = 0;
  no_top_k.top_p = 0.99f;

  for (const SamplingParams& p : {params, no_top_k}) {
    Sampler sampler(p);
    sampler.sample(logits, history);
    g_allocations = 0;
    g_counting = true;
    for (int i = 0; i < 50; ++i) sampler.sample(logits, history);
    g_counting = false;
    EXPECT_EQ(g_allocations.load(), 0) << "top_k " << p.top_k;
  }
}

}  // namespace
}  // namespace sluice::sample

#endif  // !SLUICE_SANITIZED
