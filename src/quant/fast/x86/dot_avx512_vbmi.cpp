// AVX-512 VBMI kernels (byte permutes across a whole vector, vpmultishiftqb) of the grid
// i-quants IQ2_XXS, IQ3_XXS and IQ3_S, added on top of the AVX-512 table where
// the CPU has VBMI; dot_scalar.cpp and dot_scalar_iq.cpp are their reference, reproduced bit
// for bit.
//
// The AVX2 kernels fetch a grid row (and for some formats a sign mask) from memory for every
// 4 or 8 values and insert or gather them into vectors. Here the tables are permuted, not
// loaded from: they stay in registers. (IQ2_XS and IQ2_S had kernels here too, but their 512-
// and 1024-row code tables filled much of the register file or more; dot_avx512_iq.cpp's,
// which load grid rows with their indices put together by pdep, are faster: 33 -> 28 and
// 39 -> 26 TSC cycles per super-block.)
//   - Each grid row (8 values of 3 levels, or 4 values of 8 levels) becomes a code of 2 or 3
//     bits per value, at most 16 bits. The codes' low and high bytes are two tables of 256
//     bytes per 256 rows; a super-block's grid indices look up both bytes with two-register
//     permutes (vpermi2b covers 128 entries; index bits 7 and 8 pick among the pairs).
//   - Per 64 values, one permute puts each 64-bit lane's codes (one row of 8 values or two of
//     4) in its low bytes, vpmultishiftqb moves value j's code to the low bits of byte j, and a
//     64-entry permute maps codes to levels.
//   - Signs become the mask of values to negate: explicit sign bytes are that mask already;
//     7-bit sign indices are pulled into bytes by vpmultishiftqb (or a shift), mapped to
//     kSignsIq2 bytes by one permute, and per 64 values spread to their lanes and bit-tested.
//   - Scales are pulled into bytes by vpmultishiftqb. dpbusd sums 4 products per int32 lane (at
//     most 4 * 62 * 127, so the sum fits an int16), and dpwssd multiplies each lane by its
//     scale 2 s + 1 and accumulates.
#include <immintrin.h>

#include <cstring>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// ---- Grid rows as codes --------------------------------------------------------------------

constexpr int level_code(uint8_t value, const uint8_t* levels, int n_levels) {
  for (int c = 0; c < n_levels; ++c) {
    if (levels[c] == value) return c;
  }
  return -1;
}

// A grid of kRows rows of kWidth values, each one of kLevels levels, as codes of kBits per
// value (value j in bits kBits * j), split into a table of low bytes and one of high bytes.
template <int kRows, int kWidth, int kLevels>
struct GridCodes {
  static constexpr int kBits = kLevels <= 4 ? 2 : 3;
  static_assert(kWidth * kBits <= 16);
  alignas(64) uint8_t low[kRows];
  alignas(64) uint8_t high[kRows];
  alignas(64) uint8_t level_of[64];  // byte i: the level of code i % 2^kBits (a permute table)
  bool valid;                        // every grid value is one of the levels
};
template <int kRows, int kWidth, int kLevels>
constexpr GridCodes<kRows, kWidth, kLevels> make_grid_codes(const uint8_t (&grid)[kRows][kWidth],
                                                            const uint8_t (&levels)[kLevels]) {
  using Codes = GridCodes<kRows, kWidth, kLevels>;
  Codes codes{};
  codes.valid = true;
  for (int i = 0; i < kRows; ++i) {
    unsigned code = 0;
    for (int j = 0; j < kWidth; ++j) {
      const int c = level_code(grid[i][j], levels, kLevels);
      codes.valid = codes.valid && c >= 0;
      code |= static_cast<unsigned>(c < 0 ? 0 : c) << (Codes::kBits * j);
    }
    codes.low[i] = static_cast<uint8_t>(code & 0xff);
    codes.high[i] = static_cast<uint8_t>(code >> 8);
  }
  for (int i = 0; i < 64; ++i) {
    const int c = i % (1 << Codes::kBits);
    codes.level_of[i] = c < kLevels ? levels[c] : 0;
  }
  return codes;
}

