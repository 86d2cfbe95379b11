// AVX-512 kernels that use GFNI (gf2p8affineqb: each byte times an 8 x 8 bit matrix), added on
// top of the AVX-512 table where the CPU has GFNI (Ice Lake, Zen 4 and later); dot_scalar.cpp
// is their reference, reproduced bit for bit.
//
// A bit-matrix multiply moves any bits of a byte to any places and clears the rest: one
// instruction where a shift and a mask took two. It runs on the same two pipes as dpbusd on
// Zen 4, so it pays only in kernels whose shifts and shuffles, not their multiplies, fill the
// pipes: Q6_K, whose bits 4-5 came from qh by variable shifts. (Q4_K's high nibbles, Q2_K's
// pairs of bits: no faster.)
//
// Compiled with the AVX-512 flags plus -mgfni and called only on CPUs that have them
// (dispatch.cpp). Internal linkage and intrinsics only, as in dot_avx512.cpp.
#include <immintrin.h>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/q6_k_avx512.h"
#include "quant/fast/x86/token_groups_avx512.h"

namespace sluice::quant::fast::detail {
namespace {

// The 64-bit matrix that sends bits `from` and `from` + 1 of each byte to bits 4 and 5 and
// clears the others: byte 7 - i of the matrix selects the input bits of output bit i.
constexpr long long bits_to_4_and_5(int from) {
  return static_cast<long long>((1ull << from) << 8 * (7 - 4) | (1ull << (from + 1)) << 8 * (7 - 5));
}

// Q6kHighBitsByShifts's results by one bit-matrix multiply per vector, the matrix chosen per
// 256-bit half. One core, hot, TSC cycles per super-block at 2048 / 768 columns: 15.1 / 15.1
// -> 14.3 / 14.25.
struct Q6kHighBitsByGfni {
  void operator()(__m512i high, __m512i& first, __m512i& second) const {
    const __m512i first_bits = _mm512_mask_set1_epi64(_mm512_set1_epi64(bits_to_4_and_5(0)), 0xf0, bits_to_4_and_5(2));
    const __m512i second_bits = _mm512_mask_set1_epi64(_mm512_set1_epi64(bits_to_4_and_5(4)), 0xf0, bits_to_4_and_5(6));
    first = _mm512_gf2p8affine_epi64_epi8(high, first_bits, 0);
    second = _mm512_gf2p8affine_epi64_epi8(high, second_bits, 0);
  }
};

void dot_q6_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  dot_q6_k_rows<Q6kHighBitsByGfni>(w, w_row_bytes, n_rows, act, n, out);
}

}  // namespace

void add_avx512_gfni_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::Q6_K, in_token_groups<kAvx512TokenGroup, q6_k_token_group_avx512, dot_q6_k>);
}

}  // namespace sluice::quant::fast::detail
