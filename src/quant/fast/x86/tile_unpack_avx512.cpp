// The unpackers of tile_unpack_avx512.h. Each reads a super-block of 16 rows at once: the
// quants by 16 x 16 dword transposes of the rows' bytes, the scales by gathers, and computes
// the scales, bsums factors and f32 factors of 16 rows per vector. The integers are the row
// kernels' (dot_scalar.cpp says what each format's are).
#include "quant/fast/x86/tile_unpack_avx512.h"

#include <cstddef>
#include <type_traits>

#include "quant/blocks_iq.h"
#include "quant/blocks_k.h"
#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/quant_tables.h"
#include "util/error.h"

namespace sluice::quant::fast::detail {
namespace {

constexpr int kRows = kTileLanes;

// The same 4 bytes of 16 rows (rows row_bytes apart; `row_offsets` their offsets), one per lane.
inline __m512i gather_rows(const __m512i row_offsets, const uint8_t* p) {
  return _mm512_i32gather_epi32(row_offsets, p, 1);
}

inline __m512i row_offsets_of(size_t w_row_bytes) {
  SLUICE_ASSERT(w_row_bytes <= (size_t{1} << 27));  // 15 rows' offset fits an int32
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(static_cast<int>(w_row_bytes)));
}

// The same 64 bytes of 16 rows (rows row_bytes apart, from p), one int32 lane per row:
// column[k] holds dword k of every row. A 16 x 16 transpose of dwords in three rounds of
// shuffles (pairs of rows, then quads, then 128-bit lanes), cheaper than 16 gathers.
// n_bytes < 64 reads only that many bytes of each row (the rest are zeros): blocks shorter
// than 64 bytes must not be read past their end, which may be the end of the matrix.
inline void transpose_rows(const uint8_t* p, size_t row_bytes, __m512i (&column)[16], int n_bytes = 64) {
  __m512i m[16], t[16];
  const __mmask64 bytes = n_bytes == 64 ? ~__mmask64{0} : (__mmask64{1} << n_bytes) - 1;
  for (int r = 0; r < 16; ++r) m[r] = _mm512_maskz_loadu_epi8(bytes, p + r * row_bytes);
  for (int i = 0; i < 8; ++i) {  // t[2i], t[2i + 1]: rows 2i, 2i + 1 interleaved
    t[2 * i] = _mm512_unpacklo_epi32(m[2 * i], m[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(m[2 * i], m[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // m[4i + e], 128-bit lane l: rows 4i .. 4i + 3 of dword 4l + e
    m[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    m[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    m[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    m[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int e = 0; e < 4; ++e) {  // lane l of the quads' vectors into lane i of column 4l + e
    const __m512i a01 = _mm512_shuffle_i32x4(m[e], m[4 + e], 0x44), a23 = _mm512_shuffle_i32x4(m[e], m[4 + e], 0xee);
    const __m512i b01 = _mm512_shuffle_i32x4(m[8 + e], m[12 + e], 0x44);
    const __m512i b23 = _mm512_shuffle_i32x4(m[8 + e], m[12 + e], 0xee);
    column[e] = _mm512_shuffle_i32x4(a01, b01, 0x88);
    column[4 + e] = _mm512_shuffle_i32x4(a01, b01, 0xdd);
    column[8 + e] = _mm512_shuffle_i32x4(a23, b23, 0x88);
    column[12 + e] = _mm512_shuffle_i32x4(a23, b23, 0xdd);
  }
}

// ---- unpacking --------------------------------------------------------------------------------

// Byte i of each int32 lane, as an int32.
inline __m512i byte_of(__m512i v, int i) {
  return _mm512_and_si512(_mm512_srli_epi32(v, 8 * i), _mm512_set1_epi32(0xff));
}

inline __m512i pair16(__m512i lo, __m512i hi) {
  return _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16));
}

// The f16 in the low (high = false) or high half of each int32 lane, as f32.
inline __m512 f16_half(__m512i v, bool high) {
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(high ? _mm512_srli_epi32(v, 16) : v));
}

// The unpacking reads each block of 16 rows at once, 16 rows apart in memory; the hardware
// prefetchers do not follow that, so it asks for the same block of the next 16 rows (the next
// tile's unpacking) itself.
template <class Block>
void prefetch_next_tile(const Block& first, size_t w_row_bytes) {
  const auto* next = reinterpret_cast<const char*>(&first) + kRows * w_row_bytes;
  for (int r = 0; r < kRows; ++r) {
    for (size_t at = 0; at < sizeof(Block); at += 64) _mm_prefetch(next + r * w_row_bytes + at, _MM_HINT_T1);
  }
}

// Runs body(b, first, row_offsets) for each super-block b of 16 rows of Block (first: row
// 0's block b) after sizing `u`, and asks for the next 16 rows' block b ahead.
template <class Block, class Body>
void unpack_blocks(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, int sub_blocks, UnpackedRows& u,
                   Body body) {
  u.resize(n_blocks, sub_blocks);
  const __m512i offsets = row_offsets_of(w_row_bytes);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const Block& first = blocks_of<Block>(w)[b];
    prefetch_next_tile(first, w_row_bytes);
    body(b, first, offsets);
  }
}

// IQ1's values 8 grid + delta (grid -1, 0, 1; delta +-1) are stored + 9.
constexpr int kIq1Offset = 9;

// IQ1: the 8 values of grid row entry (values 8 entry ..; -1, 0, 1 at byte offset `row` of
// kIq1sGrid) as 8 grid + delta + 9 (delta = +-1, by delta_minus), in 0..18: groups 2 entry
// and 2 entry + 1.
inline void store_iq1_row(UnpackedRows& u, int64_t b, int entry, __m512i row, __mmask16 delta_minus) {
  const auto* grid = reinterpret_cast<const uint8_t*>(&kIq1sGrid[0][0]);
  // 9 + delta per byte: 8 or 10.
  const __m512i base = _mm512_mask_blend_epi32(delta_minus, _mm512_set1_epi8(10), _mm512_set1_epi8(8));
  for (int half = 0; half < 2; ++half) {
    const __m512i g = _mm512_i32gather_epi32(row, grid + 4 * half, 1);
    // 8 g per byte: the bits shifted into the next byte land in its low 3 bits, cleared.
    const __m512i eight_g = _mm512_and_si512(_mm512_slli_epi32(g, 3), _mm512_set1_epi8(static_cast<char>(0xf8)));
    _mm512_store_si512(u.group(b, 2 * entry + half), _mm512_add_epi8(eight_g, base));
  }
}

// IQ2 sign bytes: a 7-bit index, with bit 7 set to its parity so that the 8 signs have an even
// number of minus signs. Computed rather than looked up (the table in quant_tables.h).
constexpr bool signs_are_index_and_parity() {
  for (int i = 0; i < 128; ++i) {
    if (kSignsIq2[i] != (i | (__builtin_popcount(static_cast<unsigned>(i)) & 1) << 7)) return false;
  }
  return true;
}
static_assert(signs_are_index_and_parity());

inline __m512i iq2_signs(__m512i index7) {
  __m512i parity = _mm512_xor_si512(index7, _mm512_srli_epi32(index7, 4));
  parity = _mm512_xor_si512(parity, _mm512_srli_epi32(parity, 2));
  parity = _mm512_xor_si512(parity, _mm512_srli_epi32(parity, 1));
  return _mm512_or_si512(index7, _mm512_slli_epi32(_mm512_and_si512(parity, _mm512_set1_epi32(1)), 7));
}

// offset + m or offset - m per byte of `magnitudes` (4 per int32 lane): minus where bit i of
// the lane's `signs` (its low 4 bits) is set, for byte i.
inline __m512i signed_with_offset(__m512i magnitudes, __m512i signs, int offset) {
  const __m512i bit_of_byte = _mm512_set1_epi32(0x08040201);
  const __m512i spread =
      _mm512_mullo_epi32(_mm512_and_si512(signs, _mm512_set1_epi32(0x0f)), _mm512_set1_epi32(0x01010101));
  const __mmask64 minus = _mm512_test_epi8_mask(spread, bit_of_byte);
  const __m512i base = _mm512_set1_epi8(static_cast<char>(offset));
  return _mm512_mask_sub_epi8(_mm512_add_epi8(base, magnitudes), minus, base, magnitudes);
}

// The grid i-quants' values are signed grid magnitudes (at most 62), stored + 64.
constexpr int kGridOffset = 64;

// The 8 values of grid row entry (values 8 entry ..) of 16 rows, from grid rows of 8 at byte
// offsets `row` of `grid` and the signs in the low 8 bits of each lane of `signs`: groups
// 2 entry and 2 entry + 1.
inline void store_grid8(UnpackedRows& u, int64_t b, int entry, const uint8_t* grid, __m512i row, __m512i signs) {
  const __m512i low = _mm512_i32gather_epi32(row, grid, 1), high = _mm512_i32gather_epi32(row, grid + 4, 1);
  _mm512_store_si512(u.group(b, 2 * entry), signed_with_offset(low, signs, kGridOffset));
  _mm512_store_si512(u.group(b, 2 * entry + 1), signed_with_offset(high, _mm512_srli_epi32(signs, 4), kGridOffset));
}

// The same for grid rows of 4 and the signs in the low 4 bits.
inline __m512i signed_grid4(const uint8_t* grid, __m512i row, __m512i signs) {
  return signed_with_offset(_mm512_i32gather_epi32(row, grid, 1), signs, kGridOffset);
}

// The scales of 16 sub-blocks of 16 and their bsums factors -offset * scale, for values
// stored + offset.
inline void store_scales16(UnpackedRows& u, int64_t b, const __m512i (&scale)[16], int offset) {
  const __m512i minus_offset = _mm512_set1_epi32(-offset);
  for (int j = 0; j < 16; ++j) _mm512_storeu_si512(u.scales_of(b, j), scale[j]);
  for (int p = 0; p < kBsumPairs; ++p) {
    _mm512_storeu_si512(u.coefs_of(b, p), pair16(_mm512_mullo_epi32(scale[2 * p], minus_offset),
                                                 _mm512_mullo_epi32(scale[2 * p + 1], minus_offset)));
  }
}

// Sub-block j's scale (8 sub-blocks of 32: both bsums of pair j) and its bsums factors.
inline void store_scale32(UnpackedRows& u, int64_t b, int j, __m512i scale, int offset) {
  _mm512_storeu_si512(u.scales_of(b, j), scale);
  const __m512i coef = _mm512_mullo_epi32(scale, _mm512_set1_epi32(-offset));
  _mm512_storeu_si512(u.coefs_of(b, j), pair16(coef, coef));
}

// Scales 2 s + 1 of 16 sub-blocks from 4-bit s, two per byte (low nibble first) in 8 bytes
// (words[0], words[1]), for values stored + kGridOffset.
inline void odd_scales_of_nibbles(const __m512i (&words)[2], UnpackedRows& u, int64_t b) {
  __m512i scale[16];
  for (int j = 0; j < 16; ++j) {
    const __m512i s = _mm512_and_si512(_mm512_srli_epi32(words[j / 8], 4 * (j % 8)), _mm512_set1_epi32(0x0f));
    scale[j] = _mm512_add_epi32(_mm512_slli_epi32(s, 1), _mm512_set1_epi32(1));
  }
  store_scales16(u, b, scale, kGridOffset);
}

// Q2_K's and TQ2_0's 2-bit quants: value 128 c + 32 s + l is bits 2s, 2s + 1 of qs[32 c + l].
inline void store_2bit_quants(const uint8_t* qs, size_t w_row_bytes, UnpackedRows& u, int64_t b) {
  __m512i words[16];  // dword k of qs in words[k]
  transpose_rows(qs, w_row_bytes, words);
  for (int c = 0; c < 2; ++c) {
    for (int s = 0; s < 4; ++s) {
      for (int g = 0; g < 8; ++g) {
        _mm512_store_si512(u.group(b, 32 * c + 8 * s + g),
                           _mm512_and_si512(_mm512_srli_epi32(words[8 * c + g], 2 * s), _mm512_set1_epi8(0x03)));
      }
    }
  }
}

// The f16 d at `at` (low half of the word there, or high half) times `factor`, for 16 rows.
inline void store_d(UnpackedRows& u, int64_t b, __m512i offsets, const void* at, bool high, float factor) {
  const __m512 d = f16_half(gather_rows(offsets, static_cast<const uint8_t*>(at)), high);
  _mm512_storeu_ps(u.d.data() + b * kRows, factor == 1.0f ? d : _mm512_mul_ps(_mm512_set1_ps(factor), d));
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and minimums. In chunk c of qs, byte l
// holds value l of sub-block 2c (low nibble) and of 2c + 1 (high); Q5_K's bit 4 of value l of
// sub-block j is bit j of qh[l]. The 12 scale bytes, as 32-bit words w0 w1 w2, hold scales 0..3
// = w0 & 63, 4..7 = (w2 & 15) | (w0 >> 6) << 4 and minimums 0..3 = w1 & 63,
// 4..7 = (w2 >> 4) | (w1 >> 6) << 4, per byte.
template <class Block>
void unpack_k4(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  constexpr bool kHasHighBit = std::is_same_v<Block, BlockQ5_K>;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i low6 = _mm512_set1_epi8(0x3f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  const __m512i bit0 = _mm512_set1_epi8(0x01);
  unpack_blocks<Block>(w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const Block& first, __m512i offsets) {
    const __m512i w0 = gather_rows(offsets, first.scales), w1 = gather_rows(offsets, first.scales + 4),
                  w2 = gather_rows(offsets, first.scales + 8);
    const __m512i scales[2] = {
        _mm512_and_si512(w0, low6),
        _mm512_or_si512(_mm512_and_si512(w2, low4), _mm512_and_si512(_mm512_srli_epi32(w0, 2), bits45))};
    const __m512i mins[2] = {_mm512_and_si512(w1, low6),
                             _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 4), low4),
                                             _mm512_and_si512(_mm512_srli_epi32(w1, 2), bits45))};
    for (int j = 0; j < 8; ++j) {
      const __m512i min = byte_of(mins[j / 4], j % 4);
      _mm512_storeu_si512(u.scales_of(b, j), byte_of(scales[j / 4], j % 4));
      _mm512_storeu_si512(u.coefs_of(b, j), pair16(min, min));
    }
    const __m512i d_and_dmin = gather_rows(offsets, reinterpret_cast<const uint8_t*>(&first.d));
    _mm512_storeu_ps(u.d.data() + b * kRows, f16_half(d_and_dmin, false));
    _mm512_storeu_ps(u.dmin.data() + b * kRows, f16_half(d_and_dmin, true));
    __m512i qs[2][16];  // dword 16 h + k of qs in qs[h][k]
    transpose_rows(first.qs, w_row_bytes, qs[0]);
    transpose_rows(first.qs + 64, w_row_bytes, qs[1]);
    for (int g = 0; g < 8; ++g) {
      __m512i high_bits = _mm512_setzero_si512();
      if constexpr (kHasHighBit) high_bits = gather_rows(offsets, first.qh + 4 * g);
      for (int c = 0; c < 4; ++c) {
        const __m512i q = qs[c / 2][8 * (c % 2) + g];  // qs bytes 32 c + 4 g .. + 3
        __m512i lo = _mm512_and_si512(q, low4);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi32(q, 4), low4);
        if constexpr (kHasHighBit) {
          lo = _mm512_or_si512(lo, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(high_bits, 2 * c), bit0), 4));
          hi = _mm512_or_si512(hi,
                               _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(high_bits, 2 * c + 1), bit0), 4));
        }
        _mm512_store_si512(u.group(b, 8 * (2 * c) + g), lo);
        _mm512_store_si512(u.group(b, 8 * (2 * c + 1) + g), hi);
      }
    }
  });
}