constexpr uint8_t kIq2Levels[3] = {8, 25, 43};
constexpr uint8_t kIq3xxsLevels[8] = {4, 12, 20, 28, 36, 44, 52, 62};
constexpr uint8_t kIq3sLevels[8] = {1, 3, 5, 7, 9, 11, 13, 15};
constexpr auto kIq2xxsCodes = make_grid_codes(kIq2xxsGrid, kIq2Levels);
constexpr auto kIq3xxsCodes = make_grid_codes(kIq3xxsGrid, kIq3xxsLevels);
constexpr auto kIq3sCodes = make_grid_codes(kIq3sGrid, kIq3sLevels);
static_assert(kIq2xxsCodes.valid, "IQ2 grid values outside 8, 25, 43");
static_assert(kIq3xxsCodes.valid && kIq3sCodes.valid, "IQ3 grid values outside their levels");

// A table of 256 * kParts bytes in registers.
template <int kParts>
struct Table {
  __m512i part[4 * kParts];
};
template <int kParts>
inline Table<kParts> load_table(const uint8_t* bytes) {
  Table<kParts> t;
  for (int i = 0; i < 4 * kParts; ++i) t.part[i] = load512(bytes + 64 * i);
  return t;
}

// table[first + index] for each byte's 8-bit index: vpermi2b uses index bits 0-6 to pick one
// of 128 bytes of a register pair, and bit 7 (index_bit7, as a mask) picks the pair.
template <int kParts>
inline __m512i lookup256(__m512i indices, __mmask64 index_bit7, const Table<kParts>& table, int first = 0) {
  const __m512i* p = table.part + first / 64;
  return _mm512_mask_blend_epi8(index_bit7, _mm512_permutex2var_epi8(p[0], indices, p[1]),
                                _mm512_permutex2var_epi8(p[2], indices, p[3]));
}

// Masks of index bits 7 and 8 for lookups of up to 512 entries.
struct IndexHighBits {
  __mmask64 bit7;
  __mmask64 bit8 = 0;
};

template <int kParts>
inline __m512i lookup(__m512i indices, const IndexHighBits& high, const Table<kParts>& table) {
  if constexpr (kParts == 1) {
    return lookup256(indices, high.bit7, table);
  } else {
    static_assert(kParts == 2);
    return _mm512_mask_blend_epi8(high.bit8, lookup256(indices, high.bit7, table),
                                  lookup256(indices, high.bit7, table, 256));
  }
}

// A grid's code tables, the code shifts for its row width and its levels, in registers.
template <int kParts>
struct GridDecoder {
  struct Codes {
    __m512i low, high;  // the code bytes of each byte's grid index
  };

  template <class GridCodes>
  GridDecoder(const GridCodes& codes, const uint8_t* shifts)
      : low(load_table<kParts>(codes.low)),
        high(load_table<kParts>(codes.high)),
        code_shifts(load512(shifts)),
        level_of(load512(codes.level_of)) {}

  Codes lookup_codes(__m512i indices, const IndexHighBits& bits) const {
    return {lookup(indices, bits, low), lookup(indices, bits, high)};
  }

  // The levels of 64 values: `spread` gathers each 64-bit lane's codes (bytes 0-63: codes.low,
  // 64-127: codes.high), vpmultishiftqb moves value j's code to the low bits of byte j, and a
  // permute maps codes to levels (the bits above a code do not matter to level_of).
  __m512i levels(const Codes& codes, const uint8_t* spread) const {
    const __m512i lanes = _mm512_permutex2var_epi8(codes.low, load512(spread), codes.high);
    return _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(code_shifts, lanes), level_of);
  }

  Table<kParts> low, high;
  __m512i code_shifts, level_of;
};

// The mask of values to negate among 64: `spread` copies each 64-bit lane's sign byte to all of
// its bytes, and byte j keeps bit j.
inline __mmask64 sign_mask(__m512i sign_bytes, const uint8_t* spread, __m512i value_bits) {
  return _mm512_test_epi8_mask(_mm512_permutexvar_epi8(load512(spread), sign_bytes), value_bits);
}

// 2 s + 1 of the 4-bit scales s in bytes' low bits.
inline __m512i odd_scales(__m512i scale_bytes) {
  const __m512i s = _mm512_and_si512(scale_bytes, _mm512_set1_epi8(0x0f));
  return _mm512_or_si512(_mm512_add_epi8(s, s), _mm512_set1_epi8(1));
}

