// AVX2 (+FMA, F16C) kernels of the fast path; dot_scalar.cpp is their reference.
//
// Compiled with -mavx2 -mfma -mf16c whatever the project's -march, and called only on CPUs
// that have them (dispatch.cpp). Everything here, and the helpers of avx2_common.h, has
// internal linkage, so no code built for AVX2 leaks into other files. The other i-quants and
// the ternary and FP4 formats are in dot_avx2_iq.cpp and dot_avx2_ternary_fp4.cpp.
//
// Integer products use maddubs (u8 x s8 -> i16 pairs) then madd (i16 x i16 -> i32 pairs);
// every operand pair is bounded so that the i16 step cannot saturate: weights are at most
// 6 bits unsigned, or signed 8 bits moved onto the activation by the sign trick with
// activations within +-127.
#include <immintrin.h>

#include <cstring>

#include "quant/blocks.h"
#include "quant/blocks_iq.h"
#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/grid_steps_avx2.h"
#include "quant/fast/x86/scales_avx2.h"
#include "quant/fast/x86/sum_blocks32.h"
#include "quant/fast/x86/super_blocks.h"
#include "quant/fast/x86/token_groups_avx2.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// ---- float weights -----------------------------------------------------------------------

inline __m256 load8_f32(const std::byte* w, int64_t i) {
  return _mm256_loadu_ps(reinterpret_cast<const float*>(w) + i);
}
inline __m256 load8_f16(const std::byte* w, int64_t i) {
  return _mm256_cvtph_ps(load128(reinterpret_cast<const uint16_t*>(w) + i));
}
inline __m256 load8_bf16(const std::byte* w, int64_t i) {
  const __m256i wide = _mm256_cvtepu16_epi32(load128(reinterpret_cast<const uint16_t*>(w) + i));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
inline float load1_f32(const std::byte* w, int64_t i) { return reinterpret_cast<const float*>(w)[i]; }
inline float load1_f16(const std::byte* w, int64_t i) { return f16(reinterpret_cast<const uint16_t*>(w)[i]); }
inline float load1_bf16(const std::byte* w, int64_t i) {
  const uint32_t bits = uint32_t{reinterpret_cast<const uint16_t*>(w)[i]} << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// A float format's kernel: its weights and activations as f32 vectors, two of 8 columns a
// step (vector v of the step at column i: weights(row, i, v), activations(token, i, v)).
// Columns after the last whole step go 8 at a time where kEightsAfterSteps, then one by one
// (product). Prompts run in tiles of 2 rows x 4 tokens (8 accumulators: registers are left
// for a step's weights and activations), one token in tiles of kDecodeTileRows rows (8
// independent sums keep both FMA pipes busy; F16's conversions ran faster with 4: one core,
// hot, 2048 x 768, 35-38 against 33 GB/s).
//
// F32, F16: a step is 16 columns in order, the activations f32. BF16 (activations bf16 too):
// a step is 16 columns as their 8 even and 8 odd ones, each a shift or mask of the same
// 32-bit words, cheaper than widening 8 at a time and free to keep: both operands are split
// the same way.
template <__m256 (*Load8)(const std::byte*, int64_t), float (*Load1)(const std::byte*, int64_t), int kBytes,
          int kDecodeRows>
struct WidenedFloats {
  static constexpr int kValueBytes = kBytes;
  static constexpr int kDecodeTileRows = kDecodeRows;
  static constexpr bool kEightsAfterSteps = true;
  static __m256 weights(const std::byte* w, int64_t i, int v) { return Load8(w, i + 8 * v); }
  static __m256 activations(const std::byte* x, int64_t i, int v) { return load8_f32(x, i + 8 * v); }
  static float product(const std::byte* w, const std::byte* x, int64_t j) { return Load1(w, j) * load1_f32(x, j); }
};
using F32Kernel = WidenedFloats<load8_f32, load1_f32, 4, 8>;
using F16Kernel = WidenedFloats<load8_f16, load1_f16, 2, 4>;

struct Bf16Kernel {
  static constexpr int kValueBytes = 2;
  static constexpr int kDecodeTileRows = 8;
  static constexpr bool kEightsAfterSteps = false;
  static __m256 weights(const std::byte* w, int64_t i, int v) {
    const __m256i words = load256(reinterpret_cast<const uint16_t*>(w) + i);
    return _mm256_castsi256_ps(v == 0 ? _mm256_slli_epi32(words, 16)
                                      : _mm256_and_si256(words, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static __m256 activations(const std::byte* x, int64_t i, int v) { return weights(x, i, v); }
  static float product(const std::byte* w, const std::byte* x, int64_t j) {
    return load1_bf16(w, j) * load1_bf16(x, j);
  }
};

constexpr int kFloatTileRows = 2, kFloatTileTokens = 4;

// Float products in register tiles of kRows rows x kTokens tokens. Each (row, token) sum is
// one f32 vector taking the steps' vectors in order, then its lanes added, then the last
// columns one by one: the same operations in the same order whatever the tile, so a prompt's
// tiles give each token the bits it gets alone. Each vector of weights and activations is
// converted once per tile; the smaller side of the tile is held in registers, the other
// converted as it is used.
template <class Kernel, int kRows, int kTokens>
void float_tile(const std::byte* w, size_t w_row_bytes, const std::byte* x, size_t x_stride, int64_t n, float* out,
                size_t out_stride) {
  const auto row = [&](int r) { return w + static_cast<size_t>(r) * w_row_bytes; };
  const auto token = [&](int t) { return x + static_cast<size_t>(t) * x_stride; };
  __m256 acc[kRows][kTokens];
  for (auto& sums : acc) {
    for (__m256& a : sums) a = _mm256_setzero_ps();
  }
  // Vector v of the step at column i.
  const auto add_vector = [&](int64_t i, int v) {
    if constexpr (kRows <= kTokens) {
      __m256 wv[kRows];
      for (int r = 0; r < kRows; ++r) wv[r] = Kernel::weights(row(r), i, v);
      for (int t = 0; t < kTokens; ++t) {
        const __m256 a = Kernel::activations(token(t), i, v);
        for (int r = 0; r < kRows; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], a, acc[r][t]);
      }
    } else {
      __m256 a[kTokens];
      for (int t = 0; t < kTokens; ++t) a[t] = Kernel::activations(token(t), i, v);
      for (int r = 0; r < kRows; ++r) {
        const __m256 wv = Kernel::weights(row(r), i, v);
        for (int t = 0; t < kTokens; ++t) acc[r][t] = _mm256_fmadd_ps(wv, a[t], acc[r][t]);
      }
    }
  };
  // One token reads its rows once, from memory, kRows at a time. Where rows are short, a tile
  // is too many streams in too few pages for the hardware prefetchers (768 columns, an
  // expert's down projection, ran at 0.6 of the bandwidth), so the next tile's rows are asked
  // for as one run of bytes, at the pace this tile reads; longer rows are left to the
  // hardware, as asking a whole tile ahead evicts what is still being read.
  constexpr int64_t kStepBytes = int64_t{kRows} * 16 * Kernel::kValueBytes;
  const bool prefetch_next = kTokens == 1 && kRows > 1 && int64_t{kRows} * static_cast<int64_t>(w_row_bytes) <= 16384;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    if (prefetch_next) {
      const char* next = reinterpret_cast<const char*>(row(kRows)) + (i / 16) * kStepBytes;
      for (int64_t b = 0; b < kStepBytes; b += 64) _mm_prefetch(next + b, _MM_HINT_T0);
    }
    add_vector(i, 0);
    add_vector(i, 1);
  }
  if constexpr (Kernel::kEightsAfterSteps) {
    if (i + 8 <= n) {
      add_vector(i, 0);
      i += 8;
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int t = 0; t < kTokens; ++t) {
      float sum = hsum_f32(acc[r][t]);
      for (int64_t j = i; j < n; ++j) sum += Kernel::product(row(r), token(t), j);
      out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] = sum;
    }
  }
}

// float_tile with 1 .. kMaxRows rows and 1 .. kMaxTokens tokens chosen at run time.
template <class Kernel, int kMaxRows, int kMaxTokens>
void float_tile_of(int n_rows, int n_tokens, const std::byte* w, size_t w_row_bytes, const std::byte* x,
                   size_t x_stride, int64_t n, float* out, size_t out_stride) {
  if constexpr (kMaxRows > 1) {
    if (n_rows < kMaxRows) {
      float_tile_of<Kernel, kMaxRows - 1, kMaxTokens>(n_rows, n_tokens, w, w_row_bytes, x, x_stride, n, out,
                                                      out_stride);
      return;
    }
  }
  if constexpr (kMaxTokens > 1) {
    if (n_tokens < kMaxTokens) {
      float_tile_of<Kernel, kMaxRows, kMaxTokens - 1>(n_rows, n_tokens, w, w_row_bytes, x, x_stride, n, out,
                                                      out_stride);
      return;
    }
  }
  float_tile<Kernel, kMaxRows, kMaxTokens>(w, w_row_bytes, x, x_stride, n, out, out_stride);
}

// The RowDotFn of a float format, in its kernel's tiles: one token kDecodeTileRows rows at a
// time, more kFloatTileRows x kFloatTileTokens at a time, the rows outer so that a tile's
// weights stay in L1 while the tokens pass.
template <class Kernel>
void float_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, size_t act_stride,
                int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride) {
  const auto rows_at = [&](int64_t r) { return w + static_cast<size_t>(r) * w_row_bytes; };
  if (n_tokens == 1) {
    constexpr int kRows = Kernel::kDecodeTileRows;
    int64_t r = 0;
    for (; r + kRows <= n_rows; r += kRows)
      float_tile<Kernel, kRows, 1>(rows_at(r), w_row_bytes, act, 0, n_cols, out + r, 0);
    for (; r < n_rows; ++r) float_tile<Kernel, 1, 1>(rows_at(r), w_row_bytes, act, 0, n_cols, out + r, 0);
    return;
  }
  for (int64_t r = 0; r < n_rows; r += kFloatTileRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kFloatTileRows, n_rows - r));
    for (int64_t t = 0; t < n_tokens; t += kFloatTileTokens) {
      const int tokens = static_cast<int>(std::min<int64_t>(kFloatTileTokens, n_tokens - t));
      float_tile_of<Kernel, kFloatTileRows, kFloatTileTokens>(
          rows, tokens, rows_at(r), w_row_bytes, act + static_cast<size_t>(t) * act_stride, act_stride, n_cols,
          out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(r), out_stride);
    }
  }
}

