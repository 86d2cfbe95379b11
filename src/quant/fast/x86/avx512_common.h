// Helpers shared by the AVX-512 kernel files beyond those of avx2_common.h (which they also
// include), with internal linkage for the same reason.
//
// Include only from files compiled with the AVX-512 flags (F, BW, VL, DQ, VNNI).
#pragma once

#include <immintrin.h>

#include "quant/fast/x86/avx2_common.h"

namespace sluice::quant::fast::detail {
namespace {

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// Two 256-bit halves as one 512-bit vector.
inline __m512i join256(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

inline int32_t hsum_i32(__m512i v) {
  return hsum_i32(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

inline float hsum_f32(__m512 v) { return _mm512_reduce_add_ps(v); }

// a with its sign flipped where bit i of `negate` is set.
inline __m512i negate_where(__m512i a, __mmask64 negate) {
  return _mm512_mask_sub_epi8(a, negate, _mm512_setzero_si512(), a);
}

// Sums of 4 adjacent products s8 x s8 as 16 int32: |w| against a with w's sign (dpbusd takes
// unsigned x signed).
inline __m512i dot_s8_s8(__m512i w, __m512i a) {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), negate_where(a, _mm512_movepi8_mask(w)));
}

// 32 int16 lanes: groups of 8 of scales i, i + 1, i + 2, i + 3.
inline __m512i quarters_index(int i) {
  return _mm512_setr_epi64(0x0001000100010001ll * i, 0x0001000100010001ll * i,
                           0x0001000100010001ll * (i + 1), 0x0001000100010001ll * (i + 1),
                           0x0001000100010001ll * (i + 2), 0x0001000100010001ll * (i + 2),
                           0x0001000100010001ll * (i + 3), 0x0001000100010001ll * (i + 3));
}

}  // namespace
}  // namespace sluice::quant::fast::detail