// acc + sum over 64 values of grid * (+-a) * scale, with the scale of each int32 lane of
// 4 values in its low byte (`spread` picks them from scale_bytes, zeroing the other bytes).
// dpbusd sums 4 products per int32 lane, at most 4 * 62 * 127 in magnitude, so each sum equals
// its low int16 and its high int16 is the sign extension. dpwssd multiplies int16 pairs: the
// low half by the scale, the high half by the scale lane's zero high half.
inline __m512i add_scaled_dot(__m512i acc, __m512i grid, __mmask64 negate, const int8_t* a, __m512i scale_bytes,
                              const uint8_t* spread) {
  const __m512i sums = _mm512_dpbusd_epi32(_mm512_setzero_si512(), grid, negate_where(load512(a), negate));
  const __m512i lane_scales = _mm512_maskz_permutexvar_epi8(0x1111111111111111ull, load512(spread), scale_bytes);
  return _mm512_dpwssd_epi32(acc, sums, lane_scales);
}

// ---- Permute controls ----------------------------------------------------------------------

// Per 64 values m of a super-block, one control vector.
struct Spread {
  alignas(64) uint8_t of[4][64];
};

// Rows of 8 values: lane k gets row 8 m + k's code bytes (low, high) at bytes 0, 1, from the
// byte where row_byte puts the row's grid index.
constexpr Spread spread_rows8(int (*row_byte)(int)) {
  Spread s{};
  for (int m = 0; m < 4; ++m) {
    for (int i = 0; i < 64; ++i) {
      const int at = row_byte(8 * m + i / 8);
      s.of[m][i] = static_cast<uint8_t>(i % 8 == 1 ? 64 + at : at);
    }
  }
  return s;
}

// Rows of 4 values: lane k gets the code bytes of rows 16 m + 2 k and + 1 at bytes 0-3, the
// grid index of row r being byte r.
constexpr Spread spread_rows4() {
  Spread s{};
  for (int m = 0; m < 4; ++m) {
    for (int i = 0; i < 64; ++i) {
      const int row = 16 * m + 2 * (i / 8) + (i % 8 >= 2 ? 1 : 0);
      s.of[m][i] = static_cast<uint8_t>(i % 2 == 1 ? 64 + row : row);
    }
  }
  return s;
}

// Lane k gets byte lane_byte(8 m + k) in all its bytes (the sign byte of its 8 values).
constexpr Spread spread_lanes(int (*lane_byte)(int)) {
  Spread s{};
  for (int m = 0; m < 4; ++m) {
    for (int i = 0; i < 64; ++i) s.of[m][i] = static_cast<uint8_t>(lane_byte(8 * m + i / 8));
  }
  return s;
}

// Int32 lane l gets, in its low byte, byte scale_byte(g) for the group g of values_per_scale
// values holding values 64 m + 4 l .. + 3.
constexpr Spread spread_scales(int values_per_scale, int (*scale_byte)(int)) {
  Spread s{};
  for (int m = 0; m < 4; ++m) {
    for (int i = 0; i < 64; ++i) {
      s.of[m][i] = static_cast<uint8_t>(scale_byte((64 * m + 4 * (i / 4)) / values_per_scale));
    }
  }
  return s;
}

// A vector given per byte j of 64-bit lane q: a vpmultishiftqb control (byte j of lane q gets
// the lane's 8 bits from bit value(q, j) on) or a constant such as kValueBits.
struct LaneBytes {
  alignas(64) uint8_t of[64];
};
constexpr LaneBytes lane_bytes(int (*value)(int lane, int byte)) {
  LaneBytes s{};
  for (int i = 0; i < 64; ++i) s.of[i] = static_cast<uint8_t>(value(i / 8, i % 8));
  return s;
}

constexpr int identity(int i) { return i; }
constexpr LaneBytes kCodeShifts2 = lane_bytes([](int, int j) { return 2 * j; });  // one row of 8 values
constexpr LaneBytes kCodeShifts3 = lane_bytes([](int, int j) { return j < 4 ? 3 * j : 16 + 3 * (j - 4); });  // two of 4
// 16 4-bit scales from a 64-bit word broadcast to every lane: scale g in byte g's low bits.
constexpr LaneBytes kNibbleShifts = lane_bytes([](int q, int j) { return 4 * (8 * (q % 2) + j); });
constexpr LaneBytes kValueBits = lane_bytes([](int, int j) { return 1 << j; });

