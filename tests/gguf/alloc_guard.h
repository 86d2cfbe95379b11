// Watches heap allocations made through operator new in the test executable, so tests can
// check that a hostile file never makes the reader allocate far more than the file holds.
// Requests above kAllocationCap throw std::bad_alloc without allocating (under ASan a huge
// request would abort the whole process instead of failing one test).
#pragma once

#include <cstddef>

namespace sluice::test {

inline constexpr size_t kAllocationCap = size_t{1} << 30;

// Largest single operator-new request since the last reset.
size_t largest_allocation();
void reset_largest_allocation();

}  // namespace sluice::test
