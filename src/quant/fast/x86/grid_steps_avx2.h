// The grid i-quants' 32-value steps on AVX2: for a super-block x of format F, FSteps{x}(ib)
// is its step ib (ScaledGridSubBlock, avx2_common.h): the unsigned grid values its indices
// pick, their sign factors, and the int16 scales of the step's maddubs pairs. Each Steps also
// names its Block and its f (kDFactor, the factor of f16(d) in the super-block's f32 term).
// The one-token kernels (dot_avx2.cpp, dot_avx2_iq.cpp), the token groups
// (token_groups_avx2.h) and the tile kernels (tile_gemm_avx2.cpp) all take their weights
// from here.
//
// Include only from files compiled with at least -mavx2 -mfma -mf16c; everything is in an
// unnamed namespace (see avx2_common.h).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant/blocks_iq.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/scales_avx2.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// int16 lanes of a maddubs result over 32 values: the first 8 (values 0..15) scaled by
// `low`, the last 8 (values 16..31) by `high`.
inline __m256i halves_scale(int low, int high) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(high)), _mm_set1_epi16(static_cast<short>(low)));
}

// IQ2_XXS's eight odd scales 2 s + 1, s the top 4 bits of each sub-block's 64-bit entry, as
// int16 lanes 0..7 of both 128-bit halves (broadcast_lane).
inline __m256i iq2_xxs_scales(const BlockIQ2_XXS& x) {
  const __m256i s0 = _mm256_srli_epi64(load256(x.qs), 60);           // sub-blocks 0..3, one a 64-bit lane
  const __m256i s1 = _mm256_srli_epi64(load256(x.qs + 16), 60);      // 4..7
  const __m256i s = _mm256_or_si256(s0, _mm256_slli_epi64(s1, 32));  // 32-bit lanes: 0 4 1 5 | 2 6 3 7
  const __m256i odd = _mm256_or_si256(_mm256_add_epi32(s, s), _mm256_set1_epi32(1));
  const __m256i ordered = _mm256_permutevar8x32_epi32(odd, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  return int16_in_both_halves(ordered);
}

// IQ2_XXS's sub-blocks as grid steps (grid_token_group): each has an 8-byte entry of 4 grid
// indices, then the sign fields (kPackedSignBits) and the scale.
struct Iq2XxsSteps {
  using Block = BlockIQ2_XXS;
  static constexpr float kDFactor = 0.125f;
  const BlockIQ2_XXS& x;
  __m256i scales = iq2_xxs_scales(x);

  ScaledGridSubBlock operator()(int ib) const {
    const auto* entry = reinterpret_cast<const uint8_t*>(x.qs + 4 * ib);
    const __m256i grid = _mm256_setr_epi64x(grid_row(kIq2xxsGrid, entry[0]), grid_row(kIq2xxsGrid, entry[1]),
                                            grid_row(kIq2xxsGrid, entry[2]), grid_row(kIq2xxsGrid, entry[3]));
    const __m256i signs = sign_factors(_mm256_set1_epi32(static_cast<int>(load_u32(entry + 4))), kPackedSignBits);
    return {{grid, signs}, broadcast_lane(scales, ib)};
  }
};

// The int16 scales of an IQ2_XS / IQ2_S step's products: its two 16-value halves' odd nibbles.
inline __m256i iq2_step_scales(uint8_t packed) { return halves_scale(1 + 2 * (packed & 15), 1 + 2 * (packed >> 4)); }

// IQ2_XS's steps (grid_token_group): four 16-bit entries of a 9-bit grid index and 7 sign
// bits each.
struct Iq2XsSteps {
  using Block = BlockIQ2_XS;
  static constexpr float kDFactor = 0.125f;
  const BlockIQ2_XS& x;

  ScaledGridSubBlock operator()(int ib) const {
    const uint16_t* e = x.qs + 4 * ib;
    const __m256i grid = _mm256_setr_epi64x(grid_row(kIq2xsGrid, e[0] & 511), grid_row(kIq2xsGrid, e[1] & 511),
                                            grid_row(kIq2xsGrid, e[2] & 511), grid_row(kIq2xsGrid, e[3] & 511));
    const __m256i signs = sign_factors(load_u64(reinterpret_cast<const uint8_t*>(e)), kEntrySignBits);
    return {{grid, signs}, iq2_step_scales(x.scales[ib])};
  }
};

// Grid indices of kEntries rows, qs[j] | (the kHighBits bits of entry j in qh) << 8, the bits
// of qh taken from its low end up (IQ2_S: 2 bits an entry, IQ3_S: 1). Made 16 at a time in
// vector registers: made one by one, each took a byte load and four or five integer
// operations, and IQ2_S's kernel issued more loads than the two a cycle the core takes (one
// core, hot: IQ2_S 3.2 -> 4.4 GB/s, with the indices read back four to a load).
template <int kEntries>
struct GridIndices {
  alignas(32) uint16_t at[kEntries];

  // Entries 4k .. 4k + 3, as 16-bit fields of one word.
  uint64_t four(int k) const {
    uint64_t v;
    std::memcpy(&v, at + 4 * k, sizeof(v));
    return v;
  }
};

// Byte shuffle and multipliers that move each of 16 entries' high bits to bits 8 and up: lane j
// takes qh byte j / (8 / kHighBits) and multiplies it by 2^(8 - kHighBits (j % (8 / kHighBits))).
template <int kHighBits>
struct HighBitPlaces {
  alignas(32) int8_t byte[32];
  alignas(32) int16_t factor[16];
};
template <int kHighBits>
constexpr HighBitPlaces<kHighBits> make_high_bit_places() {
  constexpr int kPerByte = 8 / kHighBits;
  HighBitPlaces<kHighBits> p{};
  for (int j = 0; j < 16; ++j) {
    p.byte[2 * j] = static_cast<int8_t>(j / kPerByte);
    p.byte[2 * j + 1] = -1;  // zero
    p.factor[j] = static_cast<int16_t>(1 << (8 - kHighBits * (j % kPerByte)));
  }
  return p;
}

template <int kHighBits, int kEntries>
inline GridIndices<kEntries> grid_indices(const uint8_t* qs, const uint8_t* qh) {
  static constexpr HighBitPlaces<kHighBits> kPlaces = make_high_bit_places<kHighBits>();
  constexpr int kQhBytes = 16 * kHighBits / 8;  // per 16 entries
  const __m256i mask = _mm256_set1_epi16(static_cast<short>(((1 << kHighBits) - 1) << 8));
  GridIndices<kEntries> index;
  for (int k = 0; k < kEntries / 16; ++k) {
    uint32_t bits = 0;
    std::memcpy(&bits, qh + kQhBytes * k, kQhBytes);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), load256(kPlaces.byte));
    const __m256i high = _mm256_and_si256(_mm256_mullo_epi16(spread, load256(kPlaces.factor)), mask);
    const __m256i low = _mm256_cvtepu8_epi16(load128(qs + 16 * k));
    _mm256_store_si256(reinterpret_cast<__m256i*>(index.at + 16 * k), _mm256_or_si256(low, high));
  }
  return index;
}

