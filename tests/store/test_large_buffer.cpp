// LargeBuffer: the memory weights live in (see util/large_buffer.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "util/huge_page_allocator.h"
#include "util/large_buffer.h"

namespace sluice {
namespace {

bool all_zero(const LargeBuffer& b) {
  return std::all_of(b.data(), b.data() + b.size(), [](std::byte v) { return v == std::byte{0}; });
}

TEST(LargeBuffer, SmallBufferIsPageAlignedZeroedAndWritable) {
  LargeBuffer b(5000);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), 5000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 4096, 0u);
  EXPECT_TRUE(all_zero(b));
  b.data()[4999] = std::byte{7};
  EXPECT_EQ(b.data()[4999], std::byte{7});
}

TEST(LargeBuffer, LargeBufferStartsOnAHugePageBoundary) {
  const size_t n = LargeBuffer::kHugePageBytes * 3 + 12345;  // not a whole number of pages
  LargeBuffer b(n);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % LargeBuffer::kHugePageBytes, 0u);
  EXPECT_TRUE(all_zero(b));
  std::fill(b.data(), b.data() + n, std::byte{1});  // every byte is mapped
  EXPECT_EQ(b.data()[n - 1], std::byte{1});
}

TEST(LargeBuffer, MovesOwnership) {
  LargeBuffer a(LargeBuffer::kHugePageBytes);
  std::byte* data = a.data();
  LargeBuffer b(std::move(a));
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(a.size(), 0u);
  LargeBuffer c(100);
  c = std::move(b);
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(c.size(), LargeBuffer::kHugePageBytes);
}

TEST(LargeBuffer, EmptyBufferHoldsNothing) {
  LargeBuffer b(0);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(b.size(), 0u);
}

TEST(LargeBuffer, ImpossibleSizeIsAClearError) {
  EXPECT_THROW(LargeBuffer(size_t{1} << 62), Error);
}

// The KV cache's vectors: 2 MiB-aligned from 2 MiB up, ordinary below, copies independent.
TEST(HugePageAllocator, LargeVectorsStartOnAHugePageBoundaryAndCopy) {
  using Floats = std::vector<float, HugePageAllocator<float>>;
  const size_t n = LargeBuffer::kHugePageBytes / sizeof(float) * 3 + 1001;
  Floats big(n, 2.5f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % LargeBuffer::kHugePageBytes, 0u);
  big.back() = 7.0f;
  Floats copy = big;
  EXPECT_NE(copy.data(), big.data());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.data()) % LargeBuffer::kHugePageBytes, 0u);
  EXPECT_EQ(copy, big);
  copy[0] = 1.0f;
  EXPECT_EQ(big[0], 2.5f);
  Floats small(100, 1.0f);  // from operator new
  small.resize(n);          // grows into huge pages, keeping its values
  EXPECT_EQ(small[99], 1.0f);
  EXPECT_EQ(small[100], 0.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % LargeBuffer::kHugePageBytes, 0u);
  small.clear();
  small.shrink_to_fit();
}

TEST(HugePageAllocator, ImpossibleSizesThrow) {
  HugePageAllocator<float> a;
  EXPECT_THROW((void)a.allocate(SIZE_MAX / 2), std::bad_array_new_length);
  EXPECT_THROW((void)a.allocate(SIZE_MAX / 8), Error);  // no mapping of 2^61 bytes
}

}  // namespace
}  // namespace sluice
