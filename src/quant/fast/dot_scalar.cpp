// Scalar reference kernels of the fast path: the readable version of every format's
// quantized dot product, which the SIMD files must reproduce. Weight quants times activation
// quants are summed in integers per (sub-)block; the block scales combine the sums in f32,
// following the value formulas of the scalar decoders (decode_*.cpp) and ggml's
// ggml_vec_dot_*_generic.
#include <cstring>

#include "quant/blocks.h"
#include "quant/blocks_iq.h"
#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/float_formats.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

// ---- float weights: f32 activations (bf16 for BF16 weights), 16 interleaved partial sums --

template <float (*Load)(const std::byte*, int64_t), float (*LoadX)(const std::byte*, int64_t)>
float dot_float(const std::byte* w, const std::byte* x, int64_t n) {
  constexpr int kLanes = 16;
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) partial[l] += Load(w, i + l) * LoadX(x, i + l);
  }
  for (int l = 0; i < n; ++i, ++l) partial[l] += Load(w, i) * LoadX(x, i);
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) partial[l] += partial[l + width];
  }
  return partial[0];
}

float load_f32(const std::byte* w, int64_t i) { return reinterpret_cast<const float*>(w)[i]; }
float load_f16(const std::byte* w, int64_t i) {
  return f16_to_f32(reinterpret_cast<const uint16_t*>(w)[i]);
}
float load_bf16(const std::byte* w, int64_t i) {
  return bf16_to_f32(reinterpret_cast<const uint16_t*>(w)[i]);
}

// ---- 32-value formats against int8 activations per 32 ------------------------------------

template <class Block>
const Block* blocks_of(const std::byte* p) {
  return reinterpret_cast<const Block*>(p);
}

// Value l (0..31) of a block whose low nibbles hold values 0..15 and high nibbles 16..31.
inline int nibble(const uint8_t* qs, int l) { return l < 16 ? qs[l] & 0x0f : qs[l - 16] >> 4; }

// Bit 4 of value l of Q5_0 / Q5_1.
inline int fifth_bit(const uint8_t* qh, int l) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  return static_cast<int>((bits >> l) & 1u) << 4;
}

float dot_q8_0(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ8_0>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t isum = 0;
    for (int l = 0; l < 32; ++l) isum += wb[b].qs[l] * acts.qs[32 * b + l];
    sum += f16_to_f32(wb[b].d) * acts.d[b] * static_cast<float>(isum);
  }
  return sum;
}

// value = d * (q - 8): sum (q - 8) a = sum q a - 8 sum a.
float dot_q4_0(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ4_0>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t isum = 0;
    for (int l = 0; l < 32; ++l) isum += nibble(wb[b].qs, l) * acts.qs[32 * b + l];
    isum -= 8 * acts.sum[b];
    sum += f16_to_f32(wb[b].d) * acts.d[b] * static_cast<float>(isum);
  }
  return sum;
}

// value = d * q + m: sum = d da sum q a + m da sum a.
float dot_q4_1(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ4_1>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t isum = 0;
    for (int l = 0; l < 32; ++l) isum += nibble(wb[b].qs, l) * acts.qs[32 * b + l];
    sum += f16_to_f32(wb[b].d) * acts.d[b] * static_cast<float>(isum) +
           f16_to_f32(wb[b].m) * acts.d[b] * static_cast<float>(acts.sum[b]);
  }
  return sum;
}

float dot_q5_0(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ5_0>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t isum = 0;
    for (int l = 0; l < 32; ++l) {
      isum += (nibble(wb[b].qs, l) | fifth_bit(wb[b].qh, l)) * acts.qs[32 * b + l];
    }
    isum -= 16 * acts.sum[b];
    sum += f16_to_f32(wb[b].d) * acts.d[b] * static_cast<float>(isum);
  }
  return sum;
}

float dot_q5_1(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ5_1>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t isum = 0;
    for (int l = 0; l < 32; ++l) {
      isum += (nibble(wb[b].qs, l) | fifth_bit(wb[b].qh, l)) * acts.qs[32 * b + l];
    }
    sum += f16_to_f32(wb[b].d) * acts.d[b] * static_cast<float>(isum) +
           f16_to_f32(wb[b].m) * acts.d[b] * static_cast<float>(acts.sum[b]);
  }
  return sum;
}

float dot_iq4_nl(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ4_NL>(w);
  const Q8x32View acts = view_q8x32(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int32_t isum = 0;
    for (int l = 0; l < 32; ++l) isum += kIq4Levels[nibble(wb[b].qs, l)] * acts.qs[32 * b + l];
    sum += f16_to_f32(wb[b].d) * acts.d[b] * static_cast<float>(isum);
  }
  return sum;
}