// ---- 32-value formats ----------------------------------------------------------------------

struct Q8_0Weights {
  SignedWeights32 operator()(const BlockQ8_0& x) const { return signed_weights(load256(x.qs)); }
};

// The nibbles as unsigned q; Q4_0's value is d * (q - 8) (kOffset 8).
template <class Block>
struct Q4Weights {
  UnsignedWeights32 operator()(const Block& x) const { return {nibbles_32(x.qs)}; }
};

// nibble | bit << 4; Q5_0's value is d * (that - 16) (kOffset 16).
template <class Block>
struct Q5Weights {
  UnsignedWeights32 operator()(const Block& x) const {
    const __m256i high = _mm256_and_si256(bits_to_bytes(load_u32(x.qh)), _mm256_set1_epi8(16));
    return {_mm256_or_si256(nibbles_32(x.qs), high)};
  }
};

// The 16 IQ4_NL / IQ4_XS levels, in both 128-bit lanes for shuffle_epi8.
inline __m256i iq4_levels() { return _mm256_broadcastsi128_si256(load128(kIq4Levels)); }

struct Iq4NlWeights {
  SignedWeights32 operator()(const BlockIQ4_NL& x) const {
    return signed_weights(_mm256_shuffle_epi8(iq4_levels(), nibbles_32(x.qs)));
  }
};

