// AVX-512 (BW, VNNI) kernels of the grid i-quants IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S,
// IQ1_M; dot_scalar_iq.cpp is their reference, reproduced bit for bit.
//
// Two groups of 32 values per step: the grid rows of both fill one 512-bit vector, signs
// become a 64-bit mask (negate_where) instead of sign_epi8, which AVX-512 lacks, and VNNI's
// dpwssd applies the int16 scales to maddubs' pair sums and accumulates in one instruction.
#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <cstring>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// int16 scales of 2 runs of 32 values (the 32 int16 lanes of a maddubs result, 16 per run).
inline __m512i half_scales(int s0, int s1) {
  return join256(_mm256_set1_epi16(static_cast<short>(s0)), _mm256_set1_epi16(static_cast<short>(s1)));
}

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

// Index vectors for permutexvar_epi16 that spread a super-block's scales over the 32 int16
// lanes of maddubs' result for values 64 t .. 64 t + 63. by16: 16 int16 scales, one per 16
// values (lane l gets 4 t + l / 8); by32: 8 int32 scales, one per 32 values, read as their
// low int16 (lane l gets 2 (2 t + l / 16)).
struct ScaleLanes {
  alignas(64) int16_t lanes[4][32];
};
constexpr ScaleLanes make_scale_lanes(int values_per_scale) {
  ScaleLanes t{};
  for (int s = 0; s < 4; ++s)
    for (int l = 0; l < 32; ++l)
      t.lanes[s][l] = static_cast<int16_t>(values_per_scale == 16 ? 4 * s + l / 8 : 2 * (2 * s + l / 16));
  return t;
}
constexpr ScaleLanes kScaleLanes16 = make_scale_lanes(16);
constexpr ScaleLanes kScaleLanes32 = make_scale_lanes(32);

// kSignsIq2 of 32 7-bit sign indices at once: each index with its parity as bit 7 (the table
// makes the count of negations even).
inline __m256i iq2_sign_bytes(__m256i index7) {
  const __m256i parity_top = _mm256_broadcastsi128_si256(
      _mm_setr_epi8(0, -128, -128, 0, -128, 0, 0, -128, -128, 0, 0, -128, 0, -128, -128, 0));
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i parity = _mm256_xor_si256(_mm256_shuffle_epi8(parity_top, _mm256_and_si256(index7, low4)),
                                          _mm256_shuffle_epi8(parity_top, _mm256_and_si256(_mm256_srli_epi16(index7, 4), low4)));
  return _mm256_or_si256(index7, parity);
}

// 32 sign bytes as the masks of 4 steps of 64 values.
struct StepSigns {
  alignas(32) uint64_t of[4];
};
inline StepSigns step_signs(__m256i sign_bytes) {
  StepSigns s;
  _mm256_store_si256(reinterpret_cast<__m256i*>(s.of), sign_bytes);
  return s;
}

float dot_iq3_xxs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ3_XXS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  const __m256i field = _mm256_set1_epi32(0x7f);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ3_XXS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    prefetch_ahead<sizeof(BlockIQ3_XXS)>(&x);
    // Word g (values 32 g ..): four 7-bit sign indices, then a 4-bit scale. Moving field k
    // up by k bits puts it in byte k: byte 4 g + k is the sign index of values 32 g + 8 k ..
    const __m256i words = load256(x.scales_and_signs);
    const __m256i fields = _mm256_or_si256(
        _mm256_or_si256(_mm256_and_si256(words, field), _mm256_and_si256(_mm256_slli_epi32(words, 1), _mm256_slli_epi32(field, 8))),
        _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi32(words, 2), _mm256_slli_epi32(field, 16)),
                        _mm256_and_si256(_mm256_slli_epi32(words, 3), _mm256_slli_epi32(field, 24))));
    const StepSigns signs = step_signs(iq2_sign_bytes(fields));
    // 2 (word >> 28) + 1 in the low int16 of each int32.
    const __m512i scales = _mm512_castsi256_si512(_mm256_or_si256(_mm256_srli_epi32(words, 27), _mm256_set1_epi32(1)));
    __m512i acc[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int t = 0; t < 4; ++t) {
      const __m512i rows = _mm512_i32gather_epi32(_mm512_cvtepu8_epi32(load128(x.qs + 16 * t)), kIq3xxsGrid, 4);
      const __m512i s = _mm512_permutexvar_epi16(load512(kScaleLanes32.lanes[t]), scales);
      acc[t & 1] = _mm512_dpwssd_epi32(
          acc[t & 1], _mm512_maddubs_epi16(rows, negate_where(load512(y_qs + 64 * t), signs.of[t])), s);
    }
    const int32_t isum = hsum_i32(_mm512_add_epi32(acc[0], acc[1]));
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