// Q6_K: 16 sub-blocks of 16 with int8 scales; stored quants q + 32 in 0..63. Per half of 128
// values, value 32 t + l takes its low 4 bits from ql[32 (t % 2) + l] (low nibble for t < 2)
// and bits 4-5 from bits 2t, 2t + 1 of qh[l]. The offset of 32 goes into the bsums factors.
}  // namespace

void unpack_q4_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_k4<BlockQ4_K>(w, w_row_bytes, n_blocks, u);
}

void unpack_q5_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_k4<BlockQ5_K>(w, w_row_bytes, n_blocks, u);
}

void unpack_q6_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  unpack_blocks<BlockQ6_K>(w, w_row_bytes, n_blocks, 16, u, [&](int64_t b, const BlockQ6_K& first, __m512i offsets) {
    __m512i scale[16];
    for (int word = 0; word < 4; ++word) {  // scales 4 word .. 4 word + 3
      const __m512i four = gather_rows(offsets, reinterpret_cast<const uint8_t*>(first.scales) + 4 * word);
      for (int i = 0; i < 4; ++i) {
        scale[4 * word + i] = _mm512_srai_epi32(_mm512_slli_epi32(four, 24 - 8 * i), 24);  // sign-extended byte i
      }
    }
    store_scales16(u, b, scale, 32);
    // d is the block's last 2 bytes: the word before its end holds it in the high half.
    const __m512i d = gather_rows(offsets, reinterpret_cast<const uint8_t*>(&first.d) - 2);
    _mm512_storeu_ps(u.d.data() + b * kRows, f16_half(d, true));
    __m512i ql[2][16], qh[16];  // dword 16 h + k of ql in ql[h][k], dword k of qh in qh[k]
    transpose_rows(first.ql, w_row_bytes, ql[0]);
    transpose_rows(first.ql + 64, w_row_bytes, ql[1]);
    transpose_rows(first.qh, w_row_bytes, qh);
    for (int half = 0; half < 2; ++half) {
      for (int g = 0; g < 8; ++g) {
        const __m512i a = ql[half][g];      // ql bytes 64 half + 4 g .. + 3: t = 0, 2
        const __m512i c = ql[half][8 + g];  // 64 half + 32 + 4 g: t = 1, 3
        const __m512i h = qh[8 * half + g];
        const int at = 32 * half + g;
        _mm512_store_si512(u.group(b, at), _mm512_or_si512(_mm512_and_si512(a, low4),
                                                           _mm512_and_si512(_mm512_slli_epi32(h, 4), bits45)));
        _mm512_store_si512(u.group(b, at + 8), _mm512_or_si512(_mm512_and_si512(c, low4),
                                                               _mm512_and_si512(_mm512_slli_epi32(h, 2), bits45)));
        _mm512_store_si512(u.group(b, at + 16), _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(a, 4), low4),
                                                                _mm512_and_si512(h, bits45)));
        _mm512_store_si512(u.group(b, at + 24), _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 4), low4),
                                                                _mm512_and_si512(_mm512_srli_epi32(h, 2), bits45)));
      }
    }
  });
}

