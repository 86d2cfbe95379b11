// AVX-512 VBMI kernels (byte permutes across a whole vector, vpmultishiftqb), added on top of
// the AVX-512 table where the CPU has VBMI; dot_scalar.cpp is their reference, reproduced bit
// for bit.
//
// IQ2_XXS without table loads. The AVX2 kernel loads a grid row and a sign mask from memory
// for every 8 values and inserts them into vectors one by one, which leaves decoding bound by
// loads and inserts at well under memory speed. Here the tables live in registers:
//   - Each grid row (8 values, each 8, 25 or 43) becomes a 16-bit code of 2 bits per value.
//     The codes' low and high bytes are two 256-byte tables, 8 registers in all; a super-
//     block's 32 grid indices look up both bytes with 4 two-register permutes (vpermi2b
//     covers 128 entries; bit 7 of the index picks the pair).
//   - Per 64 values, one permute puts each of 8 codes in its own 64-bit lane, vpmultishiftqb
//     moves value j's 2 bits to byte j, and a 64-entry permute maps codes to levels.
//   - vpmultishiftqb also pulls each sub-block's four 7-bit sign indices and its scale into
//     bytes; one permute maps the indices to kSignsIq2 bytes, and per 64 values a spread and
//     a bit test make them the mask of values to negate.
//   - dpbusd sums 4 products per int32 lane (at most 4 * 43 * 127, so the sum fits an int16),
//     and dpwssd multiplies each lane by its sub-block's scale 2 s + 1 and accumulates.
#include <immintrin.h>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

constexpr uint8_t kIq2xxsLevels[3] = {8, 25, 43};

constexpr int iq2xxs_level_code(uint8_t value) {
  for (int c = 0; c < 3; ++c) {
    if (kIq2xxsLevels[c] == value) return c;
  }
  return -1;
}

constexpr bool iq2xxs_grid_uses_three_levels() {
  for (const auto& row : kIq2xxsGrid) {
    for (uint8_t v : row) {
      if (iq2xxs_level_code(v) < 0) return false;
    }
  }
  return true;
}
static_assert(iq2xxs_grid_uses_three_levels(), "IQ2_XXS grid values outside 8, 25, 43");

// The IQ2_XXS grid as 16-bit codes (value j in bits 2 j, 2 j + 1), split into low and high bytes.
struct Iq2xxsCodes {
  alignas(64) uint8_t low[256];
  alignas(64) uint8_t high[256];
};
constexpr Iq2xxsCodes make_iq2xxs_codes() {
  Iq2xxsCodes codes{};
  for (int i = 0; i < 256; ++i) {
    unsigned code = 0;
    for (int j = 0; j < 8; ++j) code |= static_cast<unsigned>(iq2xxs_level_code(kIq2xxsGrid[i][j])) << (2 * j);
    codes.low[i] = static_cast<uint8_t>(code & 0xff);
    codes.high[i] = static_cast<uint8_t>(code >> 8);
  }
  return codes;
}
constexpr Iq2xxsCodes kIq2xxsCodes = make_iq2xxs_codes();

// Permute controls and constants, per 64-bit lane unless said otherwise. A super-block's 64
// bytes of qs hold, per sub-block ib of 32 values, 4 grid indices (bytes 8 ib .. 8 ib + 3) and
// a 32-bit word of four 7-bit sign indices and a 4-bit scale (bits 32-63 of lane ib).
struct Iq2xxsControls {
  // Per 64 values m: lane k gets grid entry 8 m + k's code bytes (low at byte 0, high at 1)
  // from the low-table result (indices 0..63) and the high-table one (64..127).
  alignas(64) uint8_t spread_codes[4][64];
  // Per 64 values m: lane k gets the sign byte of entry 8 m + k in all 8 bytes.
  alignas(64) uint8_t spread_signs[4][64];
  // Per 64 values m: int32 lane l gets the scale byte of sub-block 2 m + l / 8 in its low byte.
  alignas(64) uint8_t spread_scales[4][64];
  alignas(64) uint8_t code_shifts[64];  // byte j: bit 2 j (value j's code)
  alignas(64) uint8_t sign_shifts[64];  // bytes 0-3: the sign indices, byte 4: the scale
  alignas(64) uint8_t levels[64];       // byte i: the level of code i & 3
  alignas(64) uint8_t value_bits[64];   // byte j: 1 << j
};
constexpr Iq2xxsControls make_iq2xxs_controls() {
  Iq2xxsControls c{};
  for (int m = 0; m < 4; ++m) {
    for (int k = 0; k < 8; ++k) {
      const int entry = 8 * m + k;
      const auto index_byte = static_cast<uint8_t>(8 * (entry / 4) + entry % 4);
      for (int j = 0; j < 8; ++j) {
        c.spread_codes[m][8 * k + j] = j == 1 ? static_cast<uint8_t>(64 + index_byte) : index_byte;
        c.spread_signs[m][8 * k + j] = index_byte;
      }
    }
    for (int l = 0; l < 16; ++l) {
      for (int j = 0; j < 4; ++j) c.spread_scales[m][4 * l + j] = static_cast<uint8_t>(8 * (2 * m + l / 8) + 4);
    }
  }
  for (int lane = 0; lane < 8; ++lane) {
    for (int j = 0; j < 8; ++j) {
      c.code_shifts[8 * lane + j] = static_cast<uint8_t>(2 * j);
      c.sign_shifts[8 * lane + j] = static_cast<uint8_t>(j < 4 ? 32 + 7 * j : 60);
      c.value_bits[8 * lane + j] = static_cast<uint8_t>(1u << j);
    }
  }
  for (int i = 0; i < 64; ++i) c.levels[i] = (i & 3) < 3 ? kIq2xxsLevels[i & 3] : 0;
  return c;
}
constexpr Iq2xxsControls kIq2xxsControls = make_iq2xxs_controls();

