// The one-token AVX-512 kernel of Q6_K, over a choice of how bits 4-5 of the quants are put in
// place (q6_k_quants, avx512_common.h): by shifts in dot_avx512.cpp, by GFNI's bit-matrix
// multiply in dot_avx512_gfni.cpp.
//
// Include only from files compiled with the AVX-512 flags (F, BW, VL, DQ, VNNI).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "quant/blocks_k.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/super_blocks.h"

namespace sluice::quant::fast::detail {
namespace {

// The quants as q6_k_quants lays them out; the offset of 32 comes out through the bsums.
// packed_scaled_sum (avx512_common.h) applies the scales, two vectors' dpbusd sums packed to
// int16 per multiply: five multiplies and shuffles per 128 values where maddubs, dpwssd and a
// scale permute per 64 took six. One core, hot, TSC cycles per super-block at 2048 / 768
// columns: 16.1 / 15.4 -> 15.2 / 14.7. (One accumulator chain of four dpwssd held each
// super-block: 26 -> 21 with two, before.)
template <class HighBits>
void dot_q6_k_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n,
                   float* out) {
  const __m512i index[2] = {q6_k_pair_index(0), q6_k_pair_index(2)};
  sum_super_block_rows<BlockQ6_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ6_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m256i scales = _mm256_cvtepi8_epi16(load128(x.scales));
        const __m512i sc16 = _mm512_castsi256_si512(scales);
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(scales, load256(y_bsums)), 5);
        __m512i q[4];
        q6_k_quants(x.ql, x.qh, q, HighBits{});
        const __m512i scale[2] = {_mm512_permutexvar_epi16(index[0], sc16), _mm512_permutexvar_epi16(index[1], sc16)};
        return SuperBlockLanes{_mm256_sub_epi32(fold_to_256(packed_scaled_sum(q, scale, y_qs)), offset)};
      });
}

}  // namespace
}  // namespace sluice::quant::fast::detail
