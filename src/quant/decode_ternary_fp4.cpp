// Scalar reference decoders of the ternary formats TQ1_0, TQ2_0 and the 4-bit float formats
// MXFP4, NVFP4. Layouts in blocks_ternary_fp4.h, value and scale tables in quant_tables.h;
// arithmetic as gguf-py's quants.py (TQ1_0.dequantize_blocks etc.).
#include "quant/decode_blocks.h"
#include "quant/float_formats.h"
#include "quant/quant_tables.h"

namespace sluice::quant {
namespace {

// TQ1_0 stores 5 (or 4) base-3 digits per byte, scaled so that digit k is the integer part
// of 3 * frac(byte * 3^k / 256): multiplying by 3^k (mod 256) rotates digit k to the top.
// Writes `n_digits` groups of `width` values: digit k of bytes[l] is dst[width * k + l].
inline void put_ternary_digits(const uint8_t* bytes, int width, int n_digits, float d, float* dst) {
  uint8_t power = 1;
  for (int k = 0; k < n_digits; ++k) {
    for (int l = 0; l < width; ++l) {
      const auto rotated = static_cast<uint8_t>(bytes[l] * power);
      const int digit = (rotated * 3) >> 8;
      dst[width * k + l] = d * static_cast<float>(digit - 1);
    }
    power = static_cast<uint8_t>(power * 3);
  }
}

}  // namespace

void decode(const BlockTQ1_0& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  put_ternary_digits(block.qs, 32, 5, d, out);             // values 0..159
  put_ternary_digits(block.qs + 32, 16, 5, d, out + 160);  // values 160..239
  put_ternary_digits(block.qh, 4, 4, d, out + 240);        // values 240..255
}

void decode(const BlockTQ2_0& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int chunk = 0; chunk < 2; ++chunk) {
    for (int shift = 0; shift < 4; ++shift) {
      float* dst = out + 128 * chunk + 32 * shift;
      for (int l = 0; l < 32; ++l) {
        dst[l] = d * static_cast<float>(((block.qs[32 * chunk + l] >> (2 * shift)) & 3) - 1);
      }
    }
  }
}

void decode(const BlockMXFP4& block, float* __restrict out) {
  const float d = kE8m0HalfToF32[block.e];
  for (int l = 0; l < 16; ++l) {
    out[l] = d * kValuesFp4[block.qs[l] & 0x0f];
    out[l + 16] = d * kValuesFp4[block.qs[l] >> 4];
  }
}

void decode(const BlockNVFP4& block, float* __restrict out) {
  for (int sub = 0; sub < 4; ++sub) {
    const float d = kUe4m3HalfToF32[block.d[sub]];
    const uint8_t* qs = block.qs + 8 * sub;
    float* dst = out + 16 * sub;
    for (int l = 0; l < 8; ++l) {
      dst[l] = d * kValuesFp4[qs[l] & 0x0f];
      dst[l + 8] = d * kValuesFp4[qs[l] >> 4];
    }
  }
}

template void decode_blocks(const BlockTQ1_0*, int64_t, float*);
template void decode_blocks(const BlockTQ2_0*, int64_t, float*);
template void decode_blocks(const BlockMXFP4*, int64_t, float*);
template void decode_blocks(const BlockNVFP4*, int64_t, float*);

}  // namespace sluice::quant
