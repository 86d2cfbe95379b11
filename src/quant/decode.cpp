#include "quant/decode.h"

#include <cstring>

#include "quant/blocks.h"
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

void decode_q8_0(const std::byte* src, float* dst, int64_t n) {
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (int i = 0; i < 32; ++i) dst[b * 32 + i] = d * static_cast<float>(blocks[b].qs[i]);
  }
}

}  // namespace

void decode_row(GgmlType type, const std::byte* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case GgmlType::F16: decode_f16(src, dst, n); return;
    case GgmlType::BF16: decode_bf16(src, dst, n); return;
    case GgmlType::Q8_0: decode_q8_0(src, dst, n); return;
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
