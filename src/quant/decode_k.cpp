// Scalar reference decoders of the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. Layouts in
// blocks_k.h; arithmetic as gguf-py's quants.py (Q2_K.dequantize_blocks etc.): the
// sub-block scale is formed first (d * scale, dmin * min), then scale * q - min.
// Inner loops run over 32 consecutive values (sub-block scales looked up per value from a
// small array where the 32 span two sub-blocks), so that they vectorize.
#include "quant/decode_blocks.h"
#include "quant/float_formats.h"

namespace sluice::quant {
namespace {

struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};

// Q4_K / Q5_K pack 8 6-bit scales and 8 6-bit minimums into 12 bytes: bytes 0-3 hold the
// low 6 bits of scales 0-3, bytes 4-7 of minimums 0-3; for sub-blocks 4-7 the low 4 bits
// come from the nibbles of bytes 8-11 and the top 2 bits from the top bits of bytes 0-7.
ScaleMin k_scale_min(const uint8_t* scales, int j) {
  if (j < 4) {
    return {static_cast<uint8_t>(scales[j] & 63), static_cast<uint8_t>(scales[j + 4] & 63)};
  }
  return {static_cast<uint8_t>((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4)),
          static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))};
}

}  // namespace

void decode(const BlockQ2_K& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  const float dmin = f16_to_f32(block.dmin);
  float dl[16], ml[16];
  for (int sub = 0; sub < 16; ++sub) {
    dl[sub] = d * static_cast<float>(block.scales[sub] & 0x0f);
    ml[sub] = dmin * static_cast<float>(block.scales[sub] >> 4);
  }
  for (int chunk = 0; chunk < 2; ++chunk) {
    for (int shift = 0; shift < 4; ++shift) {
      const int first_sub = 8 * chunk + 2 * shift;  // these 32 values span two sub-blocks
      float* dst = out + 128 * chunk + 32 * shift;
      for (int l = 0; l < 32; ++l) {
        const int sub = first_sub + l / 16;
        const int q = (block.qs[32 * chunk + l] >> (2 * shift)) & 3;
        dst[l] = dl[sub] * static_cast<float>(q) - ml[sub];
      }
    }
  }
}

void decode(const BlockQ3_K& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  // 16 signed 6-bit scales: low nibbles from bytes 0-7 (low nibble first), high 2 bits from
  // bytes 8-11 (scale i uses bits 2 * (i / 4) of byte 8 + i % 4).
  float dl[16];
  for (int i = 0; i < 16; ++i) {
    const int low = (i < 8 ? block.scales[i] : block.scales[i - 8] >> 4) & 0x0f;
    const int high = (block.scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    dl[i] = d * static_cast<float>((low | (high << 4)) - 32);
  }
  for (int chunk = 0; chunk < 2; ++chunk) {
    for (int shift = 0; shift < 4; ++shift) {
      const int first_sub = 8 * chunk + 2 * shift;
      const int hbit = 4 * chunk + shift;  // bit of hmask[l] for these 32 values
      float* dst = out + 128 * chunk + 32 * shift;
      for (int l = 0; l < 32; ++l) {
        const int low = (block.qs[32 * chunk + l] >> (2 * shift)) & 3;
        const int high_clear = ((block.hmask[l] >> hbit) & 1) ^ 1;
        dst[l] = dl[first_sub + l / 16] * static_cast<float>(low - (high_clear << 2));
      }
    }
  }
}

void decode(const BlockQ4_K& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  const float dmin = f16_to_f32(block.dmin);
  for (int chunk = 0; chunk < 4; ++chunk) {
    const uint8_t* qs = block.qs + 32 * chunk;
    const ScaleMin lo = k_scale_min(block.scales, 2 * chunk);
    const ScaleMin hi = k_scale_min(block.scales, 2 * chunk + 1);
    const float d_lo = d * static_cast<float>(lo.scale), m_lo = dmin * static_cast<float>(lo.min);
    const float d_hi = d * static_cast<float>(hi.scale), m_hi = dmin * static_cast<float>(hi.min);
    float* dst = out + 64 * chunk;
    for (int l = 0; l < 32; ++l) dst[l] = d_lo * static_cast<float>(qs[l] & 0x0f) - m_lo;
    for (int l = 0; l < 32; ++l) dst[32 + l] = d_hi * static_cast<float>(qs[l] >> 4) - m_hi;
  }
}

void decode(const BlockQ5_K& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  const float dmin = f16_to_f32(block.dmin);
  for (int chunk = 0; chunk < 4; ++chunk) {  // sub-blocks 2 * chunk (low nibbles), + 1 (high)
    const uint8_t* qs = block.qs + 32 * chunk;
    const ScaleMin lo = k_scale_min(block.scales, 2 * chunk);
    const ScaleMin hi = k_scale_min(block.scales, 2 * chunk + 1);
    const float d_lo = d * static_cast<float>(lo.scale), m_lo = dmin * static_cast<float>(lo.min);
    const float d_hi = d * static_cast<float>(hi.scale), m_hi = dmin * static_cast<float>(hi.min);
    float* dst = out + 64 * chunk;
    for (int l = 0; l < 32; ++l) {
      const int q = (qs[l] & 0x0f) | (((block.qh[l] >> (2 * chunk)) & 1) << 4);
      dst[l] = d_lo * static_cast<float>(q) - m_lo;
    }
    for (int l = 0; l < 32; ++l) {
      const int q = (qs[l] >> 4) | (((block.qh[l] >> (2 * chunk + 1)) & 1) << 4);
      dst[32 + l] = d_hi * static_cast<float>(q) - m_hi;
    }
  }
}

void decode(const BlockQ6_K& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  float dl[16];
  for (int i = 0; i < 16; ++i) dl[i] = d * static_cast<float>(block.scales[i]);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = block.ql + 64 * half;
    const uint8_t* qh = block.qh + 32 * half;
    // Values 32t + l of this half: low 4 bits from ql[32 (t % 2) + l] (nibble t / 2), high
    // 2 bits from qh[l] (bits 2t, 2t + 1).
    for (int t = 0; t < 4; ++t) {
      const int first_sub = 8 * half + 2 * t;
      float* dst = out + 128 * half + 32 * t;
      for (int l = 0; l < 32; ++l) {
        const int low = (ql[32 * (t % 2) + l] >> (4 * (t / 2))) & 0x0f;
        const int high = (qh[l] >> (2 * t)) & 3;
        dst[l] = dl[first_sub + l / 16] * static_cast<float>((low | (high << 4)) - 32);
      }
    }
  }
}

template void decode_blocks(const BlockQ2_K*, int64_t, float*);
template void decode_blocks(const BlockQ3_K*, int64_t, float*);
template void decode_blocks(const BlockQ4_K*, int64_t, float*);
template void decode_blocks(const BlockQ5_K*, int64_t, float*);
template void decode_blocks(const BlockQ6_K*, int64_t, float*);

}  // namespace sluice::quant
