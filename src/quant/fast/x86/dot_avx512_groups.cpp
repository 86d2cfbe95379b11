// The group kernels (group_kernels.h) with VNNI's dot products on 256-bit vectors: dpbusd
// adds four u8 x s8 products per lane into int32 at once, so a running sum never narrows.
//
// Compiled with the AVX-512 flags (for VNNI's 256-bit forms) and called only on CPUs that
// have them. One core, hot, TSC cycles per Q4_K super-block, against the row kernel
// (dot_avx512.cpp) in the same run: 2048 x 768 12.6 -> 9.4, 768 x 2048 12.5 -> 9.4.
#include <immintrin.h>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/group_kernels.h"

namespace sluice::quant::fast::detail {
namespace {

struct VnniDots {
  using Partial = __m256i;
  using Files = Avx512Files;
  static constexpr int kSixBitSteps = 4;  // int32 sums: any number
  static constexpr bool kHighNibblesInPlace = true;
  static constexpr int kQ4KTokensPerPass = 4;
  static constexpr int kQ6KTokensPerPass = 4;
  static constexpr bool kSpreadPrefetch = false;  // measured with whole-block prefetches
  static constexpr bool kTwoStreams = false;      // slower from memory on Zen 4 (bench/MATVEC.md)
  static Partial zero() { return _mm256_setzero_si256(); }
  static Partial add(Partial sum, __m256i u8, __m256i s8) { return _mm256_dpbusd_epi32(sum, u8, s8); }
  static __m256i widen(Partial sum) { return sum; }
  static __m256i scaled(Partial sum, __m256i scale) { return _mm256_mullo_epi32(sum, scale); }
  static __m256i add_pairs16(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
};

}  // namespace

void add_avx512_group_kernels(KernelTable& table) {
  add_group_kernels<VnniDots>(table);
  // Q4_K: decoding from memory 40.1 -> 46.4 GB/s. Q2_K and Q3_K: one core from the caches
  // 17 -> 24 and 16 -> 24 GB/s, from memory level or faster. Not Q6_K: its group kernel reads
  // from memory at 0.6-0.7 of its row kernel's speed (bench/MATVEC.md).
  for (const GgmlType type : {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K}) {
    table.groups_rows_by_default[static_cast<uint32_t>(type)] = true;
  }
}

}  // namespace sluice::quant::fast::detail
