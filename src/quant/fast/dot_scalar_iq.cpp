// Scalar reference kernels of the grid i-quants beyond IQ2_XXS: IQ2_XS, IQ2_S, IQ3_XXS,
// IQ3_S, IQ1_S, IQ1_M, against int8 activations per 256 values (Q8x256). The SIMD files
// (x86/dot_avx2_iq.cpp, x86/dot_avx512_iq.cpp) reproduce them bit for bit: each super-block's
// sum is an integer, which one f32 expression per format scales.
//
// Every format's value is a small odd integer scale (2s + 1) times a grid magnitude with a
// sign, over a power of two: the power of two goes into the f32 scale, so the products stay
// integers. Value formulas as decode_iq.cpp (gguf-py's quants.py).
#include <cstring>

#include "quant/blocks_iq.h"
#include "quant/fast/kernels.h"
#include "quant/float_formats.h"
#include "quant/quant_tables.h"

namespace sluice::quant::fast::detail {
namespace {

template <class Block>
const Block* blocks_of(const std::byte* p) {
  return reinterpret_cast<const Block*>(p);
}

uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// sum over j < n of grid[j] * a[j], negated where bit j of `signs` is set.
int32_t signed_grid_dot(const uint8_t* grid, uint8_t signs, const int8_t* a, int n) {
  int32_t s = 0;
  for (int j = 0; j < n; ++j) s += grid[j] * ((signs >> j) & 1 ? -a[j] : a[j]);
  return s;
}

// IQ2_XS: value = d * (0.5 + s) / 4 * grid * sign = d / 8 * (2s + 1) * grid * sign, s per 16.
float dot_iq2_xs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ2_XS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ2_XS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    int32_t isum = 0;
    for (int sub = 0; sub < 16; ++sub) {  // entries 2 sub, 2 sub + 1; scale nibble sub % 2
      const int scale = 2 * ((x.scales[sub / 2] >> (4 * (sub % 2))) & 0x0f) + 1;
      int32_t s = 0;
      for (int k = 2 * sub; k < 2 * sub + 2; ++k) {
        s += signed_grid_dot(kIq2xsGrid[x.qs[k] & 511], kSignsIq2[x.qs[k] >> 9], y_qs + 8 * k, 8);
      }
      isum += scale * s;
    }
    const float d = 0.125f * f16_to_f32(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// IQ2_S: as IQ2_XS with 10-bit grid indices and explicit sign bytes.
float dot_iq2_s(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ2_S>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ2_S& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    int32_t isum = 0;
    for (int sub = 0; sub < 16; ++sub) {
      const int scale = 2 * ((x.scales[sub / 2] >> (4 * (sub % 2))) & 0x0f) + 1;
      int32_t s = 0;
      for (int k = 2 * sub; k < 2 * sub + 2; ++k) {
        const int high = (x.qh[k / 4] >> (2 * (k % 4))) & 3;
        s += signed_grid_dot(kIq2sGrid[x.qs[k] | (high << 8)], x.signs[k], y_qs + 8 * k, 8);
      }
      isum += scale * s;
    }
    const float d = 0.125f * f16_to_f32(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// IQ3_XXS: value = d * (0.5 + s) / 2 * grid * sign = d / 4 * (2s + 1) * grid * sign, s per 32;
// grid rows of 4, signs of 8 as IQ2_XXS.
float dot_iq3_xxs(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ3_XXS>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ3_XXS& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    int32_t isum = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const uint32_t signs_and_scale = load_u32(x.scales_and_signs + 4 * ib);
      int32_t s = 0;
      for (int k = 0; k < 4; ++k) {  // values 8k..8k+7: grid rows 2k, 2k + 1
        const uint8_t signs = kSignsIq2[(signs_and_scale >> (7 * k)) & 127];
        const int8_t* a = y_qs + 32 * ib + 8 * k;
        s += signed_grid_dot(kIq3xxsGrid[x.qs[8 * ib + 2 * k]], signs, a, 4);
        s += signed_grid_dot(kIq3xxsGrid[x.qs[8 * ib + 2 * k + 1]], static_cast<uint8_t>(signs >> 4), a + 4, 4);
      }
      isum += static_cast<int32_t>(2 * (signs_and_scale >> 28) + 1) * s;
    }
    const float d = 0.25f * f16_to_f32(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// IQ3_S: value = d * (1 + 2s) * grid * sign, s per 32, 9-bit grid indices, sign bytes.
float dot_iq3_s(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ3_S>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ3_S& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    int32_t isum = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const int scale = 1 + 2 * ((x.scales[ib / 2] >> (4 * (ib % 2))) & 0x0f);
      int32_t s = 0;
      for (int g = 0; g < 8; ++g) {  // grid row g: values 4g..4g+3, sign bits 4 (g % 2) + j
        const int high = (x.qh[ib] >> g) & 1;
        const auto signs = static_cast<uint8_t>(x.signs[4 * ib + g / 2] >> (4 * (g % 2)));
        s += signed_grid_dot(kIq3sGrid[x.qs[8 * ib + g] | (high << 8)], signs, y_qs + 32 * ib + 4 * g, 4);
      }
      isum += scale * s;
    }
    const float d = f16_to_f32(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// IQ1: value = d * (2s + 1) * (grid + delta) with grid in {-1, 0, 1} and delta = +-1/8, so
// 8 value / (d (2s + 1)) = 8 grid +- 1: an odd integer in [-9, 9].
int32_t iq1_group_dot(const int8_t* grid, int delta_sign, const int8_t* a) {
  int32_t s = 0;
  for (int j = 0; j < 8; ++j) s += (8 * grid[j] + delta_sign) * a[j];
  return s;
}

float dot_iq1_s(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ1_S>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ1_S& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    int32_t isum = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const uint32_t qh = x.qh[ib];
      const int delta_sign = qh & 0x8000u ? -1 : 1;
      int32_t s = 0;
      for (int k = 0; k < 4; ++k) {
        const uint32_t index = x.qs[4 * ib + k] | (((qh >> (3 * k)) & 7) << 8);
        s += iq1_group_dot(kIq1sGrid[index], delta_sign, y_qs + 32 * ib + 8 * k);
      }
      isum += static_cast<int32_t>(2 * ((qh >> 12) & 7) + 1) * s;
    }
    const float d = 0.125f * f16_to_f32(x.d) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

// IQ1_M: as IQ1_S with a delta sign per 8 values and a 3-bit scale per 16; the f16 scale is
// spread over the top nibbles of the scale words (blocks_iq.h).
float dot_iq1_m(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wb = blocks_of<BlockIQ1_M>(w);
  const Q8x256View acts = view_q8x256(act, n);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    const BlockIQ1_M& x = wb[b];
    const int8_t* y_qs = acts.qs + 256 * b;
    int32_t isum = 0;
    for (int sub = 0; sub < 16; ++sub) {  // entries 2 sub, 2 sub + 1
      const int scale = 2 * ((x.scales[sub / 4] >> (3 * (sub % 4))) & 7) + 1;
      int32_t s = 0;
      for (int m = 2 * sub; m < 2 * sub + 2; ++m) {
        const uint32_t nibble = (x.qh[m / 2] >> (4 * (m % 2))) & 0x0f;  // 3 index bits, delta sign
        s += iq1_group_dot(kIq1sGrid[x.qs[m] | ((nibble & 7) << 8)], nibble & 8 ? -1 : 1, y_qs + 8 * m);
      }
      isum += scale * s;
    }
    const float d = 0.125f * f16_to_f32(iq1_m_scale_bits(x)) * acts.d[b];
    sum += d * static_cast<float>(isum);
  }
  return sum;
}

}  // namespace

void add_scalar_iq_kernels(KernelTable& table) {
  set_kernel(table, GgmlType::IQ2_XS, for_each_token<dot_iq2_xs>);
  set_kernel(table, GgmlType::IQ2_S, for_each_token<dot_iq2_s>);
  set_kernel(table, GgmlType::IQ3_XXS, for_each_token<dot_iq3_xxs>);
  set_kernel(table, GgmlType::IQ3_S, for_each_token<dot_iq3_s>);
  set_kernel(table, GgmlType::IQ1_S, for_each_token<dot_iq1_s>);
  set_kernel(table, GgmlType::IQ1_M, for_each_token<dot_iq1_m>);
}

}  // namespace sluice::quant::fast::detail