// kSignsIq2 in two registers, and the bit of each value in its lane's sign byte.
struct SignTables {
  __m512i value_bits = load512(kValueBits.of);
  __m512i sign_table[2] = {load512(kSignsIq2), load512(kSignsIq2 + 64)};
};

// kSignsIq2 bytes of 7-bit indices in bytes' low bits.
inline __m512i iq2_signs(const SignTables& c, __m512i indices) {
  return _mm512_permutex2var_epi8(c.sign_table[0], indices, c.sign_table[1]);
}

// The 32 explicit sign bytes of a super-block as the masks of its four runs of 64 values.
inline __mmask64 explicit_signs(const uint8_t* signs, int m) { return load_u64(signs + 8 * m); }

// The 4-bit scales s of a word, low nibble first, as 2 s + 1 in bytes 0-15.
inline __m512i nibble_scales(uint64_t scales, __m512i nibble_shifts) {
  return odd_scales(_mm512_multishift_epi64_epi8(nibble_shifts, _mm512_set1_epi64(static_cast<int64_t>(scales))));
}

// Per row, the sum over super-blocks of d_factor * d * d_y * isum, isum being the total of the
// int32 lanes block_sums(block, activation quants) returns; super_blocks.h does the f32 step.
template <class Block, class BlockSums>
void sum_grid_super_blocks(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n,
                           float* out, float d_factor, BlockSums block_sums) {
  const auto lanes = [&](const Block& x, const int8_t* y_qs, const int16_t*) {
    return SuperBlockLanes{fold_to_256(block_sums(x, y_qs))};
  };
  sum_super_block_rows<Block>(w, w_row_bytes, n_rows, act, n, out, lanes, d_factor);
}

// ---- IQ2_XXS -------------------------------------------------------------------------------
// qs holds, per sub-block ib of 32 values, 4 grid indices (bytes 8 ib .. 8 ib + 3) and a
// 32-bit word of four 7-bit sign indices and a 4-bit scale (bits 32-63 of 64-bit lane ib).

constexpr int iq2xxs_row_byte(int row) { return 8 * (row / 4) + row % 4; }
constexpr Spread kIq2xxsCodeSpread = spread_rows8(iq2xxs_row_byte);
constexpr Spread kIq2xxsSignSpread = spread_lanes(iq2xxs_row_byte);
constexpr Spread kIq2xxsScaleSpread = spread_scales(32, [](int s) { return 8 * s + 4; });
// Per lane: bytes 0-3 the sign indices, byte 4 the scale.
constexpr LaneBytes kIq2xxsFieldShifts = lane_bytes([](int, int j) { return j < 4 ? 32 + 7 * j : 60; });

// value = d / 8 * (2 scale + 1) * grid * sign, as dot_scalar.cpp's dot_iq2_xxs.
void dot_iq2_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const SignTables c;
  const GridDecoder<1> decoder(kIq2xxsCodes, kCodeShifts2.of);
  const __m512i field_shifts = load512(kIq2xxsFieldShifts.of);
  sum_grid_super_blocks<BlockIQ2_XXS>(
      w, w_row_bytes, n_rows, act, n, out, 0.125f, [&](const BlockIQ2_XXS& x, const int8_t* y_qs) {
        const __m512i qs = load512(x.qs);
        const IndexHighBits high{_mm512_movepi8_mask(qs)};
        const auto codes = decoder.lookup_codes(qs, high);
        const __m512i fields = _mm512_multishift_epi64_epi8(field_shifts, qs);
        const __m512i sign_bytes = iq2_signs(c, fields);
        const __m512i scales = odd_scales(fields);
        __m512i acc = _mm512_setzero_si512();
        for (int m = 0; m < 4; ++m) {
          const __m512i grid = decoder.levels(codes, kIq2xxsCodeSpread.of[m]);
          const __mmask64 negate = sign_mask(sign_bytes, kIq2xxsSignSpread.of[m], c.value_bits);
          acc = add_scaled_dot(acc, grid, negate, y_qs + 64 * m, scales, kIq2xxsScaleSpread.of[m]);
        }
        return acc;
      });
}

// ---- IQ3_XXS -------------------------------------------------------------------------------
// qs holds 64 grid indices of 4 values each; scales_and_signs, per sub-block ib of 32 values,
// a 32-bit word of four 7-bit sign indices (8 values each) and a 4-bit scale. Read as 64-bit
// lanes, lane q holds sub-blocks 2 q and 2 q + 1, so sign group g's index lands in byte g.