// Grid rows fetched with scalar loads and inserts, their indices put together in general
// registers straight from the block's bytes, four at a time with pdep (the low index bytes and
// the high index bits, each into the 16-bit fields of one word). Computed in vectors and moved
// out with vpextrw, the indices put some 25 cycles of latency before the first row load, and a
// super-block's chain (indices, rows, multiply-adds) outgrew what the reorder window hides; one
// at a time in general registers (shift, mask, or), the instructions were too many. Gathers
// (four of eight rows) were slower on Zen 4 than the scalar loads. One core, hot, TSC cycles
// per super-block at 2048 columns: IQ1_S 44 -> 33 (one at a time) -> 28 (pdep), IQ1_M
// 44 -> 36 -> 30; IQ2_XS 33 and IQ2_S 39 (dot_avx512_vbmi.cpp's, which looked grid codes up
// in registers) -> 28 and 26.

// Four 16-bit fields: the bytes of low (4 bytes), and above them 16 bits of high deposited by
// high_fields (the mask of each field's high index bits).
inline uint64_t four_indices(const uint8_t* low, uint64_t high, uint64_t high_fields) {
  return _pdep_u64(load_u32(low), 0x00ff00ff00ff00ffull) | _pdep_u64(high, high_fields);
}

// Grid rows 8 t to 8 t + 7 of a super-block as one vector: rows is the grid (8 bytes per row),
// four_indices(k) the indices of rows 4 k to 4 k + 3 as 16-bit fields. A field is taken by a
// rotation (rorx, which leaves its source as it is) where a shift took a copy and a shift:
// one core, hot, TSC cycles per super-block at 4096 / 2048 columns, IQ1_S 25.85 / 26.05 ->
// 24.9 / 25.4, IQ2_S 26.25 / 26.45 -> 25.5 / 25.6, IQ2_XS 28.25 / 28.45 -> 27.75 / 28.0,
// IQ1_M 27.4 / 27.5 -> 27.1 / 27.0.
template <class FourIndices>
[[gnu::always_inline]] inline __m512i eight_grid_rows(const void* rows, FourIndices four_indices, int t) {
  const auto row = [&](uint64_t four, int k) {  // the row of field k
    int64_t r;
    std::memcpy(&r, static_cast<const uint8_t*>(rows) + 8 * (std::rotr(four, 16 * k) & 0xffff), sizeof(r));
    return r;
  };
  const auto pair = [&](uint64_t four, int k) {
    return _mm_insert_epi64(_mm_cvtsi64_si128(row(four, k)), row(four, k + 1), 1);
  };
  const uint64_t low = four_indices(2 * t), high = four_indices(2 * t + 1);
  return join256(_mm256_set_m128i(pair(low, 2), pair(low, 0)), _mm256_set_m128i(pair(high, 2), pair(high, 0)));
}

// 16 4-bit scales, low nibble first, as int16 2 s + 1 (the low 256 bits).
inline __m512i nibble_scales16(const uint8_t* scales) {
  const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales));
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i nibbles = _mm_unpacklo_epi8(_mm_and_si128(raw, low4), _mm_and_si128(_mm_srli_epi16(raw, 4), low4));
  return _mm512_castsi256_si512(
      _mm256_or_si256(_mm256_slli_epi16(_mm256_cvtepu8_epi16(nibbles), 1), _mm256_set1_epi16(1)));
}

// value = d / 8 * (2 scale + 1) * grid * sign, as dot_scalar_iq.cpp's dot_iq2_s. qs holds the
// low 8 bits of 32 10-bit grid indices, qh their high 2 bits (bits 2 e, 2 e + 1 for entry e),
// signs one explicit sign byte per 8 values.
void dot_iq2_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ2_S>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ2_S& x, const int8_t* y_qs, const int16_t*) {
        const __m512i scales = nibble_scales16(x.scales);
        const auto indices = [&](int k) { return four_indices(x.qs + 4 * k, x.qh[k], 0x0300030003000300ull); };
        __m512i acc[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 4
        for (int t = 0; t < 4; ++t) {
          const __m512i s = _mm512_permutexvar_epi16(load512(kScaleLanes16.lanes[t]), scales);
          acc[t & 1] = add_scaled_grid_dot(acc[t & 1], eight_grid_rows(kIq2sGrid, indices, t),
                                           load_u64(x.signs + 8 * t), y_qs + 64 * t, s);
        }
        return SuperBlockLanes{fold_to_256(_mm512_add_epi32(acc[0], acc[1]))};
      },
      0.125f);
}

