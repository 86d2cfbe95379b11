// Scalar reference decoders of the i-quants IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
// IQ3_S, IQ4_NL, IQ4_XS. Layouts in blocks_iq.h, grids and value tables in quant_tables.h;
// arithmetic as gguf-py's quants.py (IQ2_XXS.dequantize_blocks etc.): group scale first,
// then scale * grid * sign (or scale * (grid + delta) for IQ1).
#include <cstring>

#include "quant/decode_blocks.h"
#include "quant/float_formats.h"
#include "quant/quant_tables.h"

namespace sluice::quant {
namespace {

uint32_t load_u32_le(const uint8_t* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

// kSignFactors.of[b][j]: -1.0f where bit j of the sign byte b is set, else +1.0f.
struct SignFactors {
  float of[256][8];
};
constexpr SignFactors make_sign_factors() {
  SignFactors table{};
  for (int b = 0; b < 256; ++b) {
    for (int j = 0; j < 8; ++j) table.of[b][j] = ((b >> j) & 1) ? -1.0f : 1.0f;
  }
  return table;
}
alignas(32) constexpr SignFactors kSignFactors = make_sign_factors();

// Every decoder below first gathers one group of 32 values (grid rows, sign factors) into
// small arrays, then runs one plain loop over the 32: that loop vectorizes, where per-row
// loops of 8 or 4 values interleaved with index arithmetic do not.
constexpr int kGroup = 32;

// scale * magnitude[l] * sign[l] for the 32 values of a group, in that order as gguf-py
// multiplies; scale is scale_lo for values 0..15 and scale_hi for 16..31.
inline void put_signed_group(const uint8_t* magnitude, const float* sign, float scale_lo,
                             float scale_hi, float* __restrict dst) {
  for (int l = 0; l < kGroup; ++l) {
    const float scale = l < 16 ? scale_lo : scale_hi;
    dst[l] = scale * static_cast<float>(magnitude[l]) * sign[l];
  }
}

// Copies the 8 sign factors of sign byte b to dst.
inline void copy_signs(uint8_t b, float* dst) {
  std::memcpy(dst, kSignFactors.of[b], 8 * sizeof(float));
}

// IQ2_XXS, IQ2_XS, IQ2_S and IQ3_XXS scale a 4-bit s as d * (0.5 + s) * step.
inline float half_step_scale(float d, uint32_t s, float step) {
  return d * (0.5f + static_cast<float>(s)) * step;
}

// IQ1_S / IQ1_M: scale * (grid value + delta) over one group of 32, scale as in
// put_signed_group.
inline void put_ternary_group(const int8_t* value, const float* delta, float scale_lo,
                              float scale_hi, float* __restrict dst) {
  for (int l = 0; l < kGroup; ++l) {
    const float scale = l < 16 ? scale_lo : scale_hi;
    dst[l] = scale * (static_cast<float>(value[l]) + delta[l]);
  }
}

// IQ1 delta by its sign bit: +1/8 when clear, -1/8 when set.
constexpr float kIq1Delta[2] = {0.125f, -0.125f};

}  // namespace

void decode(const BlockIQ2_XXS& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int ib = 0; ib < 8; ++ib) {
    const uint32_t grid_indices = block.qs[4 * ib] | (uint32_t{block.qs[4 * ib + 1]} << 16);
    const uint32_t signs_and_scale = block.qs[4 * ib + 2] | (uint32_t{block.qs[4 * ib + 3]} << 16);
    const float db = half_step_scale(d, signs_and_scale >> 28, 0.25f);
    uint8_t magnitude[kGroup];
    float sign[kGroup];
    for (int k = 0; k < 4; ++k) {
      std::memcpy(magnitude + 8 * k, kIq2xxsGrid[(grid_indices >> (8 * k)) & 0xff], 8);
      copy_signs(kSignsIq2[(signs_and_scale >> (7 * k)) & 127], sign + 8 * k);
    }
    put_signed_group(magnitude, sign, db, db, out + kGroup * ib);
  }
}

void decode(const BlockIQ2_XS& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int ib = 0; ib < 8; ++ib) {  // entries 4ib..4ib+3; scale nibbles of byte scales[ib]
    const float scale_lo = half_step_scale(d, block.scales[ib] & 0x0f, 0.25f);
    const float scale_hi = half_step_scale(d, block.scales[ib] >> 4, 0.25f);
    uint8_t magnitude[kGroup];
    float sign[kGroup];
    for (int k = 0; k < 4; ++k) {
      const uint16_t entry = block.qs[4 * ib + k];  // 9-bit grid index, 7-bit sign index
      std::memcpy(magnitude + 8 * k, kIq2xsGrid[entry & 511], 8);
      copy_signs(kSignsIq2[entry >> 9], sign + 8 * k);
    }
    put_signed_group(magnitude, sign, scale_lo, scale_hi, out + kGroup * ib);
  }
}

void decode(const BlockIQ2_S& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int ib = 0; ib < 8; ++ib) {  // entries 4ib..4ib+3; high index bits in qh[ib]
    const float scale_lo = half_step_scale(d, block.scales[ib] & 0x0f, 0.25f);
    const float scale_hi = half_step_scale(d, block.scales[ib] >> 4, 0.25f);
    uint8_t magnitude[kGroup];
    float sign[kGroup];
    for (int k = 0; k < 4; ++k) {
      const int high = (block.qh[ib] >> (2 * k)) & 3;
      std::memcpy(magnitude + 8 * k, kIq2sGrid[block.qs[4 * ib + k] | (high << 8)], 8);
      copy_signs(block.signs[4 * ib + k], sign + 8 * k);
    }
    put_signed_group(magnitude, sign, scale_lo, scale_hi, out + kGroup * ib);
  }
}

