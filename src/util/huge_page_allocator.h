// A std::allocator for containers that grow large and are read in streams, as the KV cache:
// blocks of 2 MiB or more come from LargeBuffer::map_large (huge pages where the kernel gives
// them), smaller ones from operator new. One token's attention after 2000 positions read its
// keys and values (Qwen3-30B-A3B's shape, from memory, 2 threads) in 572-679 us per layer from
// huge pages against 750-792 from 4 KiB ones, where a head's rows lie 2 KiB apart.
#pragma once

#include <cstddef>
#include <memory>

#include "util/large_buffer.h"

namespace sluice {

template <class T>
class HugePageAllocator {
 public:
  using value_type = T;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: converting, as std::allocator

  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_array_new_length();
    if (n * sizeof(T) < LargeBuffer::kHugePageBytes) return std::allocator<T>().allocate(n);
    return reinterpret_cast<T*>(LargeBuffer::map_large(n * sizeof(T)));
  }

  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < LargeBuffer::kHugePageBytes) {
      std::allocator<T>().deallocate(p, n);
    } else {
      LargeBuffer::unmap_large(reinterpret_cast<std::byte*>(p), n * sizeof(T));
    }
  }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace sluice
