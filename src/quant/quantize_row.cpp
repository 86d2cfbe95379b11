// quantize_row: dispatches a row to the quantizer of its format (quantize_legacy.cpp,
// quantize_k.cpp), and writes the float formats (F32, F16, BF16) itself.
#include <bit>
#include <cmath>
#include <cstring>

#include "quant/float_formats.h"
#include "quant/quantize.h"
#include "util/error.h"

namespace sluice::quant {
namespace {

template <class Block>
void quantize_row_of(const float* src, std::byte* dst, int64_t n) {
  SLUICE_ASSERT(n % Block::kValues == 0);
  quantize_blocks(src, reinterpret_cast<Block*>(dst), n / Block::kValues);
}

void store_u16(std::byte* dst, int64_t i, uint16_t value) { std::memcpy(dst + 2 * i, &value, 2); }

}  // namespace

uint16_t f32_to_f16_nearest(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  }
  // 65520 (halfway between 65504, the largest f16, and 2^16) and above round to infinity.
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude < 0x38800000u) {
    // Below 2^-14: a subnormal m * 2^-24. Scaling by 2^24 is exact; nearbyint rounds to even.
    // m == 1024 is the encoding of 2^-14, the smallest normal, so the carry is correct.
    const float scaled = std::bit_cast<float>(magnitude) * 0x1p24f;
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to
  // nearest even; a carry out of the mantissa correctly increments the exponent.
  uint32_t half = (magnitude - (uint32_t{127 - 15} << 23)) >> 13;
  const uint32_t dropped = magnitude & 0x1fffu;
  if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

bool can_quantize(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16:
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1:
    case GgmlType::Q8_0: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
      return true;
    default:
      return false;
  }
}

void quantize_row(GgmlType type, const float* src, std::byte* dst, int64_t n) {
  switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) store_u16(dst, i, f32_to_f16_nearest(src[i]));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) store_u16(dst, i, f32_to_bf16(src[i]));
      return;
    case GgmlType::Q4_0: quantize_row_of<BlockQ4_0>(src, dst, n); return;
    case GgmlType::Q4_1: quantize_row_of<BlockQ4_1>(src, dst, n); return;
    case GgmlType::Q5_0: quantize_row_of<BlockQ5_0>(src, dst, n); return;
    case GgmlType::Q5_1: quantize_row_of<BlockQ5_1>(src, dst, n); return;
    case GgmlType::Q8_0: quantize_row_of<BlockQ8_0>(src, dst, n); return;
    case GgmlType::Q4_K: quantize_row_of<BlockQ4_K>(src, dst, n); return;
    case GgmlType::Q5_K: quantize_row_of<BlockQ5_K>(src, dst, n); return;
    case GgmlType::Q6_K: quantize_row_of<BlockQ6_K>(src, dst, n); return;
    default: break;
  }
  SLUICE_ASSERT(!"quantize_row called with a type quant/ cannot write");
}

}  // namespace sluice::quant