// ---- 256-value formats against int8 activations per 256 ----------------------------------
// Each super-block: isum (quants times scales, integers) and msum (minimums times activation
// sums), then `sum += d * isum - dmin * msum` in f32 (`sum += d * isum` without minimums),
// the expression every SIMD file repeats.

// Q4_K / Q5_K: the 8 6-bit scales and 8 6-bit minimums packed in 12 bytes (k_scale_min in
// decode_k.cpp), unpacked to sc[0..7] and m[0..7].
void unpack_k4_scales(const uint8_t* packed, uint8_t* sc, uint8_t* m) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = packed[j] & 63;
    m[j] = packed[j + 4] & 63;
    sc[j + 4] = static_cast<uint8_t>((packed[j + 8] & 0x0f) | ((packed[j] >> 6) << 4));
    m[j + 4] = static_cast<uint8_t>((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
  }
}

float dot_q4_k(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ4_K>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockQ4_K& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const int16_t* y_bsums = acts.bsums + 16 * b;
    const float y_d = acts.d[b];
    uint8_t sc[8], m[8];
    unpack_k4_scales(x.scales, sc, m);
    int32_t isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {  // sub-block j: nibble j % 2 of qs[32 (j / 2) + l]
      const uint8_t* qs = x.qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int32_t s = 0;
      for (int l = 0; l < 32; ++l) s += ((qs[l] >> shift) & 0x0f) * y_qs[32 * j + l];
      isum += sc[j] * s;
      msum += m[j] * (y_bsums[2 * j] + y_bsums[2 * j + 1]);
    }
    const float d = f16_to_f32(x.d) * y_d;
    const float dmin = f16_to_f32(x.dmin) * y_d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return sum;
}

float dot_q5_k(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ5_K>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockQ5_K& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const int16_t* y_bsums = acts.bsums + 16 * b;
    const float y_d = acts.d[b];
    uint8_t sc[8], m[8];
    unpack_k4_scales(x.scales, sc, m);
    int32_t isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {  // as Q4_K, plus bit j of qh[l] as bit 4
      const uint8_t* qs = x.qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int32_t s = 0;
      for (int l = 0; l < 32; ++l) {
        const int q = ((qs[l] >> shift) & 0x0f) | (((x.qh[l] >> j) & 1) << 4);
        s += q * y_qs[32 * j + l];
      }
      isum += sc[j] * s;
      msum += m[j] * (y_bsums[2 * j] + y_bsums[2 * j + 1]);
    }
    const float d = f16_to_f32(x.d) * y_d;
    const float dmin = f16_to_f32(x.dmin) * y_d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return sum;
}

// value = d * scale * (q - 32), q 6-bit: sum over sub-block s of scale_s (sum q a - 32 bsum_s).
float dot_q6_k(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ6_K>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockQ6_K& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const int16_t* y_bsums = acts.bsums + 16 * b;
    const float y_d = acts.d[b];
    int32_t sub_sum[16] = {};
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x.ql + 64 * half;
      const uint8_t* qh = x.qh + 32 * half;
      for (int t = 0; t < 4; ++t) {  // values 128 half + 32 t + l
        for (int l = 0; l < 32; ++l) {
          const int low = (ql[32 * (t % 2) + l] >> (4 * (t / 2))) & 0x0f;
          const int high = (qh[l] >> (2 * t)) & 3;
          sub_sum[8 * half + 2 * t + l / 16] += (low | (high << 4)) * y_qs[128 * half + 32 * t + l];
        }
      }
    }
    int32_t isum = 0;
    for (int s = 0; s < 16; ++s) isum += x.scales[s] * (sub_sum[s] - 32 * y_bsums[s]);
    const float d = f16_to_f32(x.d) * y_d;
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// value = d * (scales & 15) * q - dmin * (scales >> 4), q 2-bit at value 128c + 32s + l.
float dot_q2_k(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ2_K>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockQ2_K& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const int16_t* y_bsums = acts.bsums + 16 * b;
    const float y_d = acts.d[b];
    int32_t isum = 0, msum = 0;
    for (int c = 0; c < 2; ++c) {
      for (int s = 0; s < 4; ++s) {
        for (int half = 0; half < 2; ++half) {  // sub-block 8c + 2s + half: 16 values
          const int sub = 8 * c + 2 * s + half;
          int32_t q_sum = 0;
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            q_sum += ((x.qs[32 * c + l] >> (2 * s)) & 3) * y_qs[128 * c + 32 * s + l];
          }
          isum += (x.scales[sub] & 0x0f) * q_sum;
          msum += (x.scales[sub] >> 4) * y_bsums[sub];
        }
      }
    }
    const float d = f16_to_f32(x.d) * y_d;
    const float dmin = f16_to_f32(x.dmin) * y_d;
    sum += d * static_cast<float>(isum) - dmin * static_cast<float>(msum);
  }
  return sum;
}