// Q2_K: 16 sub-blocks of 16, 4-bit scale (low nibble of scales[j]) and minimum (high). Value
// 128 c + 32 s + l is bits 2s, 2s + 1 of qs[32 c + l].
void unpack_q2_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockQ2_K>(w, w_row_bytes, n_blocks, 16, u, [&](int64_t b, const BlockQ2_K& first, __m512i offsets) {
    for (int word = 0; word < 4; ++word) {  // sub-blocks 4 word .. 4 word + 3
      const __m512i four = gather_rows(offsets, first.scales + 4 * word);
      __m512i min[4];
      for (int i = 0; i < 4; ++i) {
        const __m512i packed = byte_of(four, i);
        _mm512_storeu_si512(u.scales_of(b, 4 * word + i), _mm512_and_si512(packed, _mm512_set1_epi32(0x0f)));
        min[i] = _mm512_srli_epi32(packed, 4);
      }
      _mm512_storeu_si512(u.coefs_of(b, 2 * word), pair16(min[0], min[1]));
      _mm512_storeu_si512(u.coefs_of(b, 2 * word + 1), pair16(min[2], min[3]));
    }
    const __m512i d_and_dmin = gather_rows(offsets, reinterpret_cast<const uint8_t*>(&first.d));
    _mm512_storeu_ps(u.d.data() + b * kRows, f16_half(d_and_dmin, false));
    _mm512_storeu_ps(u.dmin.data() + b * kRows, f16_half(d_and_dmin, true));
    store_2bit_quants(first.qs, w_row_bytes, u, b);
  });
}

