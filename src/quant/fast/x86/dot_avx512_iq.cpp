// AVX-512 (BW, VNNI) kernels of the grid i-quants IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S,
// IQ1_M; dot_scalar_iq.cpp is their reference, reproduced bit for bit.
//
// Two groups of 32 values per step: the grid rows of both fill one 512-bit vector, signs
// become a 64-bit mask (negate_where) instead of sign_epi8, which AVX-512 lacks, and VNNI's
// dpwssd applies the int16 scales to maddubs' pair sums and accumulates in one instruction.
#include <immintrin.h>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// int16 scales of 4 runs of 16 values (the 32 int16 lanes of a maddubs result, 8 per run).
inline __m512i quarter_scales(int s0, int s1, int s2, int s3) {
  const auto pair = [](int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(hi)), _mm_set1_epi16(static_cast<short>(lo)));
  };
  return join256(pair(s0, s1), pair(s2, s3));
}

inline __m512i half_scales(int s0, int s1) { return quarter_scales(s0, s0, s1, s1); }

// Unsigned grid bytes times activations negated by `signs`, scaled per 16 values, into acc.
inline __m512i add_scaled_grid_dot(__m512i acc, __m512i grid, __mmask64 signs, const int8_t* a, __m512i scales) {
  return _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(grid, negate_where(load512(a), signs)), scales);
}

// Eight kSignsIq2 bytes from eight 7-bit indices, as a 64-bit mask (bit 8k + j: value 8k + j).
template <class IndexOf>
inline __mmask64 iq2_sign_mask(IndexOf index_of) {
  uint64_t mask = 0;
  for (int k = 0; k < 8; ++k) mask |= uint64_t{kSignsIq2[index_of(k)]} << (8 * k);
  return mask;
}

inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

