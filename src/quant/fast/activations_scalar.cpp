// Activations quantized to 8-bit groups (kQ8x32, kQ8x256; layout in fast_dot.h), the reference
// version: written so that the compiler vectorizes it for the build's baseline target.
#include <cstring>

#include "quant/fast/kernels.h"

namespace sluice::quant::fast::detail {
namespace {

// Round to nearest, ties to even, for |v| < 2^22 (the quants are within +-127.5): adding
// 1.5 * 2^23 leaves no fraction bits. Exact and the same on every target.
inline float round_nearest(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;
}

// Quantizes n values as one group (see activation_group_scale); returns the sum of the quants.
int32_t quantize_group(const float* x, int n, float* d_out, int8_t* q) {
  uint32_t max_abs_bits = 0;
  for (int i = 0; i < n; ++i) max_abs_bits = std::max(max_abs_bits, std::bit_cast<uint32_t>(x[i]) & 0x7fffffffu);
  const ActivationGroupScale scale = activation_group_scale(max_abs_bits);
  *d_out = scale.d;
  if (scale.quants_are_zero()) {
    std::memset(q, 0, static_cast<size_t>(n));
    return 0;
  }
  int32_t sum = 0;
  for (int i = 0; i < n; ++i) {
    const auto r = static_cast<int32_t>(std::clamp(round_nearest(x[i] * scale.inv_d), -127.0f, 127.0f));
    q[i] = static_cast<int8_t>(r);
    sum += r;
  }
  return sum;
}

void quantize_q8x32(const float* x, int64_t n_cols, std::byte* out) {
  const auto [qs, sum, d] = fields_q8x32(out, n_cols);
  for (int64_t b = 0; b < n_cols / 32; ++b) sum[b] = quantize_group(x + 32 * b, 32, &d[b], qs + 32 * b);
}

void quantize_q8x256(const float* x, int64_t n_cols, std::byte* out) {
  const auto [qs, bsums, d] = fields_q8x256(out, n_cols);
  for (int64_t b = 0; b < n_cols / 256; ++b) quantize_group(x + 256 * b, 256, &d[b], qs + 256 * b);
  for (int64_t g = 0; g < n_cols / 16; ++g) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) sum += qs[16 * g + i];
    bsums[g] = static_cast<int16_t>(sum);
  }
}

}  // namespace

void add_scalar_activation_quantizers(KernelTable& table) {
  table.quantize_q8x32 = quantize_q8x32;
  table.quantize_q8x256 = quantize_q8x256;
}

}  // namespace sluice::quant::fast::detail
