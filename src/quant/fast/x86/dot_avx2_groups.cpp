// The group kernels (group_kernels.h) with AVX2's dot products: maddubs multiplies u8 by s8
// and adds pairs into int16, madd widens pairs of those into int32. A Partial holds int16
// sums, widened once per sub-block (Q4_K: 8 steps of at most 4 x 15 x 128) or per two steps
// of 6-bit values (Q6_K: 2 x 4 x 63 x 127 < 2^15); Q4_K's high nibbles are shifted down
// first, as 16 times their value would saturate.
//
// Compiled with -mavx2 -mfma -mf16c and called only on CPUs that have them.
#include <immintrin.h>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/group_kernels.h"

namespace sluice::quant::fast::detail {
namespace {

struct Avx2Dots {
  using Partial = __m256i;
  using Files = Avx2Files;
  static constexpr int kSixBitSteps = 2;
  static constexpr bool kHighNibblesInPlace = false;
  static constexpr int kQ4KTokensPerPass = 4;
  static constexpr int kQ6KTokensPerPass = 3;  // four spill (matmul_bench: 3.4k -> 4.5k tokens/s)
  static constexpr bool kSpreadPrefetch = true;
  static constexpr bool kTwoStreams = true;  // sum_group_blocks (group_kernels.h)
  static Partial zero() { return _mm256_setzero_si256(); }
  // The empty asm keeps each running sum a chain of adds. Integer adds may be reordered, and
  // GCC made each step's sums a tree: it computed a whole sub-block's products first, every
  // one stored to the stack and loaded back (one core, hot, matmul_bench GMAC/s: Q4_K
  // 47-52 -> 60-66 with the pass of four tokens this allows, Q6_K 37-38 -> 38-41).
  static Partial add(Partial sum, __m256i u8, __m256i s8) {
    Partial next = _mm256_add_epi16(sum, _mm256_maddubs_epi16(u8, s8));
    asm("" : "+x"(next));
    return next;
  }
  static __m256i widen(Partial sum) { return _mm256_madd_epi16(sum, _mm256_set1_epi16(1)); }
  // Widened and multiplied at once: the scale in both int16 halves of each lane.
  static __m256i scaled(Partial sum, __m256i scale) {
    return _mm256_madd_epi16(sum, _mm256_or_si256(scale, _mm256_slli_epi32(scale, 16)));
  }
  static __m256i add_pairs16(__m256i acc, __m256i a, __m256i b) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
  }
};

}  // namespace

void add_avx2_group_kernels(KernelTable& table) {
  add_group_kernels<Avx2Dots>(table);
  // Q2_K, Q3_K and Q4_K: their group kernels outrun their row kernels from caches and keep up
  // from memory (bench/MATVEC.md). Q6_K's is no faster than rows from caches and slower from
  // memory.
  for (const GgmlType type : {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K}) {
    table.groups_rows_by_default[static_cast<uint32_t>(type)] = true;
  }
}

}  // namespace sluice::quant::fast::detail