// value = d * scale * (q' - 4) with q' = low 2 bits | high bit << 2 (decode_k.cpp).
float dot_q3_k(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockQ3_K>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockQ3_K& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const int16_t* y_bsums = acts.bsums + 16 * b;
    const float y_d = acts.d[b];
    int32_t isum = 0;
    for (int c = 0; c < 2; ++c) {
      for (int s = 0; s < 4; ++s) {
        const int hbit = 4 * c + s;
        for (int half = 0; half < 2; ++half) {
          const int sub = 8 * c + 2 * s + half;
          const int low = (sub < 8 ? x.scales[sub] : x.scales[sub - 8] >> 4) & 0x0f;
          const int high = (x.scales[8 + sub % 4] >> (2 * (sub / 4))) & 3;
          const int scale = (low | (high << 4)) - 32;
          int32_t q_sum = 0;
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int q = ((x.qs[32 * c + l] >> (2 * s)) & 3) | (((x.hmask[l] >> hbit) & 1) << 2);
            q_sum += q * y_qs[128 * c + 32 * s + l];
          }
          isum += scale * (q_sum - 4 * y_bsums[sub]);
        }
      }
    }
    const float d = f16_to_f32(x.d) * y_d;
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

float dot_iq4_xs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ4_XS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ4_XS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const float y_d = acts.d[b];
    int32_t isum = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const int low = (x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
      const int high = (x.scales_h >> (2 * ib)) & 3;
      int32_t s = 0;
      for (int l = 0; l < 32; ++l) s += kIq4Levels[nibble(x.qs + 16 * ib, l)] * y_qs[32 * ib + l];
      isum += ((low | (high << 4)) - 32) * s;
    }
    const float d = f16_to_f32(x.d) * y_d;
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// value = d * (0.5 + scale) / 4 * grid * sign = d / 8 * (2 scale + 1) * grid * sign.
float dot_iq2_xxs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ2_XXS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ2_XXS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    const float y_d = acts.d[b];
    int32_t isum = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const uint32_t grid_indices = x.qs[4 * ib] | (uint32_t{x.qs[4 * ib + 1]} << 16);
      const uint32_t signs_and_scale = x.qs[4 * ib + 2] | (uint32_t{x.qs[4 * ib + 3]} << 16);
      int32_t s = 0;
      for (int k = 0; k < 4; ++k) {
        const uint8_t* grid = kIq2xxsGrid[(grid_indices >> (8 * k)) & 0xff];
        const uint8_t signs = kSignsIq2[(signs_and_scale >> (7 * k)) & 127];
        for (int j = 0; j < 8; ++j) {
          const int v = y_qs[32 * ib + 8 * k + j];
          s += grid[j] * ((signs >> j) & 1 ? -v : v);
        }
      }
      isum += static_cast<int32_t>(2 * (signs_and_scale >> 28) + 1) * s;
    }
    const float d = 0.125f * f16_to_f32(x.d) * y_d;
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace

void add_scalar_kernels(KernelTable& table) {
  add_scalar_activation_quantizers(table);
  set_kernel(table, GgmlType::F32, for_each_token<dot_float<load_f32, load_f32>>);
  set_kernel(table, GgmlType::F16, for_each_token<dot_float<load_f16, load_f32>>);
  set_kernel(table, GgmlType::BF16, for_each_token<dot_float<load_bf16, load_bf16>>);
  set_kernel(table, GgmlType::Q8_0, for_each_token<dot_q8_0>);
  set_kernel(table, GgmlType::Q4_0, for_each_token<dot_q4_0>);
  set_kernel(table, GgmlType::Q4_1, for_each_token<dot_q4_1>);
  set_kernel(table, GgmlType::Q5_0, for_each_token<dot_q5_0>);
  set_kernel(table, GgmlType::Q5_1, for_each_token<dot_q5_1>);
  set_kernel(table, GgmlType::IQ4_NL, for_each_token<dot_iq4_nl>);
  set_kernel(table, GgmlType::Q2_K, for_each_token<dot_q2_k>);
  set_kernel(table, GgmlType::Q3_K, for_each_token<dot_q3_k>);
  set_kernel(table, GgmlType::Q4_K, for_each_token<dot_q4_k>);
  set_kernel(table, GgmlType::Q5_K, for_each_token<dot_q5_k>);
  set_kernel(table, GgmlType::Q6_K, for_each_token<dot_q6_k>);
  set_kernel(table, GgmlType::IQ2_XXS, for_each_token<dot_iq2_xxs>);
  set_kernel(table, GgmlType::IQ4_XS, for_each_token<dot_iq4_xs>);
  add_scalar_iq_kernels(table);
  add_scalar_ternary_fp4_kernels(table);
}

}  // namespace sluice::quant::fast::detail
