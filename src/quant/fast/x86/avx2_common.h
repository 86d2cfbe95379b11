// Helpers shared by the AVX2 kernel files (dot_avx2*.cpp) and, for their 256-bit parts, the
// AVX-512 ones. Everything is in an unnamed namespace: each including file, compiled for its
// own instruction set, gets its own copy, so no AVX-512 build of a helper can be linked into
// code that runs on an AVX2-only CPU (see kernels.h).
//
// Include only from files compiled with at least -mavx2 -mfma -mf16c.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

template <class Block>
const Block* blocks_of(const std::byte* p) {
  return reinterpret_cast<const Block*>(p);
}

inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// Hardware prefetchers stop at 4 KiB page boundaries, so a row streamed from memory stalls at
// every page. Each kernel asks for the weight bytes kPrefetchBytes ahead of those it reads
// (past a row's end that is the next row). Measured on Q4_K matvec from memory, 2 threads:
// 9 GB/s without, 19 GB/s with.
constexpr size_t kPrefetchBytes = 2048;

// Always inlined: GCC finds a function of prefetches alone free of side effects, and where it
// is not inlined deletes the calls (seen: Q4_K's kernel lost its prefetches, and half its
// speed from memory, once another kernel used prefetch_ahead<144> too).
template <size_t kBytes>
[[gnu::always_inline]] inline void prefetch_ahead(const void* p) {
  const char* ahead = static_cast<const char*>(p) + kPrefetchBytes;
  for (size_t offset = 0; offset < kBytes; offset += 64) _mm_prefetch(ahead + offset, _MM_HINT_T0);
}

// kLines cache lines kSpreadPrefetchBytes ahead of p. Kernels that take many lines per block
// (the group kernels: 1152 bytes) ask for each line as they read one, not for a block's lines
// at once. A burst of 18 prefetches per block left the reads from memory at 0.6-0.7 of what one
// per line read gives (one core, Q4_K's group kernel and a synthetic stream alike).
constexpr size_t kSpreadPrefetchBytes = 3072;
template <int kLines>
[[gnu::always_inline]] inline void prefetch_lines_ahead(const void* p) {
  const char* ahead = static_cast<const char*>(p) + kSpreadPrefetchBytes;
  // In asm, as GCC gathered the unrolled loop's prefetches at the start of each block.
  for (int line = 0; line < kLines; ++line) asm volatile("prefetcht0 %0" : : "m"(ahead[64 * line]));
}