// ---- 256-value formats ---------------------------------------------------------------------
// Integer sums per super-block as int32 lanes; super_blocks.h does the f32 step of
// dot_scalar.cpp.

void dot_q4_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  sum_super_block_rows<BlockQ4_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ4_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i scales_and_mins = unpack_k4_scales(x.scales);
        const __m256i scales8 = _mm256_broadcastsi128_si256(scales_and_mins);
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
          __m256i p[4];  // sub-blocks 4 half .. 4 half + 3
          for (int k = 0; k < 2; ++k) {
            const int c = 2 * half + k;
            const __m256i q = load256(x.qs + 32 * c);
            const __m256i lo = _mm256_and_si256(q, low4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
            p[2 * k] = _mm256_maddubs_epi16(lo, load256(y_qs + 64 * c));
            p[2 * k + 1] = _mm256_maddubs_epi16(hi, load256(y_qs + 64 * c + 32));
          }
          acc = _mm256_add_epi32(acc, four_sub_blocks_scaled(p, scales8, 4 * half));
        }
        return SuperBlockLanes{acc, k4_min_lanes(scales_and_mins, y_bsums)};
      });
}

void dot_q5_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockQ5_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ5_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i scales_and_mins = unpack_k4_scales(x.scales);
        const __m256i scales8 = _mm256_broadcastsi128_si256(scales_and_mins);
        __m256i high_bits = load256(x.qh);  // q5_k_chunk's
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
          __m256i p[4];  // sub-blocks 4 half .. 4 half + 3
          for (int k = 0; k < 2; ++k) {
            const int c = 2 * half + k;
            const Q5KChunk q = q5_k_chunk(x.qs + 32 * c, high_bits);
            p[2 * k] = _mm256_maddubs_epi16(q.low, load256(y_qs + 64 * c));
            p[2 * k + 1] = _mm256_maddubs_epi16(q.high, load256(y_qs + 64 * c + 32));
          }
          acc = _mm256_add_epi32(acc, four_sub_blocks_scaled(p, scales8, 4 * half));
        }
        return SuperBlockLanes{acc, k4_min_lanes(scales_and_mins, y_bsums)};
      });
}

