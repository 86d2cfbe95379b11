// Scalar reference kernels of the ternary formats (TQ1_0, TQ2_0, against int8 activations
// per 256 values) and the 4-bit float formats (MXFP4, NVFP4, against int8 activations per
// 32). The SIMD files (x86/dot_avx2_ternary_fp4.cpp, x86/dot_avx512_ternary_fp4.cpp)
// reproduce the ternary ones bit for bit (integer sums per super-block) and the FP4 ones
// within float rounding (they sum blocks in vector lanes).
//
// FP4 (E2M1) values doubled are the integers 0, +-1, 2, 3, 4, 6, 8, 12 (kValuesFp4), and the
// block scale tables are halved to match, so products of quants stay integers. Value
// formulas as decode_ternary_fp4.cpp (gguf-py's quants.py).
#include "quant/blocks_ternary_fp4.h"
#include "quant/fast/kernels.h"
#include "quant/float_formats.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

template <class Block>
const Block* blocks_of(const std::byte* p) {
  return reinterpret_cast<const Block*>(p);
}

// TQ1_0 digit k of a byte (blocks_ternary_fp4.h): multiplying by 3^k mod 256 brings it to
// the top, where (byte * 3) >> 8 reads it.
int ternary_digit(uint8_t byte, int k) {
  uint8_t power = 1;
  for (int i = 0; i < k; ++i) power = static_cast<uint8_t>(power * 3);
  return (static_cast<uint8_t>(byte * power) * 3) >> 8;
}

// value = d * (digit - 1).
float dot_tq1_0(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockTQ1_0>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockTQ1_0& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    int32_t isum = 0;
    for (int k = 0; k < 5; ++k) {
      for (int l = 0; l < 32; ++l) isum += (ternary_digit(x.qs[l], k) - 1) * y_qs[32 * k + l];
      for (int l = 0; l < 16; ++l) isum += (ternary_digit(x.qs[32 + l], k) - 1) * y_qs[160 + 16 * k + l];
    }
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 4; ++l) isum += (ternary_digit(x.qh[l], k) - 1) * y_qs[240 + 4 * k + l];
    }
    const float d = f16_to_f32(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// value = d * (q - 1), q 2-bit at value 128c + 32s + l (bits 2s of qs[32c + l]).
float dot_tq2_0(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockTQ2_0>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockTQ2_0& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    // sum (q - 1) a as sum q a - sum a: GCC 12.2 at -O3 -march=native (AVX-512) vectorized the
    // one-sum form of this loop to wrong results (correct with -fno-tree-vectorize).
    int32_t q_sum = 0, a_sum = 0;
    for (int c = 0; c < 2; ++c) {
      for (int s = 0; s < 4; ++s) {
        for (int l = 0; l < 32; ++l) {
          q_sum += ((x.qs[32 * c + l] >> (2 * s)) & 3) * y_qs[128 * c + 32 * s + l];
        }
      }
    }
    for (int l = 0; l < 256; ++l) a_sum += y_qs[l];
    const int32_t isum = q_sum - a_sum;
    const float d = f16_to_f32(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// The doubled FP4 values as integers (kValuesFp4 holds them as floats).
constexpr int8_t kFp4Doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Sum of doubled FP4 value times activation over n values whose codes are the low nibbles of
// qs[0..n/2) then the high nibbles.
int32_t fp4_dot(const uint8_t* qs, const int8_t* a, int n) {
  int32_t s = 0;
  for (int l = 0; l < n / 2; ++l) {
    s += kFp4Doubled[qs[l] & 0x0f] * a[l] + kFp4Doubled[qs[l] >> 4] * a[l + n / 2];
  }
  return s;
}

// value = 2^(e - 127) * fp4 = kE8m0HalfToF32[e] * doubled fp4.
float dot_mxfp4(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockMXFP4>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    const int32_t isum = fp4_dot(wb[b].qs, acts.qs + 32 * b, 32);
    sum += kE8m0HalfToF32[wb[b].e] * acts.d[b] * static_cast<float>(isum);
  }
  return sum;
}

// NVFP4: 64 values, a UE4M3 scale per 16; activation block 2b + h covers sub-blocks 2h, 2h + 1.
float dot_nvfp4(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockNVFP4>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 64; ++b) {
    const BlockNVFP4& x = wb[b];
    for (int h = 0; h < 2; ++h) {
      const int8_t* a = acts.qs + 64 * b + 32 * h;
      const float lo = kUe4m3HalfToF32[x.d[2 * h]] * static_cast<float>(fp4_dot(x.qs + 16 * h, a, 16));
      const float hi = kUe4m3HalfToF32[x.d[2 * h + 1]] * static_cast<float>(fp4_dot(x.qs + 16 * h + 8, a + 16, 16));
      sum += acts.d[2 * b + h] * (lo + hi);
    }
  }
  return sum;
}

}  // namespace

void add_scalar_ternary_fp4_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::TQ1_0, for_each_token<dot_tq1_0>);
  set_kernel(table, GgmlType::TQ2_0, for_each_token<dot_tq2_0>);
  set_kernel(table, GgmlType::MXFP4, for_each_token<dot_mxfp4>);
  set_kernel(table, GgmlType::NVFP4, for_each_token<dot_nvfp4>);
}

}  // namespace sluice::quant::fast::detail