// Q3_K: Q2_K's 2-bit layout plus a third bit, bit 4c + s of hmask[l], stored as q + 4; 16
// signed 6-bit scales (bias 32): low 4 bits in scales[j] (j < 8) or scales[j - 8] >> 4, high 2
// bits at 2 (j / 4) in scales[8 + j % 4]. The offset of 4 goes into the bsums factors.
void unpack_q3_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  const __m512i low2 = _mm512_set1_epi8(0x03);
  const __m512i bit0 = _mm512_set1_epi8(0x01);
  const __m512i low4 = _mm512_set1_epi32(0x0f);
  unpack_blocks<BlockQ3_K>(w, w_row_bytes, n_blocks, 16, u, [&](int64_t b, const BlockQ3_K& first, __m512i offsets) {
    const __m512i words[3] = {gather_rows(offsets, first.scales), gather_rows(offsets, first.scales + 4),
                              gather_rows(offsets, first.scales + 8)};
    __m512i scale[16];
    for (int j = 0; j < 16; ++j) {
      const __m512i packed = byte_of(words[(j / 4) % 2], j % 4);
      const __m512i low = j < 8 ? _mm512_and_si512(packed, low4) : _mm512_srli_epi32(packed, 4);
      const __m512i high =
          _mm512_and_si512(_mm512_srli_epi32(byte_of(words[2], j % 4), 2 * (j / 4)), _mm512_set1_epi32(3));
      scale[j] = _mm512_sub_epi32(_mm512_or_si512(low, _mm512_slli_epi32(high, 4)), _mm512_set1_epi32(32));
    }
    store_scales16(u, b, scale, 4);
    // d is the block's last 2 bytes: the word before its end holds it in the high half.
    _mm512_storeu_ps(u.d.data() + b * kRows,
                     f16_half(gather_rows(offsets, reinterpret_cast<const uint8_t*>(&first.d) - 2), true));
    __m512i qs[16], hmask[16];  // dword k of qs, of hmask (k < 8)
    transpose_rows(first.qs, w_row_bytes, qs);
    transpose_rows(first.hmask, w_row_bytes, hmask, sizeof(first.hmask));
    for (int c = 0; c < 2; ++c) {
      for (int s = 0; s < 4; ++s) {
        for (int g = 0; g < 8; ++g) {
          const __m512i low = _mm512_and_si512(_mm512_srli_epi32(qs[8 * c + g], 2 * s), low2);
          const __m512i high = _mm512_and_si512(_mm512_srli_epi32(hmask[g], 4 * c + s), bit0);
          _mm512_store_si512(u.group(b, 32 * c + 8 * s + g), _mm512_or_si512(low, _mm512_slli_epi32(high, 2)));
        }
      }
    }
  });
}