// Bytes of a 256-entry table at the indices' bytes (all 8 bits).
inline __m512i lookup256(__m512i indices, __mmask64 index_bit7, const __m512i (&table)[4]) {
  return _mm512_mask_blend_epi8(index_bit7, _mm512_permutex2var_epi8(table[0], indices, table[1]),
                                _mm512_permutex2var_epi8(table[2], indices, table[3]));
}

// value = d / 8 * (2 scale + 1) * grid * sign, as dot_scalar.cpp's dot_iq2_xxs.
float dot_iq2_xxs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ2_XXS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  const Iq2xxsControls& c = kIq2xxsControls;
  const __m512i low_table[4] = {load512(kIq2xxsCodes.low), load512(kIq2xxsCodes.low + 64),
                                load512(kIq2xxsCodes.low + 128), load512(kIq2xxsCodes.low + 192)};
  const __m512i high_table[4] = {load512(kIq2xxsCodes.high), load512(kIq2xxsCodes.high + 64),
                                 load512(kIq2xxsCodes.high + 128), load512(kIq2xxsCodes.high + 192)};
  const __m512i sign_table[2] = {load512(kSignsIq2), load512(kSignsIq2 + 64)};
  const __m512i code_shifts = load512(c.code_shifts);
  const __m512i sign_shifts = load512(c.sign_shifts);
  const __m512i levels = load512(c.levels);
  const __m512i value_bits = load512(c.value_bits);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i one = _mm512_set1_epi8(1);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ2_XXS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const float y_d = acts.d[b];
    prefetch_ahead<sizeof(BlockIQ2_XXS)>(&x);
    const __m512i qs = load512(x.qs);
    const __mmask64 index_bit7 = _mm512_movepi8_mask(qs);
    const __m512i code_low = lookup256(qs, index_bit7, low_table);
    const __m512i code_high = lookup256(qs, index_bit7, high_table);
    const __m512i fields = _mm512_multishift_epi64_epi8(sign_shifts, qs);
    const __m512i sign_bytes = _mm512_permutex2var_epi8(sign_table[0], fields, sign_table[1]);
    const __m512i scale_bytes = _mm512_and_si512(fields, low4);
    const __m512i scales = _mm512_or_si512(_mm512_add_epi8(scale_bytes, scale_bytes), one);  // 2 s + 1
    __m512i acc = _mm512_setzero_si512();
    for (int m = 0; m < 4; ++m) {
      const __m512i codes = _mm512_permutex2var_epi8(code_low, load512(c.spread_codes[m]), code_high);
      const __m512i grid = _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(code_shifts, codes), levels);
      const __mmask64 negate =
          _mm512_test_epi8_mask(_mm512_permutexvar_epi8(load512(c.spread_signs[m]), sign_bytes), value_bits);
      const __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), grid, negate_where(load512(y_qs + 64 * m), negate));
      const __m512i lane_scales =
          _mm512_maskz_permutexvar_epi8(0x1111111111111111ull, load512(c.spread_scales[m]), scales);
      acc = _mm512_dpwssd_epi32(acc, sums, lane_scales);
    }
    const int32_t isum = _mm512_reduce_add_epi32(acc);
    const float d = 0.125f * f16(x.d) * y_d;
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace

void add_avx512_vbmi_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::IQ2_XXS, for_each_token<dot_iq2_xxs>);
}

}  // namespace sluice::quant::fast::detail