// value = d / 8 * (2 scale + 1) * grid * sign, as dot_scalar_iq.cpp's dot_iq2_xs. qs holds 32
// 16-bit entries of a 9-bit grid index and a 7-bit sign index; scales as IQ2_S.
void dot_iq2_xs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ2_XS>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ2_XS& x, const int8_t* y_qs, const int16_t*) {
        const __m512i entries = load512(x.qs);
        const StepSigns signs = step_signs(iq2_sign_bytes(_mm512_cvtepi16_epi8(_mm512_srli_epi16(entries, 9))));
        const __m512i scales = nibble_scales16(x.scales);
        const auto indices = [&](int k) {
          uint64_t four;
          std::memcpy(&four, x.qs + 4 * k, sizeof(four));
          return four & 0x01ff01ff01ff01ffull;
        };
        __m512i acc[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 4
        for (int t = 0; t < 4; ++t) {
          const __m512i s = _mm512_permutexvar_epi16(load512(kScaleLanes16.lanes[t]), scales);
          acc[t & 1] =
              add_scaled_grid_dot(acc[t & 1], eight_grid_rows(kIq2xsGrid, indices, t), signs.of[t], y_qs + 64 * t, s);
        }
        return SuperBlockLanes{fold_to_256(_mm512_add_epi32(acc[0], acc[1]))};
      },
      0.125f);
}

// IQ1 weights w = 8 grid + delta_sign (dot_scalar_iq.cpp) are odd in [-9, 9]; w + 9 =
// 8 (grid + 1) + (delta_sign + 1) is in [0, 18], maddubs' unsigned operand as it is, and the
// 9 sum a it adds is taken off through the activations' sums per 16 (bsums): no abs, no sign
// mask, and the +1 delta is one masked 64-bit add of 2 to the rows that have it.

// 8 (grid + 1) per byte: 0, 8 or 16.
struct Iq1Shifted {
  int64_t rows[2048];
};
constexpr Iq1Shifted make_iq1_shifted() {
  Iq1Shifted t{};
  for (int i = 0; i < 2048; ++i) {
    uint64_t row = 0;
    for (int j = 0; j < 8; ++j) row |= uint64_t(8 * (kIq1sGrid[i][j] + 1)) << (8 * j);
    t.rows[i] = static_cast<int64_t>(row);
  }
  return t;
}
constexpr Iq1Shifted kIq1Shifted = make_iq1_shifted();

// IQ1_M's rows with the delta folded in, indexed by the 11-bit grid index and the delta bit
// above it: row i (bit clear, delta sign +1) is kIq1Shifted's with 2 added to each byte, row
// 2048 + i (bit set, delta sign -1) kIq1Shifted's as it is. Its 32 KiB fill L1 where
// kIq1Shifted takes half, yet the index needs no mask and the delta no sign test or masked
// adds: one core, hot, TSC cycles per super-block at 4096 / 2048 / 768 columns, 29.1 / 29.3 /
// 31.5 -> 27.2 / 27.3 / 28.5. (IQ1_S keeps one delta per 32 values in bit 15 of qh, which no
// single deposit puts above four indices.)
struct Iq1MShifted {
  int64_t rows[4096];
};
constexpr Iq1MShifted make_iq1_m_shifted() {
  Iq1MShifted t{};
  for (int i = 0; i < 2048; ++i) {
    t.rows[i] = kIq1Shifted.rows[i] + 0x0202020202020202ll;
    t.rows[2048 + i] = kIq1Shifted.rows[i];
  }
  return t;
}
constexpr Iq1MShifted kIq1MShifted = make_iq1_m_shifted();

// The integer dot of one IQ1 super-block as int32 lanes: indices(k) holds the indices into
// grid_rows of entries 4 k to 4 k + 3 (8 values each) as 16-bit fields (eight_grid_rows),
// `plus` the entries whose delta sign is +1 (none where the rows carry the delta), the 16
// scales 2 s + 1.
template <class FourIndices>
[[gnu::always_inline]] inline __m256i iq1_block_lanes(const int64_t* grid_rows, FourIndices indices, __mmask32 plus,
                                                      __m256i scales, const int8_t* a, const int16_t* bsums) {
  const __m512i scales512 = _mm512_castsi256_si512(scales);
  const __m512i twos = _mm512_set1_epi8(2);
  // The -9 sum a correction starts the first accumulator; two chains halve the dpwssd latency.
  __m512i acc[2] = {
      _mm512_zextsi256_si512(_mm256_madd_epi16(load256(bsums), _mm256_mullo_epi16(scales, _mm256_set1_epi16(-9)))),
      _mm512_setzero_si512()};
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) {
    const __m512i rows = eight_grid_rows(grid_rows, indices, t);
    const __m512i w = _mm512_mask_add_epi64(rows, static_cast<__mmask8>(plus >> (8 * t)), rows, twos);
    const __m512i s = _mm512_permutexvar_epi16(load512(kScaleLanes16.lanes[t]), scales512);
    acc[t & 1] = _mm512_dpwssd_epi32(acc[t & 1], _mm512_maddubs_epi16(w, load512(a + 64 * t)), s);
  }
  return fold_to_256(_mm512_add_epi32(acc[0], acc[1]));
}

