// Tile kernels on AVX-512 VNNI (tile_gemm.h) for CPUs without a matrix unit: Q4_K, Q5_K and
// Q6_K weights, 16 rows times up to 8 tokens per pass.
//
// The row kernels sum each (row, token) pair in a vector and reduce it horizontally; here one
// int32 lane belongs to one weight row instead. 16 rows are unpacked once into bytes laid out
// as [value group of 4][row][4 values], so that one dpbusd multiplies 4 values of each of the
// 16 rows by the same 4 activations of one token, broadcast from its quantized row. Each
// weight vector then serves 8 tokens from a register, each activation load is folded into its
// dpbusd, and a token's 16 sums come out as one vector: no horizontal sums, no shuffles.
//
// Per super-block and token, as in the row kernels: each sub-block's integer sum times its
// scale (vpmulld, exact), the bsums term (Q4_K and Q5_K: the minimums' sum; Q6_K: the offset
// of 32 folded into the integer sum) by dpwssd, and the scalar kernel's f32 step on 16 rows
// per vector. The integers are exact and the f32 expression is the same, so the results are
// bit-identical to the row kernels'.
//
// Compiled with the AVX-512 flags; reached only through tile_kernel(), which checks the CPU.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/tile_gemm.h"
#include "quant/fast/x86/avx512_common.h"
#include "util/error.h"

namespace sluice::quant::fast::detail {
namespace {

constexpr int kRows = 16;          // int32 lanes: one weight row each
constexpr int kTokensPerPass = 8;  // accumulators in registers: two per token
constexpr int kGroups = 64;        // groups of 4 values in a super-block

static_assert(kRows == kTileRows);

// 4 values of each of 16 rows, one row per 4 bytes.
struct alignas(64) ValueGroup {
  uint8_t bytes[kRows * 4];
};

// 16 weight rows of any of the three formats, unpacked.
struct UnpackedRows {
  std::vector<ValueGroup> q;         // [block][group]: the stored quants, one per byte
  std::vector<int32_t> scales;       // [block][sub-block][row]
  std::vector<int32_t> bsum_coefs;   // [block][pair p][row]: int16 factors of bsums 2p | 2p + 1 << 16
  std::vector<float> d, dmin;        // [block][row]

  void resize(int64_t n_blocks, int sub_blocks) {
    q.resize(static_cast<size_t>(n_blocks * kGroups));
    scales.resize(static_cast<size_t>(n_blocks * sub_blocks * kRows));
    bsum_coefs.resize(static_cast<size_t>(n_blocks * 8 * kRows));
    d.resize(static_cast<size_t>(n_blocks * kRows));
    dmin.resize(static_cast<size_t>(n_blocks * kRows));
  }
  void* group(int64_t block, int g) { return q.data() + block * kGroups + g; }
};

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
inline void transpose_rows(const uint8_t* p, size_t row_bytes, __m512i (&column)[16]) {
  __m512i m[16], t[16];
  for (int r = 0; r < 16; ++r) m[r] = _mm512_loadu_si512(p + r * row_bytes);
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

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and minimums. In chunk c of qs, byte l
// holds value l of sub-block 2c (low nibble) and of 2c + 1 (high); Q5_K's bit 4 of value l of
// sub-block j is bit j of qh[l]. The 12 scale bytes, as 32-bit words w0 w1 w2, hold scales 0..3
// = w0 & 63, 4..7 = (w2 & 15) | (w0 >> 6) << 4 and minimums 0..3 = w1 & 63,
// 4..7 = (w2 >> 4) | (w1 >> 6) << 4, per byte.
template <class Block>
void unpack_k4(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  constexpr bool kHasHighBit = std::is_same_v<Block, BlockQ5_K>;
  u.resize(n_blocks, 8);
  const __m512i offsets = row_offsets_of(w_row_bytes);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i low6 = _mm512_set1_epi8(0x3f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  const __m512i bit0 = _mm512_set1_epi8(0x01);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const Block& first = blocks_of<Block>(w)[b];
    prefetch_next_tile(first, w_row_bytes);
    const __m512i w0 = gather_rows(offsets, first.scales), w1 = gather_rows(offsets, first.scales + 4),
                  w2 = gather_rows(offsets, first.scales + 8);
    const __m512i scales[2] = {_mm512_and_si512(w0, low6),
                               _mm512_or_si512(_mm512_and_si512(w2, low4),
                                               _mm512_and_si512(_mm512_srli_epi32(w0, 2), bits45))};
    const __m512i mins[2] = {_mm512_and_si512(w1, low6),
                             _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 4), low4),
                                             _mm512_and_si512(_mm512_srli_epi32(w1, 2), bits45))};
    for (int j = 0; j < 8; ++j) {
      const __m512i min = byte_of(mins[j / 4], j % 4);
      _mm512_storeu_si512(u.scales.data() + (b * 8 + j) * kRows, byte_of(scales[j / 4], j % 4));
      _mm512_storeu_si512(u.bsum_coefs.data() + (b * 8 + j) * kRows, pair16(min, min));
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
          hi = _mm512_or_si512(hi, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(high_bits, 2 * c + 1), bit0), 4));
        }
        _mm512_store_si512(u.group(b, 8 * (2 * c) + g), lo);
        _mm512_store_si512(u.group(b, 8 * (2 * c + 1) + g), hi);
      }
    }
  }
}