constexpr Spread kRows4CodeSpread = spread_rows4();
constexpr Spread kIq3xxsSignSpread = spread_lanes(identity);
// Sub-block s's scale lands in byte 8 (s / 2) + s % 2.
constexpr Spread kIq3xxsScaleSpread = spread_scales(32, [](int s) { return 8 * (s / 2) + s % 2; });
constexpr LaneBytes kIq3xxsSignShifts = lane_bytes([](int, int j) { return 32 * (j / 4) + 7 * (j % 4); });
constexpr LaneBytes kIq3xxsScaleShifts = lane_bytes([](int, int j) { return j < 2 ? 28 + 32 * j : 0; });

// value = d / 4 * (2 scale + 1) * grid * sign, as dot_scalar_iq.cpp's dot_iq3_xxs.
void dot_iq3_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const SignTables c;
  const GridDecoder<1> decoder(kIq3xxsCodes, kCodeShifts3.of);
  const __m512i sign_shifts = load512(kIq3xxsSignShifts.of);
  const __m512i scale_shifts = load512(kIq3xxsScaleShifts.of);
  sum_grid_super_blocks<BlockIQ3_XXS>(
      w, w_row_bytes, n_rows, act, n, out, 0.25f, [&](const BlockIQ3_XXS& x, const int8_t* y_qs) {
        const __m512i qs = load512(x.qs);
        const IndexHighBits high{_mm512_movepi8_mask(qs)};
        const auto codes = decoder.lookup_codes(qs, high);
        const __m512i words =
            _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.scales_and_signs)));
        const __m512i sign_bytes = iq2_signs(c, _mm512_multishift_epi64_epi8(sign_shifts, words));
        const __m512i scales = odd_scales(_mm512_multishift_epi64_epi8(scale_shifts, words));
        __m512i acc = _mm512_setzero_si512();
        for (int m = 0; m < 4; ++m) {
          const __m512i grid = decoder.levels(codes, kRows4CodeSpread.of[m]);
          const __mmask64 negate = sign_mask(sign_bytes, kIq3xxsSignSpread.of[m], c.value_bits);
          acc = add_scaled_dot(acc, grid, negate, y_qs + 64 * m, scales, kIq3xxsScaleSpread.of[m]);
        }
        return acc;
      });
}

// ---- IQ3_S ---------------------------------------------------------------------------------
// qs holds the low 8 bits of 64 9-bit grid indices of 4 values, qh their 9th bits (bit e of
// the 64-bit word for row e), signs one explicit sign byte per 8 values, scales 8 4-bit scales
// (one per 32 values).

constexpr Spread kScaleSpread32 = spread_scales(32, identity);

// value = d * (2 scale + 1) * grid * sign, as dot_scalar_iq.cpp's dot_iq3_s.
void dot_iq3_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const GridDecoder<2> decoder(kIq3sCodes, kCodeShifts3.of);
  const __m512i nibble_shifts = load512(kNibbleShifts.of);
  sum_grid_super_blocks<BlockIQ3_S>(
      w, w_row_bytes, n_rows, act, n, out, 1.0f, [&](const BlockIQ3_S& x, const int8_t* y_qs) {
        const __m512i qs = load512(x.qs);
        const IndexHighBits high{_mm512_movepi8_mask(qs), load_u64(x.qh)};
        const auto codes = decoder.lookup_codes(qs, high);
        const __m512i scales = nibble_scales(load_u32(x.scales), nibble_shifts);
        __m512i acc = _mm512_setzero_si512();
        for (int m = 0; m < 4; ++m) {
          const __m512i grid = decoder.levels(codes, kRows4CodeSpread.of[m]);
          acc = add_scaled_dot(acc, grid, explicit_signs(x.signs, m), y_qs + 64 * m, scales, kScaleSpread32.of[m]);
        }
        return acc;
      });
}

}  // namespace

void add_avx512_vbmi_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::IQ2_XXS, rows_for_each_token<dot_iq2_xxs>);
  set_kernel(table, GgmlType::IQ3_XXS, rows_for_each_token<dot_iq3_xxs>);
  set_kernel(table, GgmlType::IQ3_S, rows_for_each_token<dot_iq3_s>);
}

}  // namespace sluice::quant::fast::detail