// value = d / 8 * (2 scale + 1) * (8 grid + delta_sign), as dot_scalar_iq.cpp's dot_iq1_s.
void dot_iq1_s(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  // Entry m (8 values) takes index bits 3 (m % 4) of qh[m / 4] and its delta sign bit 15.
  // Byte m of sign_bytes is the high byte of qh[m / 4].
  const __m256i sign_bytes = _mm256_setr_epi8(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7,  //
                                              9, 9, 9, 9, 11, 11, 11, 11, 13, 13, 13, 13, 15, 15, 15, 15);
  const __m256i pairs = _mm256_setr_epi16(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  sum_super_block_rows<BlockIQ1_S>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ1_S& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i qh = load128(x.qh);
        const __mmask32 plus = _mm256_testn_epi8_mask(_mm256_shuffle_epi8(_mm256_broadcastsi128_si256(qh), sign_bytes),
                                                      _mm256_set1_epi8(-128));
        // Entries 4 k to 4 k + 3: qs bytes, and above them the 3-bit parts of qh[k].
        const auto indices = [&](int k) { return four_indices(x.qs + 4 * k, x.qh[k], 0x0700070007000700ull); };
        // Scale of 32 values: qh bits 12-14, so per 16 values each twice.
        const __m128i s8 = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(qh, 11), _mm_set1_epi16(14)), _mm_set1_epi16(1));
        const __m256i scales = _mm256_permutexvar_epi16(pairs, _mm256_castsi128_si256(s8));
        return SuperBlockLanes{iq1_block_lanes(kIq1Shifted.rows, indices, plus, scales, y_qs, y_bsums)};
      },
      0.125f);
}

// value = d / 8 * (2 scale + 1) * (8 grid + delta_sign), as dot_scalar_iq.cpp's dot_iq1_m.
void dot_iq1_m(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  // Entry m (8 values) takes nibble m % 2 of qh[m / 2]: 3 index bits and the delta sign (8).
  // Scale of 16 values s: bits 3 (s % 4) of scales[s / 4].
  const __m256i words = _mm256_setr_epi16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m256i scale_shifts = _mm256_setr_epi16(0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9, 0, 3, 6, 9);
  sum_super_block_rows<BlockIQ1_M>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ1_M& x, const int8_t* y_qs, const int16_t* y_bsums) {
        // Entries 4 k to 4 k + 3: qs bytes, and above them the nibbles of qh[2 k] and
        // qh[2 k + 1], whose delta bits pick kIq1MShifted's second half.
        const auto indices = [&](int k) {
          return four_indices(x.qs + 4 * k, x.qh[2 * k] | uint32_t{x.qh[2 * k + 1]} << 8, 0x0f000f000f000f00ull);
        };
        uint64_t scale_words;
        std::memcpy(&scale_words, x.scales, sizeof(scale_words));
        const __m256i raw = _mm256_permutexvar_epi16(words, _mm256_set1_epi64x(static_cast<int64_t>(scale_words)));
        const __m256i scales = _mm256_or_si256(
            _mm256_slli_epi16(_mm256_and_si256(_mm256_srlv_epi16(raw, scale_shifts), _mm256_set1_epi16(7)), 1),
            _mm256_set1_epi16(1));
        return SuperBlockLanes{iq1_block_lanes(kIq1MShifted.rows, indices, __mmask32{0}, scales, y_qs, y_bsums)};
      },
      0.125f);
}

}  // namespace

void add_avx512_iq_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::IQ2_XS, rows_for_each_token<dot_iq2_xs>);
  set_kernel(table, GgmlType::IQ2_S, rows_for_each_token<dot_iq2_s>);
  set_kernel(table, GgmlType::IQ3_XXS, for_each_token<dot_iq3_xxs>);
  set_kernel(table, GgmlType::IQ3_S, for_each_token<dot_iq3_s>);
  set_kernel(table, GgmlType::IQ1_S, rows_for_each_token<dot_iq1_s>);
  set_kernel(table, GgmlType::IQ1_M, rows_for_each_token<dot_iq1_m>);
}

}  // namespace sluice::quant::fast::detail