// Q6_K: 16 sub-blocks of 16 with int8 scales; stored quants q + 32 in 0..63. Per half of 128
// values, value 32 t + l takes its low 4 bits from ql[32 (t % 2) + l] (low nibble for t < 2)
// and bits 4-5 from bits 2t, 2t + 1 of qh[l]. The offset of 32 goes into the bsums factors.
void unpack_q6_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u) {
  u.resize(n_blocks, 16);
  const __m512i offsets = row_offsets_of(w_row_bytes);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i bits45 = _mm512_set1_epi8(0x30);
  const __m512i minus32 = _mm512_set1_epi32(-32);
  for (int64_t b = 0; b < n_blocks; ++b) {
    const BlockQ6_K& first = blocks_of<BlockQ6_K>(w)[b];
    prefetch_next_tile(first, w_row_bytes);
    for (int word = 0; word < 4; ++word) {  // scales 4 word .. 4 word + 3
      const __m512i four = gather_rows(offsets, reinterpret_cast<const uint8_t*>(first.scales) + 4 * word);
      __m512i scale[4];
      for (int i = 0; i < 4; ++i) {
        scale[i] = _mm512_srai_epi32(_mm512_slli_epi32(four, 24 - 8 * i), 24);  // sign-extended byte i
        _mm512_storeu_si512(u.scales.data() + (b * 16 + 4 * word + i) * kRows, scale[i]);
      }
      for (int i = 0; i < 2; ++i) {
        _mm512_storeu_si512(u.bsum_coefs.data() + (b * 8 + 2 * word + i) * kRows,
                            pair16(_mm512_mullo_epi32(scale[2 * i], minus32), _mm512_mullo_epi32(scale[2 * i + 1], minus32)));
      }
    }
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
  }
}

// ---- products ---------------------------------------------------------------------------------

inline __m512i broadcast_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return _mm512_set1_epi32(v);
}

// acc + dpbusd(u8, the 4 signed bytes at s8x4 in every lane), the bytes read by the
// instruction itself (an embedded broadcast): GCC 12 loads them with a separate vpbroadcastd
// and copies accumulators between registers around the intrinsic.
inline __m512i dpbusd_broadcast(__m512i acc, __m512i u8, const int8_t* s8x4) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u8), "m"(*reinterpret_cast<const int32_t*>(s8x4)));
  return acc;
}

// The formats' differences for the product loop: how many sub-blocks, and the f32 step.
struct K4Format {  // Q4_K, Q5_K: sum += d * isum - dmin * msum, msum the bsums term
  static constexpr int kSubBlocks = 8;
  static __m512 block_sum(const UnpackedRows& u, int64_t b, float y_d, __m512i isum, __m512i bsum_term) {
    const __m512 d = _mm512_mul_ps(_mm512_loadu_ps(u.d.data() + b * kRows), _mm512_set1_ps(y_d));
    const __m512 dmin = _mm512_mul_ps(_mm512_loadu_ps(u.dmin.data() + b * kRows), _mm512_set1_ps(y_d));
    return _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(isum)), _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(bsum_term)));
  }
};

struct Q6KFormat {  // sum += d * isum, the bsums term (-32 s bsum) part of isum
  static constexpr int kSubBlocks = 16;
  static __m512 block_sum(const UnpackedRows& u, int64_t b, float y_d, __m512i isum, __m512i bsum_term) {
    const __m512 d = _mm512_mul_ps(_mm512_loadu_ps(u.d.data() + b * kRows), _mm512_set1_ps(y_d));
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_add_epi32(isum, bsum_term)));
  }
};