// IQ4_XS: 8 sub-blocks of 32 values from the 16 IQ4_NL levels, stored as level + 128 (a
// byte); signed 6-bit scales (bias 32), low 4 bits in scales_l, high 2 in scales_h. Sub-block
// j's values 0..15 are the low nibbles of qs[16 j ..], 16..31 the high ones. The offset of 128
// goes into the bsums factors.
void unpack_iq4_xs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  alignas(16) uint8_t levels[16];
  for (int i = 0; i < 16; ++i) levels[i] = static_cast<uint8_t>(kIq4Levels[i] + 128);
  const __m512i level_of = _mm512_broadcast_i32x4(load128(levels));
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  unpack_blocks<BlockIQ4_XS>(w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const BlockIQ4_XS& first, __m512i offsets) {
    const __m512i d_and_high = gather_rows(offsets, reinterpret_cast<const uint8_t*>(&first.d));
    const __m512i scales_low = gather_rows(offsets, first.scales_l);
    _mm512_storeu_ps(u.d.data() + b * kRows, f16_half(d_and_high, false));
    for (int j = 0; j < 8; ++j) {
      const __m512i low =
          _mm512_and_si512(_mm512_srli_epi32(byte_of(scales_low, j / 2), 4 * (j % 2)), _mm512_set1_epi32(0x0f));
      const __m512i high = _mm512_and_si512(_mm512_srli_epi32(d_and_high, 16 + 2 * j), _mm512_set1_epi32(3));
      store_scale32(u, b, j, _mm512_sub_epi32(_mm512_or_si512(low, _mm512_slli_epi32(high, 4)), _mm512_set1_epi32(32)),
                    128);
    }
    __m512i qs[2][16];  // dword 16 h + k of qs in qs[h][k]
    transpose_rows(first.qs, w_row_bytes, qs[0]);
    transpose_rows(first.qs + 64, w_row_bytes, qs[1]);
    for (int j = 0; j < 8; ++j) {
      for (int g = 0; g < 8; ++g) {  // values 32 j + 4 g ..: nibbles of qs bytes 16 j + 4 (g % 4) ..
        const int word = 4 * j + g % 4;
        const __m512i bytes = qs[word / 16][word % 16];
        const __m512i nibbles = _mm512_and_si512(g < 4 ? bytes : _mm512_srli_epi32(bytes, 4), low4);
        _mm512_store_si512(u.group(b, 8 * j + g), _mm512_shuffle_epi8(level_of, nibbles));
      }
    }
  });
}

