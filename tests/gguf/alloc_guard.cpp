// Replacement global operator new/delete for test_gguf (see alloc_guard.h). Every
// non-aligned form is replaced, so memory from these functions is always released by them
// (aligned forms keep the library's own pair).
#include "alloc_guard.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace sluice::test {
namespace {
std::atomic<size_t> g_largest{0};
}  // namespace

size_t largest_allocation() { return g_largest.load(std::memory_order_relaxed); }
void reset_largest_allocation() { g_largest.store(0, std::memory_order_relaxed); }

}  // namespace sluice::test

void* operator new(std::size_t n) {
  size_t seen = sluice::test::g_largest.load(std::memory_order_relaxed);
  while (n > seen && !sluice::test::g_largest.compare_exchange_weak(seen, n)) {
  }
  if (n > sluice::test::kAllocationCap) throw std::bad_alloc();
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept {
  return ::operator new(n, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