// out[t * out_stride + r] for kTokens tokens (quantized rows y) and the 16 unpacked rows.
template <class Format, int kTokens>
void token_pass(const UnpackedRows& u, int64_t n_blocks, const Q8x256View (&y)[kTokensPerPass], float* out,
                size_t out_stride) {
  constexpr int kGroupsPerSubBlock = kGroups / Format::kSubBlocks;
  __m512 sum[kTokens];
  for (__m512& s : sum) s = _mm512_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const ValueGroup* q = u.q.data() + b * kGroups;
    const int32_t* scales = u.scales.data() + b * Format::kSubBlocks * kRows;
    __m512i isum[kTokens];
    for (__m512i& s : isum) s = _mm512_setzero_si512();
    for (int j = 0; j < Format::kSubBlocks; ++j) {
      __m512i acc[kTokens];
      for (__m512i& a : acc) a = _mm512_setzero_si512();
#pragma GCC unroll 8
      for (int i = 0; i < kGroupsPerSubBlock; ++i) {
        const int g = j * kGroupsPerSubBlock + i;
        const __m512i wq = _mm512_load_si512(q + g);
#pragma GCC unroll 8
        for (int t = 0; t < kTokens; ++t) acc[t] = dpbusd_broadcast(acc[t], wq, y[t].qs + 256 * b + 4 * g);
      }
      const __m512i scale = _mm512_loadu_si512(scales + j * kRows);
      for (int t = 0; t < kTokens; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(acc[t], scale));
    }
    const int32_t* coefs = u.bsum_coefs.data() + b * 8 * kRows;
    __m512i bsum_term[kTokens];
    for (__m512i& s : bsum_term) s = _mm512_setzero_si512();
    for (int p = 0; p < 8; ++p) {
      const __m512i coef = _mm512_loadu_si512(coefs + p * kRows);
      for (int t = 0; t < kTokens; ++t) {
        bsum_term[t] = _mm512_dpwssd_epi32(bsum_term[t], coef, broadcast_i32(y[t].bsums + 16 * b + 2 * p));
      }
    }
    for (int t = 0; t < kTokens; ++t) {
      sum[t] = _mm512_add_ps(sum[t], Format::block_sum(u, b, y[t].d[b], isum[t], bsum_term[t]));
    }
  }
  for (int t = 0; t < kTokens; ++t) _mm512_storeu_ps(out + static_cast<size_t>(t) * out_stride, sum[t]);
}

template <class Format, int... kCounts>
void token_pass_of(int count, const UnpackedRows& u, int64_t n_blocks, const Q8x256View (&y)[kTokensPerPass],
                   float* out, size_t out_stride, std::integer_sequence<int, kCounts...>) {
  // count in 1..kTokensPerPass: the instance for count + 1 - 1 tokens.
  ((count == kCounts + 1 ? token_pass<Format, kCounts + 1>(u, n_blocks, y, out, out_stride) : void()), ...);
}

template <class Format, void (*Unpack)(const std::byte*, size_t, int64_t, UnpackedRows&)>
void tile_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& acts, int64_t n_cols,
               float* out, size_t out_stride) {
  thread_local UnpackedRows unpacked;
  const int64_t n_blocks = n_cols / 256;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
    Unpack(w + static_cast<size_t>(r0) * w_row_bytes, w_row_bytes, n_blocks, unpacked);
    for (int64_t t0 = 0; t0 < acts.n_tokens; t0 += kTokensPerPass) {
      const int count = static_cast<int>(std::min<int64_t>(kTokensPerPass, acts.n_tokens - t0));
      Q8x256View y[kTokensPerPass];
      for (int t = 0; t < count; ++t) y[t] = view_q8x256(acts.rows + static_cast<size_t>(t0 + t) * acts.row_stride, n_cols);
      token_pass_of<Format>(count, unpacked, n_blocks, y, out + static_cast<size_t>(t0) * out_stride + r0, out_stride,
                            std::make_integer_sequence<int, kTokensPerPass>{});
    }
  }
}

// min_tokens: where the tiles overtake the row kernels (2048 x 768, one core): Q4_K at 2
// tokens (43 against 30 GMAC/s), Q6_K at 5 (63 against 52; at 4, 55 against 63).
constexpr TileKernel kQ4KTiles{2, nullptr, nullptr, tile_rows<K4Format, unpack_k4<BlockQ4_K>>};
constexpr TileKernel kQ5KTiles{2, nullptr, nullptr, tile_rows<K4Format, unpack_k4<BlockQ5_K>>};
constexpr TileKernel kQ6KTiles{5, nullptr, nullptr, tile_rows<Q6KFormat, unpack_q6_k>};

}  // namespace

const TileKernel* avx512_tile_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_K: return &kQ4KTiles;
    case GgmlType::Q5_K: return &kQ5KTiles;
    case GgmlType::Q6_K: return &kQ6KTiles;
    default: return nullptr;
  }
}

}  // namespace sluice::quant::fast::detail