// IQ2_XXS: 8 sub-blocks of 32. Sub-block j is two 32-bit words: four grid indices (8 values
// each) and four 7-bit sign indices with the 4-bit scale s on top; the integer scale is 2s + 1
// and the f32 factor d / 8. Values (grid magnitudes 8..43 with signs) are stored + 64; the
// offset goes into the bsums factors.
void unpack_iq2_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockIQ2_XXS>(
      w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const BlockIQ2_XXS& first, __m512i offsets) {
        store_d(u, b, offsets, &first.d, false, 0.125f);
        __m512i words[16];  // sub-block j: grid indices words[2j], signs and scale words[2j + 1]
        transpose_rows(reinterpret_cast<const uint8_t*>(first.qs), w_row_bytes, words);
        for (int j = 0; j < 8; ++j) {
          const __m512i indices = words[2 * j], signs_and_scale = words[2 * j + 1];
          store_scale32(
              u, b, j,
              _mm512_add_epi32(_mm512_slli_epi32(_mm512_srli_epi32(signs_and_scale, 28), 1), _mm512_set1_epi32(1)),
              kGridOffset);
          for (int k = 0; k < 4; ++k) {                                     // values 8k .. 8k + 7: grid row k, signs k
            const __m512i row = _mm512_slli_epi32(byte_of(indices, k), 3);  // byte offset in the grid
            const __m512i signs =
                iq2_signs(_mm512_and_si512(_mm512_srli_epi32(signs_and_scale, 7 * k), _mm512_set1_epi32(127)));
            store_grid8(u, b, 4 * j + k, &kIq2xxsGrid[0][0], row, signs);
          }
        }
      });
}

// IQ1_S: 8 sub-blocks of 32, each 4 grid rows of 8 values with 11-bit indices (qs[4 j + k]
// and bits 3k .. 3k + 2 of qh[j]), a 3-bit scale s (bits 12..14; integer scale 2s + 1) and a
// delta sign (bit 15). Values 8 grid +- 1 are stored + 9 (iq1_values); the f32 factor is d / 8.
void unpack_iq1_s(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockIQ1_S>(w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const BlockIQ1_S& first, __m512i offsets) {
    store_d(u, b, offsets, &first.d, false, 0.125f);
    __m512i words[16];  // qs in words 0..7, qh (two per word) in 8..11
    transpose_rows(first.qs, w_row_bytes, words, sizeof(BlockIQ1_S) - offsetof(BlockIQ1_S, qs));
    for (int j = 0; j < 8; ++j) {
      const __m512i qh = _mm512_and_si512(_mm512_srli_epi32(words[8 + j / 2], 16 * (j % 2)), _mm512_set1_epi32(0xffff));
      const __m512i scale =
          _mm512_add_epi32(_mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh, 12), _mm512_set1_epi32(7)), 1),
                           _mm512_set1_epi32(1));
      store_scale32(u, b, j, scale, kIq1Offset);
      const __mmask16 delta_minus = _mm512_test_epi32_mask(qh, _mm512_set1_epi32(0x8000));
      for (int k = 0; k < 4; ++k) {
        const __m512i high = _mm512_and_si512(_mm512_srli_epi32(qh, 3 * k), _mm512_set1_epi32(7));
        const __m512i index = _mm512_or_si512(byte_of(words[j], k), _mm512_slli_epi32(high, 8));
        store_iq1_row(u, b, 4 * j + k, _mm512_slli_epi32(index, 3), delta_minus);
      }
    }
  });
}

// IQ1_M: 32 grid rows of 8 values, index qs[m] | (nibble m of qh & 7) << 8, delta sign bit 3 of
// that nibble; 16 sub-blocks of 16 with 3-bit scales (bits 3i .. 3i + 2 of scales[j / 4], i = j
// % 4); the f16 d spread over the top nibbles of the four scale words (iq1_m_scale_bits).
void unpack_iq1_m(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockIQ1_M>(
      w, w_row_bytes, n_blocks, 16, u, [&](int64_t b, const BlockIQ1_M& first, __m512i /*offsets*/) {
        __m512i words[16];  // qs in words 0..7, qh in 8..11, scales (two per word) in 12, 13
        transpose_rows(first.qs, w_row_bytes, words, sizeof(BlockIQ1_M));
        const __m512i top_nibbles = _mm512_set1_epi32(0xf000);
        const __m512i d_bits = _mm512_or_si512(
            _mm512_or_si512(_mm512_srli_epi32(_mm512_and_si512(words[12], top_nibbles), 12),
                            _mm512_srli_epi32(_mm512_and_si512(_mm512_srli_epi32(words[12], 16), top_nibbles), 8)),
            _mm512_or_si512(_mm512_srli_epi32(_mm512_and_si512(words[13], top_nibbles), 4),
                            _mm512_and_si512(_mm512_srli_epi32(words[13], 16), top_nibbles)));
        _mm512_storeu_ps(u.d.data() + b * kRows, _mm512_mul_ps(_mm512_set1_ps(0.125f), f16_half(d_bits, false)));
        __m512i scale[16];
        for (int j = 0; j < 16; ++j) {
          const __m512i word = _mm512_srli_epi32(words[12 + j / 8], 16 * ((j / 4) % 2));
          const __m512i s = _mm512_and_si512(_mm512_srli_epi32(word, 3 * (j % 4)), _mm512_set1_epi32(7));
          scale[j] = _mm512_add_epi32(_mm512_slli_epi32(s, 1), _mm512_set1_epi32(1));
        }
        store_scales16(u, b, scale, kIq1Offset);
        for (int m = 0; m < 32; ++m) {  // values 8m .. 8m + 7
          const __m512i nibble =
              _mm512_and_si512(_mm512_srli_epi32(words[8 + m / 8], 4 * (m % 8)), _mm512_set1_epi32(0x0f));
          const __m512i high = _mm512_and_si512(nibble, _mm512_set1_epi32(7));
          const __m512i index = _mm512_or_si512(byte_of(words[m / 4], m % 4), _mm512_slli_epi32(high, 8));
          store_iq1_row(u, b, m, _mm512_slli_epi32(index, 3), _mm512_test_epi32_mask(nibble, _mm512_set1_epi32(8)));
        }
      });
}