// IQ2_S's steps (grid_token_group), from the block's grid indices made beforehand.
struct Iq2SSteps {
  using Block = BlockIQ2_S;
  static constexpr float kDFactor = 0.125f;
  const BlockIQ2_S& x;
  GridIndices<32> index = grid_indices<2, 32>(x.qs, x.qh);

  ScaledGridSubBlock operator()(int ib) const {
    const uint64_t i = index.four(ib);
    const __m256i grid = _mm256_setr_epi64x(grid_row(kIq2sGrid, i & 0xffff), grid_row(kIq2sGrid, (i >> 16) & 0xffff),
                                            grid_row(kIq2sGrid, (i >> 32) & 0xffff), grid_row(kIq2sGrid, i >> 48));
    return {{grid, sign_bits_to_factors(load_u32(x.signs + 4 * ib))}, iq2_step_scales(x.scales[ib])};
  }
};

// IQ3_XXS's eight odd scales 2 s + 1, s the top 4 bits of each sub-block's 32-bit word, as
// int16 lanes 0..7 of both 128-bit halves (broadcast_lane).
inline __m256i iq3_xxs_scales(const BlockIQ3_XXS& x) {
  const __m256i s = _mm256_srli_epi32(load256(x.scales_and_signs), 28);
  const __m256i odd = _mm256_or_si256(_mm256_add_epi32(s, s), _mm256_set1_epi32(1));
  return int16_in_both_halves(odd);
}

