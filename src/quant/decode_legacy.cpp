// Scalar reference decoders of the 32-value "legacy" formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
// Layouts in blocks.h; arithmetic as gguf-py's quants.py (Q4_0.dequantize_blocks etc.).
#include <cstring>

#include "quant/decode_blocks.h"
#include "quant/float_formats.h"

namespace sluice::quant {
namespace {

uint32_t load_u32_le(const uint8_t* bytes) {
  uint32_t value;
  std::memcpy(&value, bytes, sizeof(value));
  return value;
}

}  // namespace

void decode(const BlockQ4_0& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int l = 0; l < 16; ++l) {
    out[l] = d * static_cast<float>((block.qs[l] & 0x0f) - 8);
    out[l + 16] = d * static_cast<float>((block.qs[l] >> 4) - 8);
  }
}

void decode(const BlockQ4_1& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  const float m = f16_to_f32(block.m);
  for (int l = 0; l < 16; ++l) {
    out[l] = d * static_cast<float>(block.qs[l] & 0x0f) + m;
    out[l + 16] = d * static_cast<float>(block.qs[l] >> 4) + m;
  }
}

void decode(const BlockQ5_0& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  const uint32_t qh = load_u32_le(block.qh);
  for (int l = 0; l < 16; ++l) {
    const int high_lo = static_cast<int>((qh >> l) & 1u) << 4;
    const int high_hi = static_cast<int>((qh >> (l + 16)) & 1u) << 4;
    out[l] = d * static_cast<float>(((block.qs[l] & 0x0f) | high_lo) - 16);
    out[l + 16] = d * static_cast<float>(((block.qs[l] >> 4) | high_hi) - 16);
  }
}

void decode(const BlockQ5_1& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  const float m = f16_to_f32(block.m);
  const uint32_t qh = load_u32_le(block.qh);
  for (int l = 0; l < 16; ++l) {
    const int high_lo = static_cast<int>((qh >> l) & 1u) << 4;
    const int high_hi = static_cast<int>((qh >> (l + 16)) & 1u) << 4;
    out[l] = d * static_cast<float>((block.qs[l] & 0x0f) | high_lo) + m;
    out[l + 16] = d * static_cast<float>((block.qs[l] >> 4) | high_hi) + m;
  }
}

void decode(const BlockQ8_0& block, float* __restrict out) {
  const float d = f16_to_f32(block.d);
  for (int l = 0; l < 32; ++l) out[l] = d * static_cast<float>(block.qs[l]);
}

template void decode_blocks(const BlockQ4_0*, int64_t, float*);
template void decode_blocks(const BlockQ4_1*, int64_t, float*);
template void decode_blocks(const BlockQ5_0*, int64_t, float*);
template void decode_blocks(const BlockQ5_1*, int64_t, float*);
template void decode_blocks(const BlockQ8_0*, int64_t, float*);

}  // namespace sluice::quant
