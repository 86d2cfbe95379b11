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

// Load8 / Load1 read the weights, LoadX8 / LoadX1 the activations (f32, or bf16 for BF16
// weights); no software prefetch, as dot_avx512.cpp's float kernel.
template <size_t kValueBytes, __m256 (*Load8)(const std::byte*, int64_t), float (*Load1)(const std::byte*, int64_t),
          __m256 (*LoadX8)(const std::byte*, int64_t) = load8_f32, float (*LoadX1)(const std::byte*, int64_t) = load1_f32>
float dot_float(const std::byte* w, const std::byte* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(Load8(w, i), LoadX8(x, i), acc0);
    acc1 = _mm256_fmadd_ps(Load8(w, i + 8), LoadX8(x, i + 8), acc1);
    acc2 = _mm256_fmadd_ps(Load8(w, i + 16), LoadX8(x, i + 16), acc2);
    acc3 = _mm256_fmadd_ps(Load8(w, i + 24), LoadX8(x, i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(Load8(w, i), LoadX8(x, i), acc0);
  float sum = hsum_f32(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += Load1(w, i) * LoadX1(x, i);
  return sum;
}

// Prompt kernels of the float formats: three tokens a pass over a row, each 8 weights
// converted once for all of them, the activations as f32 (BF16's converted once per call:
// bf16 to f32 is exact, so the products are the one-token kernel's). Each token's sums are
// dot_float's, in its order: results are bit-identical to it.
template <int kTokens, __m256 (*Load8)(const std::byte*, int64_t), float (*Load1)(const std::byte*, int64_t)>
void dot_float_tokens(const std::byte* w, const float* x, size_t x_stride, int64_t n, float* out, size_t out_stride) {
  __m256 acc[kTokens][4];
  for (auto& token : acc) {
    for (__m256& a : token) a = _mm256_setzero_ps();
  }
  const auto at = [&](int t, int64_t i) { return x + static_cast<size_t>(t) * x_stride + i; };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) {
      const __m256 wk = Load8(w, i + 8 * k);
      for (int t = 0; t < kTokens; ++t) acc[t][k] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(at(t, i + 8 * k)), acc[t][k]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 wk = Load8(w, i);
    for (int t = 0; t < kTokens; ++t) acc[t][0] = _mm256_fmadd_ps(wk, _mm256_loadu_ps(at(t, i)), acc[t][0]);
  }
  for (int t = 0; t < kTokens; ++t) {
    float sum = hsum_f32(_mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3])));
    for (int64_t j = i; j < n; ++j) sum += Load1(w, j) * *at(t, j);
    out[static_cast<size_t>(t) * out_stride] = sum;
  }
}

// The RowDotFn of a float format: one token through dot_float (OneToken), more three at a
// time (then two or one) through dot_float_tokens, their activations as f32: with
// kBf16Activations (BF16 weights) converted into a buffer of the calling thread, else as they
// are.
template <__m256 (*Load8)(const std::byte*, int64_t), float (*Load1)(const std::byte*, int64_t), DotFn OneToken,
          bool kBf16Activations>
void float_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, size_t act_stride,
                int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride) {
  if (n_tokens == 1) {
    for_each_token<OneToken>(w, w_row_bytes, n_rows, act, act_stride, n_tokens, n_cols, out, out_stride);
    return;
  }
  const float* x = reinterpret_cast<const float*>(act);
  size_t x_stride = act_stride / sizeof(float);
  if constexpr (kBf16Activations) {
    thread_local FilesVector<float, Avx2Files> widened;
    widened.resize(static_cast<size_t>(n_tokens * n_cols));
    for (int64_t t = 0; t < n_tokens; ++t) {
      const std::byte* row = act + static_cast<size_t>(t) * act_stride;
      float* to = widened.data() + t * n_cols;
      int64_t i = 0;
      for (; i + 8 <= n_cols; i += 8) _mm256_storeu_ps(to + i, load8_bf16(row, i));
      for (; i < n_cols; ++i) to[i] = load1_bf16(row, i);
    }
    x = widened.data();
    x_stride = static_cast<size_t>(n_cols);
  }
  // Tokens outer: a group's activations (up to 3 x 4 bytes a column) stay in L1 while the
  // call's rows pass by.
  for (int64_t t = 0; t < n_tokens;) {
    const int count = static_cast<int>(std::min<int64_t>(3, n_tokens - t));
    const float* xt = x + static_cast<size_t>(t) * x_stride;
    for (int64_t r = 0; r < n_rows; ++r) {
      const std::byte* w_row = w + static_cast<size_t>(r) * w_row_bytes;
      float* o = out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(r);
      if (count == 3) {
        dot_float_tokens<3, Load8, Load1>(w_row, xt, x_stride, n_cols, o, out_stride);
      } else if (count == 2) {
        dot_float_tokens<2, Load8, Load1>(w_row, xt, x_stride, n_cols, o, out_stride);
      } else {
        dot_float_tokens<1, Load8, Load1>(w_row, xt, x_stride, n_cols, o, out_stride);
      }
    }
    t += count;
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
  set_kernel(table, GgmlType::F32, float_rows<load8_f32, load1_f32, dot_float<4, load8_f32, load1_f32>, false>);
  set_kernel(table, GgmlType::F16, float_rows<load8_f16, load1_f16, dot_float<2, load8_f16, load1_f16>, false>);
  set_kernel(table, GgmlType::BF16,
             float_rows<load8_bf16, load1_bf16, dot_float<2, load8_bf16, load1_bf16, load8_bf16, load1_bf16>, true>);
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
}

}  // namespace sluice::quant::fast::detail
