// decode_row: dispatches a row to the decoder of its format (decode_blocks.h), plus the 16-bit
// float formats and the exact f32 dot product.
#include "quant/decode.h"

#include <cstring>

#include "quant/decode_blocks.h"
#include "quant/float_formats.h"
#include "util/error.h"

namespace sluice::quant {
namespace {

void decode_f16(const std::byte* src, float* dst, int64_t n) {
  const auto* h = reinterpret_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(h[i]);
}

void decode_bf16(const std::byte* src, float* dst, int64_t n) {
  const auto* h = reinterpret_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}

template <class Block>
void decode_row_of(const std::byte* src, float* dst, int64_t n) {
  SLUICE_ASSERT(n % Block::kValues == 0);
  decode_blocks(reinterpret_cast<const Block*>(src), n / Block::kValues, dst);
}

}  // namespace

void decode_row(GgmlType type, const std::byte* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case GgmlType::F16: decode_f16(src, dst, n); return;
    case GgmlType::BF16: decode_bf16(src, dst, n); return;
    case GgmlType::Q4_0: decode_row_of<BlockQ4_0>(src, dst, n); return;
    case GgmlType::Q4_1: decode_row_of<BlockQ4_1>(src, dst, n); return;
    case GgmlType::Q5_0: decode_row_of<BlockQ5_0>(src, dst, n); return;
    case GgmlType::Q5_1: decode_row_of<BlockQ5_1>(src, dst, n); return;
    case GgmlType::Q8_0: decode_row_of<BlockQ8_0>(src, dst, n); return;
    case GgmlType::Q2_K: decode_row_of<BlockQ2_K>(src, dst, n); return;
    case GgmlType::Q3_K: decode_row_of<BlockQ3_K>(src, dst, n); return;
    case GgmlType::Q4_K: decode_row_of<BlockQ4_K>(src, dst, n); return;
    case GgmlType::Q5_K: decode_row_of<BlockQ5_K>(src, dst, n); return;
    case GgmlType::Q6_K: decode_row_of<BlockQ6_K>(src, dst, n); return;
    case GgmlType::IQ2_XXS: decode_row_of<BlockIQ2_XXS>(src, dst, n); return;
    case GgmlType::IQ2_XS: decode_row_of<BlockIQ2_XS>(src, dst, n); return;
    case GgmlType::IQ2_S: decode_row_of<BlockIQ2_S>(src, dst, n); return;
    case GgmlType::IQ3_XXS: decode_row_of<BlockIQ3_XXS>(src, dst, n); return;
    case GgmlType::IQ3_S: decode_row_of<BlockIQ3_S>(src, dst, n); return;
    case GgmlType::IQ1_S: decode_row_of<BlockIQ1_S>(src, dst, n); return;
    case GgmlType::IQ1_M: decode_row_of<BlockIQ1_M>(src, dst, n); return;
    case GgmlType::IQ4_NL: decode_row_of<BlockIQ4_NL>(src, dst, n); return;
    case GgmlType::IQ4_XS: decode_row_of<BlockIQ4_XS>(src, dst, n); return;
    case GgmlType::TQ1_0: decode_row_of<BlockTQ1_0>(src, dst, n); return;
    case GgmlType::TQ2_0: decode_row_of<BlockTQ2_0>(src, dst, n); return;
    case GgmlType::MXFP4: decode_row_of<BlockMXFP4>(src, dst, n); return;
    case GgmlType::NVFP4: decode_row_of<BlockNVFP4>(src, dst, n); return;
    default: break;
  }
  SLUICE_ASSERT(!"decode_row called with a type quant/ cannot decode");
}

float dot_f32(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) partial[l] += a[i + l] * b[i + l];
  }
  for (int l = 0; i < n; ++i, ++l) partial[l] += a[i] * b[i];
  // Pairwise reduction of the lanes.
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) partial[l] += partial[l + width];
  }
  return partial[0];
}

}  // namespace sluice::quant
