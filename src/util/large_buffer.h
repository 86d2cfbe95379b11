// Memory for weights: anonymous pages the kernel is asked to back with transparent huge pages.
//
// Decode streams every active weight byte through the matvec kernels once per token, gigabytes
// per second from memory. With 4 KiB pages that is a TLB miss every 4 KiB, and the CPU's
// prefetchers stop at each page boundary; with 2 MiB pages both go away (Q4_K matvec from
// memory went from 62-74% to 89-98% of the measured read bandwidth). Linux hands out huge pages to ranges advised with
// MADV_HUGEPAGE when transparent_hugepage is "madvise" (a common default) or "always"; where
// it is "never", or on failure, the buffer is plain memory and everything works the same.
#pragma once

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "util/error.h"

namespace sluice {

class LargeBuffer {
 public:
  static constexpr size_t kHugePageBytes = size_t{2} << 20;

  LargeBuffer() = default;
  // `n_bytes` zeroed bytes, as map_large gives them.
  explicit LargeBuffer(size_t n_bytes) : data_(map_large(n_bytes)), size_(n_bytes) {}
  ~LargeBuffer() { release(); }

  // `n_bytes` zeroed bytes (none for 0), page-aligned, and when at least 2 MiB also 2
  // MiB-aligned and advised for huge pages, so that every whole 2 MiB of it can become one.
  // Give them back with unmap_large(p, n_bytes). Throws Error when memory runs out.
  static std::byte* map_large(size_t n_bytes) {
    if (n_bytes == 0) return nullptr;
    if (n_bytes > SIZE_MAX / 2) throw Error(fmt::format("cannot allocate {} bytes of memory", n_bytes));
    const bool huge = n_bytes >= kHugePageBytes;
    // Over-allocate by one huge page to place the start on a 2 MiB boundary, then unmap the
    // unused head and tail so only `n_bytes` (rounded up to pages) stay mapped.
    const size_t mapped_bytes = huge ? n_bytes + kHugePageBytes : n_bytes;
    void* mapped = mmap(nullptr, mapped_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) throw Error(fmt::format("cannot allocate {} bytes of memory", n_bytes));
    auto* start = static_cast<std::byte*>(mapped);
    if (huge) {
      const auto address = reinterpret_cast<uintptr_t>(start);
      const size_t head = (kHugePageBytes - address % kHugePageBytes) % kHugePageBytes;
      const size_t kept = round_up_to_page(n_bytes);
      if (head > 0) munmap(start, head);
      if (mapped_bytes - head > kept) munmap(start + head + kept, mapped_bytes - head - kept);
      start += head;
      madvise(start, kept, MADV_HUGEPAGE);  // advice only: failure leaves ordinary pages
    }
    return start;
  }
  static void unmap_large(std::byte* p, size_t n_bytes) {
    if (p) munmap(p, round_up_to_page(n_bytes));
  }

  LargeBuffer(LargeBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  LargeBuffer& operator=(LargeBuffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  LargeBuffer(const LargeBuffer&) = delete;
  LargeBuffer& operator=(const LargeBuffer&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  static size_t round_up_to_page(size_t n) {
    static const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (n + page - 1) / page * page;
  }
  void release() {
    unmap_large(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sluice