// IQ3_XXS's steps (grid_token_group): 8 grid indices, and four 7-bit sign fields in the low
// 28 bits of the step's word.
struct Iq3XxsSteps {
  using Block = BlockIQ3_XXS;
  static constexpr float kDFactor = 0.25f;
  const BlockIQ3_XXS& x;
  __m256i scales = iq3_xxs_scales(x);

  ScaledGridSubBlock operator()(int ib) const {
    const uint8_t* q = x.qs + 8 * ib;
    const __m256i grid =
        _mm256_setr_epi32(grid_row4(kIq3xxsGrid, q[0]), grid_row4(kIq3xxsGrid, q[1]), grid_row4(kIq3xxsGrid, q[2]),
                          grid_row4(kIq3xxsGrid, q[3]), grid_row4(kIq3xxsGrid, q[4]), grid_row4(kIq3xxsGrid, q[5]),
                          grid_row4(kIq3xxsGrid, q[6]), grid_row4(kIq3xxsGrid, q[7]));
    const __m256i words = _mm256_set1_epi32(static_cast<int>(load_u32(x.scales_and_signs + 4 * ib)));
    return {{grid, sign_factors(words, kPackedSignBits)}, broadcast_lane(scales, ib)};
  }
};

// IQ3_S's steps (grid_token_group), from the block's grid indices made beforehand.
struct Iq3SSteps {
  using Block = BlockIQ3_S;
  static constexpr float kDFactor = 1.0f;
  const BlockIQ3_S& x;
  GridIndices<64> index = grid_indices<1, 64>(x.qs, x.qh);

  ScaledGridSubBlock operator()(int ib) const {
    const uint64_t i0 = index.four(2 * ib), i1 = index.four(2 * ib + 1);
    const auto row = [&](uint64_t four, int g) { return grid_row4(kIq3sGrid, (four >> (16 * g)) & 0xffff); };
    const __m256i grid = _mm256_setr_epi32(row(i0, 0), row(i0, 1), row(i0, 2), row(i0, 3), row(i1, 0), row(i1, 1),
                                           row(i1, 2), row(i1, 3));
    const auto scale = static_cast<short>(1 + 2 * ((x.scales[ib / 2] >> (4 * (ib % 2))) & 15));
    return {{grid, sign_bits_to_factors(load_u32(x.signs + 4 * ib))}, _mm256_set1_epi16(scale)};
  }
};

// IQ1 weights as the odd integers 8 grid + delta_sign (dot_scalar_iq.cpp): grid bytes are
// -1, 0, 1, so shifting the 16-bit lanes left by 3 and masking each byte's low bits gives
// 8 grid per byte.
inline __m256i iq1_weights(__m256i grid, __m256i delta_signs) {
  const __m256i grid8 = _mm256_and_si256(_mm256_slli_epi16(grid, 3), _mm256_set1_epi8(static_cast<char>(0xf8)));
  return _mm256_add_epi8(grid8, delta_signs);
}

// A 32-value step of IQ1_S or IQ1_M: its weights as signed odd integers (|w| <= 9), and the
// int16 scales of its maddubs pairs.
struct Iq1Step {
  __m256i weights;
  __m256i scales;
};

constexpr int64_t kAllPlusOne = 0x0101010101010101ll;
constexpr int64_t kAllMinusOne = -1;

