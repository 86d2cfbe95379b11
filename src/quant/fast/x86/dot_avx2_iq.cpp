// AVX2 kernels of the grid i-quants IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M;
// dot_scalar_iq.cpp is their reference, reproduced bit for bit (integer sums per super-block,
// then the same f32 expression, four super-blocks at a time: super_blocks.h).
//
// Each step of 32 values (a GridSubBlock): the grid rows its indices pick are gathered into
// one vector by scalar loads (a hardware gather is slower for 4-8 rows), the signs are moved
// onto the activations with _mm256_sign_epi8, and maddubs then madd with the step's odd
// integer scales sum the products. Grid magnitudes are at most 62, so maddubs' pairs stay
// within int16 (2 * 62 * 127 < 32768). Prompts go through token groups (token_groups_avx2.h),
// which look each step up once for eight tokens.
#include <immintrin.h>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/grid_steps_avx2.h"
#include "quant/fast/x86/scales_avx2.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/fast/x86/token_groups_avx2.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// IQ2_XS / IQ2_S / IQ3_S scales: byte ib of `packed` holds the scales of sub-block 2 ib (low
// nibble) and 2 ib + 1 (high nibble); IQ2_XS and IQ2_S have 16 sub-blocks of 16 values in 8
// bytes, IQ3_S 8 of 32 in 4. The odd factors 2 nibble + 1 in sub-block order, as bytes in both
// 128-bit halves (scales8 of scales_avx2.h).
inline __m256i odd_nibble_scales(uint64_t packed) {
  const __m128i raw = _mm_cvtsi64_si128(static_cast<int64_t>(packed));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i nibbles = _mm_unpacklo_epi8(_mm_and_si128(raw, low4), _mm_and_si128(_mm_srli_epi16(raw, 4), low4));
  return _mm256_broadcastsi128_si256(_mm_or_si128(_mm_add_epi8(nibbles, nibbles), _mm_set1_epi8(1)));
}

// An IQ2_XS / IQ2_S super-block's scaled sums: steps(ib) is its 32-value step ib, and two
// steps at a time share a madd for their scales (from the block's nibbles, not the step's).
template <class Steps>
inline SuperBlockLanes iq2_scaled_sums(const typename Steps::Block& x, const int8_t* y_qs) {
  const Steps steps{x};
  const __m256i scales8 = odd_nibble_scales(load_u64(x.scales));
  __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int ib = 0; ib < 8; ib += 2) {
    acc =
        _mm256_add_epi32(acc, two_steps_scaled(grid_dot(steps(ib).weights, y_qs + 32 * ib),
                                               grid_dot(steps(ib + 1).weights, y_qs + 32 * ib + 32), scales8, 2 * ib));
  }
  return SuperBlockLanes{acc};
}

void dot_iq2_xs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ2_XS>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ2_XS& x, const int8_t* y_qs, const int16_t*) { return iq2_scaled_sums<Iq2XsSteps>(x, y_qs); },
      Iq2XsSteps::kDFactor);
}

void dot_iq2_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ2_S>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ2_S& x, const int8_t* y_qs, const int16_t*) { return iq2_scaled_sums<Iq2SSteps>(x, y_qs); },
      Iq2SSteps::kDFactor);
}

void dot_iq3_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ3_XXS>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ3_XXS& x, const int8_t* y_qs, const int16_t*) {
        const Iq3XxsSteps steps{x};
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) acc = _mm256_add_epi32(acc, scaled_grid_dot(steps(ib), y_qs + 32 * ib));
        return SuperBlockLanes{acc};
      },
      Iq3XxsSteps::kDFactor);
}

void dot_iq3_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ3_S>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ3_S& x, const int8_t* y_qs, const int16_t*) {
        const Iq3SSteps steps{x};
        // Grid values are at most 15: four maddubs lanes sum within int16 (four_sub_blocks_scaled).
        const __m256i scales8 = odd_nibble_scales(load_u32(x.scales));
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
          __m256i p[4];
          for (int k = 0; k < 4; ++k) p[k] = grid_dot(steps(4 * half + k).weights, y_qs + 32 * (4 * half + k));
          acc = _mm256_add_epi32(acc, four_sub_blocks_scaled(p, scales8, 4 * half));
        }
        return SuperBlockLanes{acc};
      },
      Iq3SSteps::kDFactor);
}