void dot_q6_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockQ6_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ6_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i scale_bytes = load128(x.scales);
        const __m256i scales8 = _mm256_broadcastsi128_si256(scale_bytes);
        // sum_s scale_s * 32 * bsums_s, taken off at the end (q - 32).
        const __m256i offset =
            _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scale_bytes), load256(y_bsums)), 5);
        __m256i acc = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
          const Q6KHalf q = q6_k_half(x.ql, x.qh, half);
          __m256i p[4];  // step t: sub-blocks 8 half + 2t, 8 half + 2t + 1
          for (int t = 0; t < 4; ++t) p[t] = _mm256_maddubs_epi16(q.step[t], load256(y_qs + 128 * half + 32 * t));
          acc = _mm256_add_epi32(acc, two_steps_scaled(p[0], p[1], scales8, 8 * half));
          acc = _mm256_add_epi32(acc, two_steps_scaled(p[2], p[3], scales8, 8 * half + 4));
        }
        return SuperBlockLanes{_mm256_sub_epi32(acc, offset)};
      });
}

void dot_q2_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m256i low2 = _mm256_set1_epi8(3);
  sum_super_block_rows<BlockQ2_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ2_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i packed = load128(x.scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_srli_epi16(_mm_andnot_si128(_mm_set1_epi8(0x0f), packed), 4));
        const __m256i scales8 = _mm256_broadcastsi128_si256(_mm_and_si128(packed, _mm_set1_epi8(0x0f)));
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 2; ++c) {
          const __m256i raw = load256(x.qs + 32 * c);
          __m256i p[4];
          for (int s = 0; s < 4; ++s) {
            const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), low2);
            p[s] = _mm256_maddubs_epi16(q, load256(y_qs + 128 * c + 32 * s));
          }
          acc = _mm256_add_epi32(acc, four_steps_scaled(p, scales8, c));
        }
        return SuperBlockLanes{acc, _mm256_madd_epi16(mins, load256(y_bsums))};
      });
}

void dot_q3_k(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  const __m256i low2 = _mm256_set1_epi8(3);
  const __m256i bit2 = _mm256_set1_epi8(4);
  sum_super_block_rows<BlockQ3_K>(
      w, w_row_bytes, n_rows, act, n, out, [&](const BlockQ3_K& x, const int8_t* y_qs, const int16_t* y_bsums) {
        const __m128i scale_bytes = unpack_q3_scales(x.scales);
        const __m256i scales8 = _mm256_broadcastsi128_si256(scale_bytes);
        // q = q' - 4 with q' in 0..7: take 4 * sum_s scale_s * bsums_s off at the end.
        const __m256i offset =
            _mm256_slli_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(scale_bytes), load256(y_bsums)), 2);
        __m256i high_bits = load256(x.hmask);  // bit 4c + s of byte l
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 2; ++c) {
          const __m256i raw = load256(x.qs + 32 * c);
          __m256i p[4];
          for (int s = 0; s < 4; ++s) {
            const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), low2),
                                              _mm256_and_si256(_mm256_slli_epi16(high_bits, 2), bit2));
            high_bits = _mm256_srli_epi16(high_bits, 1);
            p[s] = _mm256_maddubs_epi16(q, load256(y_qs + 128 * c + 32 * s));
          }
          acc = _mm256_add_epi32(acc, four_steps_scaled(p, scales8, c));
        }
        return SuperBlockLanes{_mm256_sub_epi32(acc, offset)};
      });
}

// IQ4_XS's eight scales, (low nibble | 2 high bits << 4) - 32, as int16 lanes 0..7 of both
// 128-bit halves. Taken one at a time with integer operations and broadcast, they took about
// as many instructions as the products (one core, hot: 8.8-9.3 -> 10.3-10.5 GB/s).
inline __m256i iq4_xs_scales(const BlockIQ4_XS& x) {
  const __m128i raw = _mm_cvtsi32_si128(static_cast<int>(load_u32(x.scales_l)));
  const __m128i nibbles = _mm_and_si128(_mm_unpacklo_epi8(raw, _mm_srli_epi16(raw, 4)), _mm_set1_epi8(0x0f));
  const __m256i high =
      _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(x.scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                       _mm256_set1_epi32(3));
  const __m256i scales = _mm256_sub_epi32(_mm256_or_si256(_mm256_cvtepu8_epi32(nibbles), _mm256_slli_epi32(high, 4)),
                                          _mm256_set1_epi32(32));
  return int16_in_both_halves(scales);
}

