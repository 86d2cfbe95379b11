// Activations quantized to 8-bit groups with AVX2: the same bytes as activations_scalar.cpp
// (the same scale, the same rounding: round to nearest even is what the scalar version's
// 1.5 * 2^23 trick computes), as activations_avx512.cpp does for AVX-512. One token's
// quantization sits on the critical path of every matrix-vector product, ahead of handing
// rows to the threads: the scalar version, vectorized for the baseline target, took about 1.1
// us of a 2048-value row (one core), against a 15-30 us product of an expert's matrix.
#include <immintrin.h>

#include "quant/fast/kernels.h"

namespace sluice::quant::fast::detail {
namespace {

// max |x| over n values (a multiple of 8), as float bits.
inline uint32_t max_abs_bits(const float* x, int n) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  __m256i max = _mm256_setzero_si256();
  for (int i = 0; i < n; i += 8) {
    max =
        _mm256_max_epu32(max, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), abs_mask));
  }
  __m128i m = _mm_max_epu32(_mm256_castsi256_si128(max), _mm256_extracti128_si256(max, 1));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
  m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(m));
}

// Quants of 8 values as 32-bit lanes: clamp(round(x * inv_d), -127, 127).
inline __m256i quants8(const float* x, __m256 inv_d) {
  const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x), inv_d);
  const __m256 rounded = _mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(rounded, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f)));
}

// Quants of 32 values as bytes in order. The two packs interleave the four vectors' 4-value
// pieces within each 128-bit lane; the permute puts them back in order.
inline __m256i quants32(const float* x, __m256 inv_d) {
  const __m256i low = _mm256_packs_epi32(quants8(x, inv_d), quants8(x + 8, inv_d));
  const __m256i high = _mm256_packs_epi32(quants8(x + 16, inv_d), quants8(x + 24, inv_d));
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(low, high), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Sums of each 4 of 32 signed bytes, as 32-bit lanes in order.
inline __m256i sums_of_4(__m256i bytes) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), bytes), _mm256_set1_epi16(1));
}

// The sums of each 16 of 128 bytes (four vectors of 32 in order), as 32-bit lanes in order.
inline __m256i sums_of_16(const __m256i (&bytes)[4]) {
  const __m256i pairs01 = _mm256_hadd_epi32(sums_of_4(bytes[0]), sums_of_4(bytes[1]));
  const __m256i pairs23 = _mm256_hadd_epi32(sums_of_4(bytes[2]), sums_of_4(bytes[3]));
  // Lanes: sums 0, 2, 4, 6 of the 16-byte pieces, then 1, 3, 5, 7.
  const __m256i sums = _mm256_hadd_epi32(pairs01, pairs23);
  return _mm256_permutevar8x32_epi32(sums, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

void quantize_q8x32(const float* x, int64_t n_cols, std::byte* out) {
  const auto [qs, sum, d] = fields_q8x32(out, n_cols);
  for (int64_t g = 0; g < n_cols / 32; ++g) {
    const float* group = x + 32 * g;
    const ActivationGroupScale scale = activation_group_scale(max_abs_bits(group, 32));
    d[g] = scale.d;
    const __m256i bytes =
        scale.quants_are_zero() ? _mm256_setzero_si256() : quants32(group, _mm256_set1_ps(scale.inv_d));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * g), bytes);
    const __m256i by_4 = sums_of_4(bytes);
    const __m128i by_8 = _mm_add_epi32(_mm256_castsi256_si128(by_4), _mm256_extracti128_si256(by_4, 1));
    const __m128i by_16 = _mm_add_epi32(by_8, _mm_shuffle_epi32(by_8, _MM_SHUFFLE(1, 0, 3, 2)));
    sum[g] = _mm_cvtsi128_si32(_mm_add_epi32(by_16, _mm_shuffle_epi32(by_16, _MM_SHUFFLE(2, 3, 0, 1))));
  }
}

void quantize_q8x256(const float* x, int64_t n_cols, std::byte* out) {
  const auto [qs, bsums, d] = fields_q8x256(out, n_cols);
  for (int64_t b = 0; b < n_cols / 256; ++b) {
    const float* group = x + 256 * b;
    int8_t* q = qs + 256 * b;
    const ActivationGroupScale scale = activation_group_scale(max_abs_bits(group, 256));
    d[b] = scale.d;
    const __m256 inv_d = _mm256_set1_ps(scale.inv_d);
    __m256i halves[2][4];
    for (int i = 0; i < 8; ++i) {
      __m256i& bytes = halves[i / 4][i % 4];
      bytes = scale.quants_are_zero() ? _mm256_setzero_si256() : quants32(group + 32 * i, inv_d);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * i), bytes);
    }
    // |sum of 16 quants| <= 2032 fits int16; the pack interleaves 64-bit pieces, the permute
    // puts them back in order.
    const __m256i sums = _mm256_packs_epi32(sums_of_16(halves[0]), sums_of_16(halves[1]));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bsums + 16 * b), _mm256_permute4x64_epi64(sums, 0xd8));
  }
}

}  // namespace

void add_avx2_activation_quantizers(KernelTable& table) {
  table.quantize_q8x32 = quantize_q8x32;
  table.quantize_q8x256 = quantize_q8x256;
}

}  // namespace sluice::quant::fast::detail