float dot_iq2_xs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ2_XS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ2_XS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    prefetch_ahead<sizeof(BlockIQ2_XS)>(&x);
    __m512i acc = _mm512_setzero_si512();
    for (int ib = 0; ib < 8; ib += 2) {
      const uint16_t* e = x.qs + 4 * ib;  // 8 entries: 9-bit grid index, 7-bit sign index
      const auto row = [&](int k) { return grid_row(kIq2xsGrid, e[k] & 511); };
      const __m512i grid = _mm512_setr_epi64(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7));
      const __mmask64 signs = iq2_sign_mask([&](int k) { return e[k] >> 9; });
      const int s0 = x.scales[ib], s1 = x.scales[ib + 1];
      acc = add_scaled_grid_dot(acc, grid, signs, y_qs + 32 * ib,
                                quarter_scales(2 * (s0 & 0x0f) + 1, 2 * (s0 >> 4) + 1, 2 * (s1 & 0x0f) + 1,
                                               2 * (s1 >> 4) + 1));
    }
    const int32_t isum = hsum_i32(acc);
    const float d = 0.125f * f16(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

float dot_iq2_s(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ2_S>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ2_S& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    prefetch_ahead<sizeof(BlockIQ2_S)>(&x);
    __m512i acc = _mm512_setzero_si512();
    for (int ib = 0; ib < 8; ib += 2) {
      const uint8_t* q = x.qs + 4 * ib;
      const uint32_t h = x.qh[ib] | (uint32_t{x.qh[ib + 1]} << 8);  // 2 high index bits per entry
      const auto row = [&](int k) { return grid_row(kIq2sGrid, q[k] | (((h >> (2 * k)) & 3) << 8)); };
      const __m512i grid = _mm512_setr_epi64(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7));
      const __mmask64 signs = load_u64(x.signs + 4 * ib);
      const int s0 = x.scales[ib], s1 = x.scales[ib + 1];
      acc = add_scaled_grid_dot(acc, grid, signs, y_qs + 32 * ib,
                                quarter_scales(2 * (s0 & 0x0f) + 1, 2 * (s0 >> 4) + 1, 2 * (s1 & 0x0f) + 1,
                                               2 * (s1 >> 4) + 1));
    }
    const int32_t isum = hsum_i32(acc);
    const float d = 0.125f * f16(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

float dot_iq3_xxs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ3_XXS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ3_XXS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    prefetch_ahead<sizeof(BlockIQ3_XXS)>(&x);
    __m512i acc = _mm512_setzero_si512();
    for (int ib = 0; ib < 8; ib += 2) {
      const uint8_t* q = x.qs + 8 * ib;
      const auto row = [&](int g) { return grid_row4(kIq3xxsGrid, q[g]); };
      const __m512i grid = _mm512_setr_epi32(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7), row(8),
                                             row(9), row(10), row(11), row(12), row(13), row(14), row(15));
      const uint32_t ss0 = load_u32(x.scales_and_signs + 4 * ib);  // four 7-bit signs, scale
      const uint32_t ss1 = load_u32(x.scales_and_signs + 4 * ib + 4);
      const __mmask64 signs = iq2_sign_mask([&](int k) { return ((k < 4 ? ss0 : ss1) >> (7 * (k % 4))) & 127; });
      acc = add_scaled_grid_dot(acc, grid, signs, y_qs + 32 * ib,
                                half_scales(static_cast<int>(2 * (ss0 >> 28) + 1), static_cast<int>(2 * (ss1 >> 28) + 1)));
    }
    const int32_t isum = hsum_i32(acc);
    const float d = 0.25f * f16(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

float dot_iq3_s(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ3_S>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ3_S& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    prefetch_ahead<sizeof(BlockIQ3_S)>(&x);
    __m512i acc = _mm512_setzero_si512();
    for (int ib = 0; ib < 8; ib += 2) {
      const uint8_t* q = x.qs + 8 * ib;
      const uint32_t h = x.qh[ib] | (uint32_t{x.qh[ib + 1]} << 8);  // 9th index bit of each row
      const auto row = [&](int g) { return grid_row4(kIq3sGrid, q[g] | (((h >> g) & 1) << 8)); };
      const __m512i grid = _mm512_setr_epi32(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7), row(8),
                                             row(9), row(10), row(11), row(12), row(13), row(14), row(15));
      const __mmask64 signs = load_u64(x.signs + 4 * ib);
      const int sc = x.scales[ib / 2];
      acc = add_scaled_grid_dot(acc, grid, signs, y_qs + 32 * ib, half_scales(1 + 2 * (sc & 0x0f), 1 + 2 * (sc >> 4)));
    }
    const int32_t isum = hsum_i32(acc);
    const float d = f16(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// IQ1 weights 8 grid + delta_sign (dot_scalar_iq.cpp), odd, |w| <= 9: the products go through
// |w| and a negated where w < 0.
inline __m512i add_scaled_iq1_dot(__m512i acc, __m512i grid, __m512i delta_signs, const int8_t* a, __m512i scales) {
  const __m512i grid8 = _mm512_and_si512(_mm512_slli_epi16(grid, 3), _mm512_set1_epi8(static_cast<char>(0xf8)));
  const __m512i weights = _mm512_add_epi8(grid8, delta_signs);
  const __m512i p = _mm512_maddubs_epi16(_mm512_abs_epi8(weights), negate_where(load512(a), _mm512_movepi8_mask(weights)));
  return _mm512_dpwssd_epi32(acc, p, scales);
}

constexpr int64_t kAllPlusOne = 0x0101010101010101ll;
constexpr int64_t kAllMinusOne = -1;

float dot_iq1_s(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ1_S>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ1_S& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    prefetch_ahead<sizeof(BlockIQ1_S)>(&x);
    __m512i acc = _mm512_setzero_si512();
    for (int ib = 0; ib < 8; ib += 2) {
      const uint8_t* q = x.qs + 4 * ib;
      const uint32_t h0 = x.qh[ib], h1 = x.qh[ib + 1];
      const auto row = [&](int k) {
        const uint32_t h = k < 4 ? h0 : h1;
        return grid_row(kIq1sGrid, q[k] | (((h >> (3 * (k % 4))) & 7) << 8));
      };
      const __m512i grid = _mm512_setr_epi64(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7));
      const __m512i deltas = join256(_mm256_set1_epi8(h0 & 0x8000u ? -1 : 1), _mm256_set1_epi8(h1 & 0x8000u ? -1 : 1));
      const int s0 = static_cast<int>(2 * ((h0 >> 12) & 7) + 1), s1 = static_cast<int>(2 * ((h1 >> 12) & 7) + 1);
      acc = add_scaled_iq1_dot(acc, grid, deltas, y_qs + 32 * ib, half_scales(s0, s1));
    }
    const int32_t isum = hsum_i32(acc);
    const float d = 0.125f * f16(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

float dot_iq1_m(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ1_M>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ1_M& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    prefetch_ahead<sizeof(BlockIQ1_M)>(&x);
    __m512i acc = _mm512_setzero_si512();
    for (int ib = 0; ib < 8; ib += 2) {  // entries 4 ib .. 4 ib + 7, sub-blocks 2 ib .. 2 ib + 3
      const uint8_t* q = x.qs + 4 * ib;
      const uint32_t h = load_u32(x.qh + 2 * ib);  // 8 nibbles: 3 index bits, delta sign
      const auto row = [&](int k) { return grid_row(kIq1sGrid, q[k] | (((h >> (4 * k)) & 7) << 8)); };
      const auto delta = [&](int k) { return h & (8u << (4 * k)) ? kAllMinusOne : kAllPlusOne; };
      const __m512i grid = _mm512_setr_epi64(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7));
      const __m512i deltas =
          _mm512_setr_epi64(delta(0), delta(1), delta(2), delta(3), delta(4), delta(5), delta(6), delta(7));
      const uint32_t word = x.scales[ib / 2];  // 3-bit scales of sub-blocks 2 ib .. 2 ib + 3
      const auto scale = [&](int j) { return static_cast<int>(2 * ((word >> (3 * j)) & 7) + 1); };
      acc = add_scaled_iq1_dot(acc, grid, deltas, y_qs + 32 * ib, quarter_scales(scale(0), scale(1), scale(2), scale(3)));
    }
    const int32_t isum = hsum_i32(acc);
    const auto d_bits = static_cast<uint16_t>((x.scales[0] >> 12) | ((x.scales[1] >> 8) & 0x00f0) |
                                              ((x.scales[2] >> 4) & 0x0f00) | (x.scales[3] & 0xf000));
    const float d = 0.125f * f16(d_bits) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace

void add_avx512_iq_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::IQ2_XS, for_each_token<dot_iq2_xs>);
  set_kernel(table, GgmlType::IQ2_S, for_each_token<dot_iq2_s>);
  set_kernel(table, GgmlType::IQ3_XXS, for_each_token<dot_iq3_xxs>);
  set_kernel(table, GgmlType::IQ3_S, for_each_token<dot_iq3_s>);
  set_kernel(table, GgmlType::IQ1_S, for_each_token<dot_iq1_s>);
  set_kernel(table, GgmlType::IQ1_M, for_each_token<dot_iq1_m>);
}

}  // namespace sluice::quant::fast::detail