// IQ1 weights as the odd integers 8 grid + delta_sign (dot_scalar_iq.cpp): grid bytes are
// -1, 0, 1, so shifting the 16-bit lanes left by 3 and masking each byte's low bits gives
// 8 grid per byte.
inline __m256i iq1_weights(__m256i grid, __m256i delta_signs) {
  const __m256i grid8 = _mm256_and_si256(_mm256_slli_epi16(grid, 3), _mm256_set1_epi8(static_cast<char>(0xf8)));
  return _mm256_add_epi8(grid8, delta_signs);
}

// Products of the odd weights (never 0, |w| <= 9) with activations, times per-16 scales.
inline __m256i scaled_iq1_dot(__m256i weights, const int8_t* a, __m256i scales) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(weights, weights), _mm256_sign_epi8(load256(a), weights));
  return _mm256_madd_epi16(p, scales);
}

constexpr int64_t kAllPlusOne = 0x0101010101010101ll;
constexpr int64_t kAllMinusOne = -1;

void dot_iq1_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ1_S>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ1_S& x, const int8_t* y_qs, const int16_t*) {
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) {
          const uint8_t* q = x.qs + 4 * ib;
          const uint32_t h = x.qh[ib];
          const __m256i grid = _mm256_setr_epi64x(
              grid_row(kIq1sGrid, q[0] | ((h << 8) & 0x700)), grid_row(kIq1sGrid, q[1] | ((h << 5) & 0x700)),
              grid_row(kIq1sGrid, q[2] | ((h << 2) & 0x700)), grid_row(kIq1sGrid, q[3] | ((h >> 1) & 0x700)));
          const __m256i delta = _mm256_set1_epi8(h & 0x8000u ? -1 : 1);
          const auto scale = static_cast<short>(2 * ((h >> 12) & 7) + 1);
          acc =
              _mm256_add_epi32(acc, scaled_iq1_dot(iq1_weights(grid, delta), y_qs + 32 * ib, _mm256_set1_epi16(scale)));
        }
        return SuperBlockLanes{acc};
      },
      0.125f);
}

void dot_iq1_m(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ1_M>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ1_M& x, const int8_t* y_qs, const int16_t*) {
        uint64_t scale_bits;  // 16 3-bit scales in the low 12 bits of each 16-bit word
        std::memcpy(&scale_bits, x.scales, sizeof(scale_bits));
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) {
          const uint8_t* q = x.qs + 4 * ib;
          const uint32_t h = x.qh[2 * ib] | (uint32_t{x.qh[2 * ib + 1]} << 8);  // 4 nibbles: 3 index bits, delta sign
          const __m256i grid = _mm256_setr_epi64x(
              grid_row(kIq1sGrid, q[0] | ((h << 8) & 0x700)), grid_row(kIq1sGrid, q[1] | ((h << 4) & 0x700)),
              grid_row(kIq1sGrid, q[2] | (h & 0x700)), grid_row(kIq1sGrid, q[3] | ((h >> 4) & 0x700)));
          const auto delta = [&](int k) { return h & (8u << (4 * k)) ? kAllMinusOne : kAllPlusOne; };
          const __m256i deltas = _mm256_setr_epi64x(delta(0), delta(1), delta(2), delta(3));
          const auto word = static_cast<uint32_t>(scale_bits >> (16 * (ib / 2)));
          const int shift = 6 * (ib % 2);
          const __m256i scales = halves_scale(2 * ((word >> shift) & 7) + 1, 2 * ((word >> (shift + 3)) & 7) + 1);
          acc = _mm256_add_epi32(acc, scaled_iq1_dot(iq1_weights(grid, deltas), y_qs + 32 * ib, scales));
        }
        return SuperBlockLanes{acc};
      },
      0.125f);
}

}  // namespace

void add_avx2_iq_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::IQ2_XS, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq2XsSteps>, dot_iq2_xs>);
  set_kernel(table, GgmlType::IQ2_S, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq2SSteps>, dot_iq2_s>);
  set_kernel(table, GgmlType::IQ3_XXS, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq3XxsSteps>, dot_iq3_xxs>);
  set_kernel(table, GgmlType::IQ3_S, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq3SSteps>, dot_iq3_s>);
  set_kernel(table, GgmlType::IQ1_S, rows_for_each_token<dot_iq1_s>);
  set_kernel(table, GgmlType::IQ1_M, rows_for_each_token<dot_iq1_m>);
}

}  // namespace sluice::quant::fast::detail