// One line ahead (prefetch_lines_ahead) for every other 32-byte word of a run read, word k of
// the run at p: a run's lines are asked for one at a time, as they are read.
[[gnu::always_inline]] inline void prefetch_every_other_word(const void* p, int k) {
  if (k % 2 == 0) prefetch_lines_ahead<1>(p);
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline int32_t hsum_i32(__m128i s) {
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

inline int32_t hsum_i32(__m256i v) {
  return hsum_i32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

inline float hsum_f32(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sums of 4 adjacent products u8 x s8 as 8 int32.
inline __m256i dot_u8_s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// The same for s8 x s8: |w| against a with w's sign.
inline __m256i dot_s8_s8(__m256i w, __m256i a) {
  return dot_u8_s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// 16 bytes of nibbles -> 32 bytes: low nibbles first, then high nibbles (values 0..31 of a
// 32-value block).
inline __m256i nibbles_32(const uint8_t* qs) {
  const __m128i raw = load128(qs);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

// The FP4 (E2M1) values doubled, as integers (kValuesFp4 times 2), plus `offset`, in both
// 128-bit halves: 16 bytes for shuffle_epi8 by nibble (MXFP4, NVFP4). An offset of 12 makes
// them unsigned (0..24), as maddubs takes them, 12 times the activations' sum coming off the
// total.
constexpr int kFp4Offset = 12;
inline __m256i fp4_levels(int offset) {
  return _mm256_broadcastsi128_si256(
      _mm_add_epi8(_mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12),
                   _mm_set1_epi8(static_cast<char>(offset))));
}

// 32 bits -> 32 bytes, byte i = 0xff where bit i is set.
inline __m256i bits_to_bytes(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// 32 sign bits -> 32 bytes for _mm256_sign_epi8: -1 where the bit is set, else +1.
inline __m256i sign_bits_to_factors(uint32_t bits) {
  return _mm256_or_si256(bits_to_bytes(bits), _mm256_set1_epi8(1));
}

// The sign factors (for _mm256_sign_epi8: -1 or +1 per byte) of 32 values in groups of eight
// whose first seven signs are 7-bit fields of a 64-bit word: kSignsIq2 of each field, whose
// eighth bit makes the number of negatives in the eight even. Computed in vector registers,
// where four loads from a table of masks and their index arithmetic took five more operations
// a group (one core, hot: IQ2_XXS +12-34%, IQ3_XXS +20%, IQ2_XS +15%). Each
// byte picks its bit (shuffle, and, compare); a sum of each eight bytes (psadbw of 0xff per
// set bit: odd where the count is) gives the eighth sign's bit, moved to the top of byte 7.
struct SignBitPlaces {
  alignas(32) int8_t byte[32];  // the byte of the word holding value j's bit; 0x80 for 8k + 7
  alignas(32) int8_t mask[32];  // that bit; 1 for 8k + 7, whose byte is 0
};
// bit_of(k, b): the bit of the word holding the sign of value 8k + b, b < 7.
template <class BitOf>
constexpr SignBitPlaces make_sign_bit_places(BitOf bit_of) {
  SignBitPlaces p{};
  for (int j = 0; j < 32; ++j) {
    const int k = j / 8, b = j % 8;
    if (b == 7) {
      p.byte[j] = static_cast<int8_t>(0x80);
      p.mask[j] = 1;
    } else {
      const int bit = bit_of(k, b);
      p.byte[j] = static_cast<int8_t>(bit / 8);
      p.mask[j] = static_cast<int8_t>(1 << (bit % 8));
    }
  }
  return p;
}
// IQ2_XXS and IQ3_XXS: four fields side by side in the low 28 bits.
constexpr SignBitPlaces kPackedSignBits = make_sign_bit_places([](int k, int b) { return 7 * k + b; });
// IQ2_XS: bits 9..15 of each of four 16-bit grid entries.
constexpr SignBitPlaces kEntrySignBits = make_sign_bit_places([](int k, int b) { return 16 * k + 9 + b; });

// `words`: the 64-bit word in every 64-bit lane; for kPackedSignBits, whose bits are all in the
// low 32, a 32-bit word in every 32-bit lane will do (a broadcast straight from memory).
inline __m256i sign_factors(__m256i words, const SignBitPlaces& places) {
  const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(places.mask));
  const __m256i bytes = _mm256_shuffle_epi8(words, _mm256_load_si256(reinterpret_cast<const __m256i*>(places.byte)));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask);
  const __m256i eighth = _mm256_slli_epi64(_mm256_sad_epu8(set, _mm256_setzero_si256()), 63);
  return _mm256_or_si256(_mm256_or_si256(set, eighth), _mm256_set1_epi8(1));
}

inline __m256i sign_factors(uint64_t word, const SignBitPlaces& places) {
  return sign_factors(_mm256_set1_epi64x(static_cast<int64_t>(word)), places);
}

// One grid row of 8 bytes (IQ2 grids, the IQ1 grid) or 4 bytes (IQ3 grids) as an integer.
template <class Row>
inline int64_t grid_row(const Row* grid, uint32_t index) {
  static_assert(sizeof(Row) == 8);
  int64_t row;
  std::memcpy(&row, grid[index], sizeof(row));
  return row;
}

template <class Row>
inline int32_t grid_row4(const Row* grid, uint32_t index) {
  static_assert(sizeof(Row) == 4);
  int32_t row;
  std::memcpy(&row, grid[index], sizeof(row));
  return row;
}

// One 32-value step of a grid i-quant: the grid values its indices pick, unsigned, and the
// sign factors of its values.
struct GridSubBlock {
  __m256i grid;
  __m256i signs;  // +1 or -1 per value, for _mm256_sign_epi8
};

// Its products with 32 activations, the signs moved onto the activations: pair sums as
// int16 (maddubs; magnitudes are at most 127, IQ4_XS's levels, the grids' at most 62, so
// 2 * 127 * 127 < 32768).
inline __m256i grid_dot(const GridSubBlock& s, const int8_t* a) {
  return _mm256_maddubs_epi16(s.grid, _mm256_sign_epi8(load256(a), s.signs));
}

// As grid_dot, times int16 scales, as 8 int32.
inline __m256i scaled_grid_dot(const GridSubBlock& s, const int8_t* a, __m256i scales) {
  return _mm256_madd_epi16(grid_dot(s, a), scales);
}

// A step with the int16 scales of its products.
struct ScaledGridSubBlock {
  GridSubBlock weights;
  __m256i scales;
};

inline __m256i scaled_grid_dot(const ScaledGridSubBlock& s, const int8_t* a) {
  return scaled_grid_dot(s.weights, a, s.scales);
}

// ---- K-quant scales ----

// Q4_K / Q5_K scales: 12 packed bytes -> bytes 0..7 the scales, 8..15 the minimums
// (k_scale_min in decode_k.cpp, done on 32-bit words).
inline __m128i unpack_k4_scales(const uint8_t* packed) {
  // 32-bit lanes of the 12 bytes (w0, w1, w2; the 4 bytes after them are the block's next
  // field and unused): scales 0..3 = w0 & 63, scales 4..7 = (w2 & 15) | (w0 >> 6) << 4,
  // minimums 0..3 = w1 & 63, minimums 4..7 = (w2 >> 4) | (w1 >> 6) << 4, per byte.
  const __m128i words = load128(packed);
  const __m128i low_source = _mm_shuffle_epi32(words, _MM_SHUFFLE(2, 1, 2, 0));   // w0 w2 w1 w2
  const __m128i high_source = _mm_shuffle_epi32(words, _MM_SHUFFLE(1, 1, 0, 0));  // w0 w0 w1 w1
  const __m128i low = _mm_and_si128(_mm_srlv_epi32(low_source, _mm_setr_epi32(0, 0, 0, 4)),
                                    _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
  const __m128i high = _mm_and_si128(_mm_srli_epi32(high_source, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
  return _mm_or_si128(low, high);
}

// Q3_K's 16 signed 6-bit scales (decode_k.cpp), from 32-bit words of the 12 packed bytes.
inline __m128i unpack_q3_scales(const uint8_t* packed) {
  // Lanes 1..3 of the 16 bytes ending with the scales are w0, w1, w2 (lane 0: the end of qs,
  // read so as not to read past the block). Scale bytes 0..3: (w0 & 15) | (w2 & 3) << 4,
  // 4..7: (w1 & 15) | (w2 >> 2 & 3) << 4, 8..11: (w0 >> 4 & 15) | (w2 >> 4 & 3) << 4,
  // 12..15: (w1 >> 4 & 15) | (w2 >> 6 & 3) << 4.
  const __m128i words = load128(packed - 4);
  const __m128i low = _mm_and_si128(
      _mm_srlv_epi32(_mm_shuffle_epi32(words, _MM_SHUFFLE(2, 1, 2, 1)), _mm_setr_epi32(0, 0, 4, 4)),
      _mm_set1_epi8(0x0f));
  const __m128i high = _mm_and_si128(
      _mm_srlv_epi32(_mm_shuffle_epi32(words, _MM_SHUFFLE(3, 3, 3, 3)), _mm_setr_epi32(0, 2, 4, 6)),
      _mm_set1_epi8(3));
  return _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi32(high, 4)), _mm_set1_epi8(32));
}

// Q5_K's quants (0..31) of 32-byte chunk c: sub-block 2 c from the low nibbles of qs, 2 c + 1
// from the high ones, bit 4 of each from `high_bits` (the block's qh: bit j of byte l is bit 4
// of value l of sub-block j), which moves on to the next chunk.
struct Q5KChunk {
  __m256i low, high;
};
inline Q5KChunk q5_k_chunk(const uint8_t* qs, __m256i& high_bits) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), bit4 = _mm256_set1_epi8(0x10);
  const __m256i q = load256(qs);
  const Q5KChunk chunk{
      _mm256_or_si256(_mm256_and_si256(q, low4), _mm256_and_si256(_mm256_slli_epi16(high_bits, 4), bit4)),
      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                      _mm256_and_si256(_mm256_slli_epi16(high_bits, 3), bit4))};
  high_bits = _mm256_srli_epi16(high_bits, 2);
  return chunk;
}

// Q6_K's quants (0..63, before the offset of 32) of half h of a block, as its four 32-value
// steps: step t holds values 128 h + 32 t .. + 31 (low 4 bits from ql, high 2 from qh).
struct Q6KHalf {
  __m256i step[4];
};
inline Q6KHalf q6_k_half(const uint8_t* ql, const uint8_t* qh, int h) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30);
  const __m256i ql0 = load256(ql + 64 * h), ql1 = load256(ql + 64 * h + 32), high = load256(qh + 32 * h);
  return {{_mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(high, 4), bits45)),
           _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(high, 2), bits45)),
           _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(high, bits45)),
           _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                           _mm256_and_si256(_mm256_srli_epi16(high, 2), bits45))}};
}

// Lane j: minimum_j * (bsums[2j] + bsums[2j + 1]).
inline __m256i k4_min_lanes(__m128i scales_and_mins, const int16_t* bsums) {
  const __m128i each_twice = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  const __m256i mins = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scales_and_mins, each_twice));
  return _mm256_madd_epi16(mins, load256(bsums));
}

}  // namespace
}  // namespace sluice::quant::fast::detail
