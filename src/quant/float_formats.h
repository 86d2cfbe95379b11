// Conversions of the 16-bit float formats GGUF stores (IEEE half, bfloat16) to float32.
// Both are exact: every f16 and bf16 value is representable in f32.
#pragma once

#include <bit>
#include <cstdint>

namespace sluice::quant {

inline float bf16_to_f32(uint16_t bits) { return std::bit_cast<float>(uint32_t{bits} << 16); }

// IEEE 754 binary16 -> binary32, handling subnormals, infinities and NaN. Branch-free (all
// three cases computed, one selected) so that loops over it vectorize: it runs once per block
// of every quantized format.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = h & 0x7c00u;
  const uint32_t magnitude = uint32_t{h & 0x7fffu} << 13;  // exponent and mantissa, f32 places
  // Normal: rebias the exponent from 15 to 127.
  const uint32_t normal = magnitude + (uint32_t{127 - 15} << 23);
  // Zero and subnormal (m * 2^-24): 2^-14 * (1 + m/1024) - 2^-14, exact, with no subnormal
  // float operand.
  const float subnormal = std::bit_cast<float>(normal + (1u << 23)) - 0x1p-14f;
  // Infinity and NaN: all-ones exponent, payload kept.
  const uint32_t inf_nan = magnitude | 0x7f800000u;
  const uint32_t bits = exponent == 0           ? std::bit_cast<uint32_t>(subnormal)
                        : exponent == 0x7c00u ? inf_nan
                                              : normal;
  return std::bit_cast<float>(bits | sign);
}

// Round-to-nearest-even f32 -> bf16, used by writers and tests.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace sluice::quant