// IQ2_XS: 32 grid rows of 8, entry k = 9-bit index | 7-bit sign index << 9 (qs[k]); 16
// sub-blocks of 16 (two entries) with scales 2s + 1 from nibbles; f32 factor d / 8.
void unpack_iq2_xs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockIQ2_XS>(
      w, w_row_bytes, n_blocks, 16, u, [&](int64_t b, const BlockIQ2_XS& first, __m512i offsets) {
        store_d(u, b, offsets, &first.d, false, 0.125f);
        odd_scales_of_nibbles({gather_rows(offsets, first.scales), gather_rows(offsets, first.scales + 4)}, u, b);
        __m512i entries[16];  // entries 2i, 2i + 1 in entries[i]
        transpose_rows(reinterpret_cast<const uint8_t*>(first.qs), w_row_bytes, entries);
        for (int k = 0; k < 32; ++k) {
          const __m512i entry =
              _mm512_and_si512(_mm512_srli_epi32(entries[k / 2], 16 * (k % 2)), _mm512_set1_epi32(0xffff));
          const __m512i row = _mm512_slli_epi32(_mm512_and_si512(entry, _mm512_set1_epi32(511)), 3);
          store_grid8(u, b, k, &kIq2xsGrid[0][0], row, iq2_signs(_mm512_srli_epi32(entry, 9)));
        }
      });
}

// IQ2_S: as IQ2_XS with 10-bit indices (qs[k], high 2 bits at 2 (k % 4) in qh[k / 4]) and
// explicit sign bytes.
void unpack_iq2_s(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockIQ2_S>(w, w_row_bytes, n_blocks, 16, u, [&](int64_t b, const BlockIQ2_S& first, __m512i offsets) {
    store_d(u, b, offsets, &first.d, false, 0.125f);
    odd_scales_of_nibbles({gather_rows(offsets, first.scales), gather_rows(offsets, first.scales + 4)}, u, b);
    const __m512i qh[2] = {gather_rows(offsets, first.qh), gather_rows(offsets, first.qh + 4)};
    __m512i words[16];  // qs in words 0..7, signs in 8..15
    transpose_rows(first.qs, w_row_bytes, words);
    for (int k = 0; k < 32; ++k) {
      const __m512i high = _mm512_and_si512(_mm512_srli_epi32(qh[k / 16], 2 * (k % 16)), _mm512_set1_epi32(3));
      const __m512i index = _mm512_or_si512(byte_of(words[k / 4], k % 4), _mm512_slli_epi32(high, 8));
      store_grid8(u, b, k, &kIq2sGrid[0][0], _mm512_slli_epi32(index, 3), byte_of(words[8 + k / 4], k % 4));
    }
  });
}

// IQ3_XXS: 64 grid rows of 4 (qs); per sub-block of 32 a word of four 7-bit sign indices (one
// per 8 values) and a 4-bit scale s on top (2s + 1); f32 factor d / 4.
void unpack_iq3_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockIQ3_XXS>(
      w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const BlockIQ3_XXS& first, __m512i offsets) {
        store_d(u, b, offsets, &first.d, false, 0.25f);
        __m512i qs[16], signs_and_scales[16];  // words of qs; of scales_and_signs (0..7)
        transpose_rows(first.qs, w_row_bytes, qs);
        transpose_rows(first.scales_and_signs, w_row_bytes, signs_and_scales, sizeof(first.scales_and_signs));
        for (int j = 0; j < 8; ++j) {
          const __m512i word = signs_and_scales[j];
          store_scale32(u, b, j,
                        _mm512_add_epi32(_mm512_slli_epi32(_mm512_srli_epi32(word, 28), 1), _mm512_set1_epi32(1)),
                        kGridOffset);
          for (int k = 0; k < 4; ++k) {  // values 8k .. 8k + 7: grid rows qs[8j + 2k], qs[8j + 2k + 1]
            const __m512i signs = iq2_signs(_mm512_and_si512(_mm512_srli_epi32(word, 7 * k), _mm512_set1_epi32(127)));
            const __m512i rows = qs[2 * j + k / 2];
            for (int half = 0; half < 2; ++half) {
              const __m512i row = _mm512_slli_epi32(byte_of(rows, 2 * (k % 2) + half), 2);
              _mm512_store_si512(u.group(b, 8 * j + 2 * k + half),
                                 signed_grid4(&kIq3xxsGrid[0][0], row, _mm512_srli_epi32(signs, 4 * half)));
            }
          }
        }
      });
}