// IQ4_XS's sub-blocks as grid steps (grid_token_group): the magnitudes of their levels, and
// the levels themselves for their signs (no level is 0).
struct Iq4XsSteps {
  using Block = BlockIQ4_XS;
  static constexpr float kDFactor = 1.0f;
  const BlockIQ4_XS& x;
  __m256i levels = iq4_levels();
  __m256i scales = iq4_xs_scales(x);

  ScaledGridSubBlock operator()(int ib) const {
    const __m256i q = _mm256_shuffle_epi8(levels, nibbles_32(x.qs + 16 * ib));
    return {{_mm256_sign_epi8(q, q), q}, broadcast_lane(scales, ib)};
  }
};

// Two accumulators: the per-value work is table loads and inserts, so independent chains
// keep more of them in flight.
void dot_iq2_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n, float* out) {
  sum_super_block_rows<BlockIQ2_XXS>(
      w, w_row_bytes, n_rows, act, n, out,
      [&](const BlockIQ2_XXS& x, const int8_t* y_qs, const int16_t*) {
        const Iq2XxsSteps steps{x};
        __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int ib = 0; ib < 8; ib += 2) {
          const ScaledGridSubBlock s[2] = {steps(ib), steps(ib + 1)};
          for (int h = 0; h < 2; ++h) acc[h] = _mm256_add_epi32(acc[h], scaled_grid_dot(s[h], y_qs + 32 * (ib + h)));
        }
        return SuperBlockLanes{_mm256_add_epi32(acc[0], acc[1])};
      },
      Iq2XxsSteps::kDFactor);
}

}  // namespace

void add_avx2_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::F32, float_rows<F32Kernel>);
  set_kernel(table, GgmlType::F16, float_rows<F16Kernel>);
  set_kernel(table, GgmlType::BF16, float_rows<Bf16Kernel>);
  set_kernel(table, GgmlType::Q8_0, blocks32_rows<BlockQ8_0, 0, Q8_0Weights>);
  set_kernel(table, GgmlType::Q4_0, blocks32_rows<BlockQ4_0, 8, Q4Weights<BlockQ4_0>>);
  set_kernel(table, GgmlType::Q4_1, blocks32_rows<BlockQ4_1, 0, Q4Weights<BlockQ4_1>>);
  set_kernel(table, GgmlType::Q5_0, blocks32_rows<BlockQ5_0, 16, Q5Weights<BlockQ5_0>>);
  set_kernel(table, GgmlType::Q5_1, blocks32_rows<BlockQ5_1, 0, Q5Weights<BlockQ5_1>>);
  set_kernel(table, GgmlType::IQ4_NL, blocks32_rows<BlockIQ4_NL, 0, Iq4NlWeights>);
  set_kernel(table, GgmlType::Q2_K, rows_for_each_token<dot_q2_k>);
  set_kernel(table, GgmlType::Q3_K, rows_for_each_token<dot_q3_k>);
  set_kernel(table, GgmlType::Q4_K, rows_for_each_token<dot_q4_k>);
  set_kernel(table, GgmlType::Q5_K, rows_for_each_token<dot_q5_k>);
  set_kernel(table, GgmlType::Q6_K, rows_for_each_token<dot_q6_k>);
  set_kernel(table, GgmlType::IQ2_XXS, in_token_groups<kAvx2TokenGroup, grid_token_group<Iq2XxsSteps>, dot_iq2_xxs>);
  set_kernel(table, GgmlType::IQ4_XS,
             in_token_groups<kAvx2TokenGroup, grid_token_group<Iq4XsSteps>, dot_steps<Iq4XsSteps>>);
  add_avx2_iq_kernels(table);
  add_avx2_ternary_fp4_kernels(table);
  add_avx2_group_kernels(table);
  add_avx2_blocks32_group_kernels(table);
  add_avx2_iq4_xs_group_kernel(table);
  add_avx2_q5_k_group_kernel(table);
  add_avx2_nvfp4_kernels(table);
  add_avx2_activation_quantizers(table);
}

}  // namespace sluice::quant::fast::detail