// IQ1_S's steps: four 11-bit grid indices (8 bits in qs, 3 in qh), one delta sign and one
// 3-bit scale a step.
struct Iq1SSteps {
  using Block = BlockIQ1_S;
  static constexpr float kDFactor = 0.125f;
  const BlockIQ1_S& x;

  Iq1Step operator()(int ib) const {
    const uint8_t* q = x.qs + 4 * ib;
    const uint32_t h = x.qh[ib];
    const __m256i grid = _mm256_setr_epi64x(
        grid_row(kIq1sGrid, q[0] | ((h << 8) & 0x700)), grid_row(kIq1sGrid, q[1] | ((h << 5) & 0x700)),
        grid_row(kIq1sGrid, q[2] | ((h << 2) & 0x700)), grid_row(kIq1sGrid, q[3] | ((h >> 1) & 0x700)));
    const __m256i delta = _mm256_set1_epi8(h & 0x8000u ? -1 : 1);
    const auto scale = static_cast<short>(2 * ((h >> 12) & 7) + 1);
    return {iq1_weights(grid, delta), _mm256_set1_epi16(scale)};
  }
};

// IQ1_M's steps: four grid indices whose high bits and delta signs are nibbles of qh, and two
// 3-bit scales (one per 16 values) from the block's scale words, whose top nibbles hold d.
struct Iq1MSteps {
  using Block = BlockIQ1_M;
  static constexpr float kDFactor = 0.125f;
  const BlockIQ1_M& x;
  uint64_t scale_bits =
      load_u64(reinterpret_cast<const uint8_t*>(x.scales));  // 16 3-bit scales in the low 12 bits of each 16-bit word

  Iq1Step operator()(int ib) const {
    const uint8_t* q = x.qs + 4 * ib;
    const uint32_t h = x.qh[2 * ib] | (uint32_t{x.qh[2 * ib + 1]} << 8);  // 4 nibbles: 3 index bits, delta sign
    const __m256i grid = _mm256_setr_epi64x(
        grid_row(kIq1sGrid, q[0] | ((h << 8) & 0x700)), grid_row(kIq1sGrid, q[1] | ((h << 4) & 0x700)),
        grid_row(kIq1sGrid, q[2] | (h & 0x700)), grid_row(kIq1sGrid, q[3] | ((h >> 4) & 0x700)));
    const auto delta = [&](int k) { return h & (8u << (4 * k)) ? kAllMinusOne : kAllPlusOne; };
    const __m256i deltas = _mm256_setr_epi64x(delta(0), delta(1), delta(2), delta(3));
    const auto word = static_cast<uint32_t>(scale_bits >> (16 * (ib / 2)));
    const int shift = 6 * (ib % 2);
    return {iq1_weights(grid, deltas),
            halves_scale(2 * ((word >> shift) & 7) + 1, 2 * ((word >> (shift + 3)) & 7) + 1)};
  }
};

// An IQ1 step's products with 32 activations, times its scales (as scaled_grid_dot for the
// grid steps): |w| against a with w's sign (w is odd, never 0).
inline __m256i scaled_grid_dot(const Iq1Step& s, const int8_t* a) {
  const __m256i p =
      _mm256_maddubs_epi16(_mm256_sign_epi8(s.weights, s.weights), _mm256_sign_epi8(load256(a), s.weights));
  return _mm256_madd_epi16(p, s.scales);
}

// The one-token kernel of a format whose super-block sum is its eight steps' scaled products
// added in order (IQ3_XXS, IQ4_XS, IQ1_S, IQ1_M).
template <class Steps>
void dot_steps(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  using Block = typename Steps::Block;
  sum_super_block_rows<Block>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const Block& x, const int8_t* y_qs, const int16_t*) {
        const Steps steps{x};
        __m256i acc = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ++ib) acc = _mm256_add_epi32(acc, scaled_grid_dot(steps(ib), y_qs + 32 * ib));
        return SuperBlockLanes{acc};
      },
      Steps::kDFactor);
}

}  // namespace
}  // namespace sluice::quant::fast::detail