// IQ3_S: 64 grid rows of 4 with 9-bit indices (qs[8j + g], bit g of qh[j]) and explicit signs
// (4 bits per row); 8 sub-blocks of 32 with scales 2s + 1 from nibbles of scales[4].
void unpack_iq3_s(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockIQ3_S>(w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const BlockIQ3_S& first, __m512i offsets) {
    store_d(u, b, offsets, &first.d, false, 1.0f);
    __m512i qs[16], rest[16];  // words of qs; of qh (0, 1), signs (2..9) and scales (10)
    transpose_rows(first.qs, w_row_bytes, qs);
    transpose_rows(first.qh, w_row_bytes, rest, sizeof(BlockIQ3_S) - offsetof(BlockIQ3_S, qh));
    for (int j = 0; j < 8; ++j) {
      const __m512i s = _mm512_and_si512(_mm512_srli_epi32(rest[10], 4 * j), _mm512_set1_epi32(0x0f));
      store_scale32(u, b, j, _mm512_add_epi32(_mm512_slli_epi32(s, 1), _mm512_set1_epi32(1)), kGridOffset);
      const __m512i qh = byte_of(rest[j / 4], j % 4);
      for (int g = 0; g < 8; ++g) {  // values 4g .. 4g + 3
        const __m512i high = _mm512_and_si512(_mm512_srli_epi32(qh, g), _mm512_set1_epi32(1));
        const __m512i index = _mm512_or_si512(byte_of(qs[2 * j + g / 4], g % 4), _mm512_slli_epi32(high, 8));
        const __m512i signs = _mm512_srli_epi32(byte_of(rest[2 + j], g / 2), 4 * (g % 2));
        _mm512_store_si512(u.group(b, 8 * j + g), signed_grid4(&kIq3sGrid[0][0], _mm512_slli_epi32(index, 2), signs));
      }
    }
  });
}

// TQ2_0: Q2_K's 2-bit layout, value q - 1: one scale of 1 for the whole block and the offset
// of 1 through the bsums.
void unpack_tq2_0(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  unpack_blocks<BlockTQ2_0>(w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const BlockTQ2_0& first, __m512i offsets) {
    store_d(u, b, offsets, reinterpret_cast<const uint8_t*>(&first.d) - 2, true, 1.0f);
    for (int j = 0; j < 8; ++j) store_scale32(u, b, j, _mm512_set1_epi32(1), 1);
    store_2bit_quants(first.qs, w_row_bytes, u, b);
  });
}

// TQ1_0: base-3 digits, value digit - 1. Values 32k + l: digit k of qs[l] (k < 5); 160 + 16k
// + l: digit k of qs[32 + l]; 240 + 4k + l: digit k of qh[l] (k < 4). A byte times 3^k (mod
// 256) has digit k on top: floor(3 r / 256), 0, 1 or 2 as r < 86, < 171 or above. One scale of
// 1; the offset of 1 goes through the bsums.
void unpack_tq1_0(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  const __m512i one = _mm512_set1_epi8(1);
  const auto top_digit = [&](__m512i r) {
    const __m512i at_least_1 = _mm512_maskz_mov_epi8(_mm512_cmpge_epu8_mask(r, _mm512_set1_epi8(86)), one);
    return _mm512_mask_add_epi8(at_least_1, _mm512_cmpge_epu8_mask(r, _mm512_set1_epi8(static_cast<char>(171))),
                                at_least_1, one);
  };
  const auto times3 = [](__m512i r) { return _mm512_add_epi8(r, _mm512_add_epi8(r, r)); };
  unpack_blocks<BlockTQ1_0>(w, w_row_bytes, n_blocks, 8, u, [&](int64_t b, const BlockTQ1_0& first, __m512i offsets) {
    store_d(u, b, offsets, reinterpret_cast<const uint8_t*>(&first.d) - 2, true, 1.0f);
    for (int j = 0; j < 8; ++j) store_scale32(u, b, j, _mm512_set1_epi32(1), 1);
    __m512i words[16];  // qs in words 0..11, qh in 12
    transpose_rows(first.qs, w_row_bytes, words, offsetof(BlockTQ1_0, d));
    for (int word = 0; word < 13; ++word) {
      // Groups of this word's digits k: 8k + word, 40 + 4k + (word - 8), 60 + k.
      const int n_digits = word < 12 ? 5 : 4;
      __m512i r = words[word];
      for (int k = 0; k < n_digits; ++k, r = times3(r)) {
        const int group = word < 8 ? 8 * k + word : word < 12 ? 40 + 4 * k + (word - 8) : 60 + k;
        _mm512_store_si512(u.group(b, group), top_digit(r));
      }
    }
  });
}

}  // namespace sluice::quant::fast::detail