void decode(const BlockIQ3_XXS& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int ib = 0; ib < 8; ++ib) {
    const uint32_t signs_and_scale = load_u32_le(block.scales_and_signs + 4 * ib);
    const float db = half_step_scale(d, signs_and_scale >> 28, 0.5f);
    uint8_t magnitude[kGroup];
    float sign[kGroup];
    for (int g = 0; g < 8; ++g) {
      std::memcpy(magnitude + 4 * g, kIq3xxsGrid[block.qs[8 * ib + g]], 4);
    }
    for (int k = 0; k < 4; ++k) {
      copy_signs(kSignsIq2[(signs_and_scale >> (7 * k)) & 127], sign + 8 * k);
    }
    put_signed_group(magnitude, sign, db, db, out + kGroup * ib);
  }
}

void decode(const BlockIQ3_S& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int ib = 0; ib < 8; ++ib) {
    const int s = (block.scales[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    const float db = d * static_cast<float>(1 + 2 * s);
    uint8_t magnitude[kGroup];
    float sign[kGroup];
    for (int g = 0; g < 8; ++g) {  // 8 grid rows of 4; the 9th index bit is bit g of qh[ib]
      const int high = (block.qh[ib] >> g) & 1;
      std::memcpy(magnitude + 4 * g, kIq3sGrid[block.qs[8 * ib + g] | (high << 8)], 4);
    }
    for (int k = 0; k < 4; ++k) copy_signs(block.signs[4 * ib + k], sign + 8 * k);
    put_signed_group(magnitude, sign, db, db, out + kGroup * ib);
  }
}

void decode(const BlockIQ1_S& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int ib = 0; ib < 8; ++ib) {
    const uint32_t qh = block.qh[ib];
    const float dl = d * static_cast<float>(2 * ((qh >> 12) & 7) + 1);
    const float delta = kIq1Delta[qh >> 15];
    float deltas[kGroup];
    for (float& x : deltas) x = delta;
    int8_t value[kGroup];
    for (int k = 0; k < 4; ++k) {
      const uint32_t index = block.qs[4 * ib + k] | (((qh >> (3 * k)) & 7) << 8);
      std::memcpy(value + 8 * k, kIq1sGrid[index], 8);
    }
    put_ternary_group(value, deltas, dl, dl, out + kGroup * ib);
  }
}

void decode(const BlockIQ1_M& block, float* __restrict out) {
  const float d = f16_to_f32(iq1_m_scale_bits(block));
  // 3-bit scale of sub-block sub (16 values): bits 3 (sub % 4) of scale word sub / 4.
  auto sub_scale = [&](int sub) {
    const int s = (block.scales[sub / 4] >> (3 * (sub % 4))) & 7;
    return d * static_cast<float>(2 * s + 1);
  };
  for (int ib = 0; ib < 8; ++ib) {  // entries 4ib..4ib+3, sub-blocks 2ib and 2ib + 1
    const float scale_lo = sub_scale(2 * ib);
    const float scale_hi = sub_scale(2 * ib + 1);
    float deltas[kGroup];
    int8_t value[kGroup];
    for (int k = 0; k < 4; ++k) {
      const int m = 4 * ib + k;
      const uint32_t nibble = (block.qh[m / 2] >> (4 * (m % 2))) & 0x0f;  // 3 index bits, sign
      std::memcpy(value + 8 * k, kIq1sGrid[block.qs[m] | ((nibble & 7) << 8)], 8);
      const float delta = kIq1Delta[nibble >> 3];
      for (int j = 0; j < 8; ++j) deltas[8 * k + j] = delta;
    }
    put_ternary_group(value, deltas, scale_lo, scale_hi, out + kGroup * ib);
  }
}

void decode(const BlockIQ4_NL& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int l = 0; l < 16; ++l) {
    out[l] = d * kValuesIq4nl[block.qs[l] & 0x0f];
    out[l + 16] = d * kValuesIq4nl[block.qs[l] >> 4];
  }
}

void decode(const BlockIQ4_XS& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int ib = 0; ib < 8; ++ib) {
    const int low = (block.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    const int high = (block.scales_h >> (2 * ib)) & 3;
    const float dl = d * static_cast<float>((low | (high << 4)) - 32);
    const uint8_t* qs = block.qs + 16 * ib;
    float* dst = out + 32 * ib;
    for (int l = 0; l < 16; ++l) {
      dst[l] = dl * kValuesIq4nl[qs[l] & 0x0f];
      dst[l + 16] = dl * kValuesIq4nl[qs[l] >> 4];
    }
  }
}

template void decode_blocks(const BlockIQ2_XXS*, int64_t, float*);
template void decode_blocks(const BlockIQ2_XS*, int64_t, float*);
template void decode_blocks(const BlockIQ2_S*, int64_t, float*);
template void decode_blocks(const BlockIQ3_XXS*, int64_t, float*);
template void decode_blocks(const BlockIQ3_S*, int64_t, float*);
template void decode_blocks(const BlockIQ1_S*, int64_t, float*);
template void decode_blocks(const BlockIQ1_M*, int64_t, float*);
template void decode_blocks(const BlockIQ4_NL*, int64_t, float*);
template void decode_blocks(const BlockIQ4_XS*, int64_t, float*);

}  // namespace sluice::quant
