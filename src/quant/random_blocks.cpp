#include "quant/random_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/float_formats.h"
#include "util/error.h"

namespace sluice::quant {
namespace {

// Where a block format keeps its f16 scale fields, and what the largest quant times
// sub-scale can reach, so that scale / reach gives values of about `scale`. Formats with
// mins (x = d * sc * q - dmin * m, sc and m alike random) get dmin = d * mean(q), which
// centres the values on zero as trained weights are; otherwise every row would share a bias
// of about +scale that random models amplify layer after layer.
struct ScaleLayout {
  GgmlType type;
  uint32_t d_offset;     // byte offset of the f16 scale
  uint32_t dmin_offset;  // byte offset of the f16 min scale; kNone when absent
  float reach;
  float mean_quant = 0.0f;  // mean of the unsigned quants q, when there are mins
};

constexpr uint32_t kNone = 0xffffffffu;
constexpr ScaleLayout kScaleLayouts[] = {
    {GgmlType::Q8_0, 0, kNone, 127.0f},
    {GgmlType::Q4_0, 0, kNone, 8.0f},
    {GgmlType::Q5_0, 0, kNone, 16.0f},
    {GgmlType::IQ4_NL, 0, kNone, 127.0f},
    {GgmlType::Q2_K, 80, 82, 3.0f * 15.0f, 1.5f},
    {GgmlType::Q3_K, 108, kNone, 4.0f * 32.0f},
    {GgmlType::Q4_K, 0, 2, 15.0f * 63.0f, 7.5f},
    {GgmlType::Q5_K, 0, 2, 31.0f * 63.0f, 15.5f},
    {GgmlType::Q6_K, 208, kNone, 32.0f * 127.0f},
    {GgmlType::IQ2_XXS, 0, kNone, 16.0f * 0.25f * 43.0f},
    {GgmlType::IQ4_XS, 0, kNone, 32.0f * 127.0f},
};

// xorshift64*: fast, and enough for filling weights.
struct Random {
  uint64_t state;
  uint64_t next() {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1ull << 24) * 2.0f - 1.0f; }
};

const ScaleLayout* scale_layout(GgmlType type) {
  for (const ScaleLayout& s : kScaleLayouts) {
    if (s.type == type) return &s;
  }
  return nullptr;
}

uint16_t f32_to_f16(float value) {
  // Truncates to 10 mantissa bits. Magnitudes below 2^-14 (block scales of wide matrices,
  // e.g. 1/sqrt(4096) / reach, or small F16 weights) become subnormals m * 2^-24, or zero.
  uint32_t bits = 0;
  std::memcpy(&bits, &value, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  SLUICE_ASSERT(exponent < 31);
  if (exponent <= 0) {
    const auto m = static_cast<uint32_t>(std::lround(std::fabs(value) * 0x1p24f));
    SLUICE_ASSERT(m <= 1024);  // 1024 encodes 2^-14, the smallest normal; 0 is zero
    return static_cast<uint16_t>(sign | m);
  }
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exponent) << 10) | ((bits >> 13) & 0x3ffu));
}

// MXFP4 keeps its scale as a power of two (an E8M0 byte), not an f16: random nibbles under
// the power of two that brings the largest FP4 value (6) closest to `scale`.
void fill_random_mxfp4(std::span<std::byte> out, Random& rng, float scale) {
  const uint32_t block_bytes = traits_of(GgmlType::MXFP4).type_size;
  SLUICE_ASSERT(out.size() % block_bytes == 0 && block_bytes == 17);
  const long exponent = std::clamp(127L + std::lround(std::log2(scale / 6.0f)), 1L, 254L);
  for (size_t block = 0; block < out.size(); block += block_bytes) {
    out[block] = static_cast<std::byte>(exponent);
    const uint64_t nibbles[2] = {rng.next(), rng.next()};  // the block's 16 bytes of quants
    std::memcpy(out.data() + block + 1, nibbles, block_bytes - 1);
  }
}

}  // namespace

bool can_fill_random(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 ||
         type == GgmlType::MXFP4 || scale_layout(type);
}

void fill_random_blocks(GgmlType type, std::span<std::byte> out, uint64_t seed, float scale) {
  Random rng{seed * 0x9E3779B97F4A7C15ull + 1};
  if (type == GgmlType::F32) {
    for (size_t i = 0; i + 4 <= out.size(); i += 4) {
      const float v = rng.uniform() * scale;
      std::memcpy(out.data() + i, &v, 4);
    }
    return;
  }
  if (type == GgmlType::F16 || type == GgmlType::BF16) {
    for (size_t i = 0; i + 2 <= out.size(); i += 2) {
      const float v = rng.uniform() * scale;
      const uint16_t h = type == GgmlType::BF16 ? f32_to_bf16(v) : (v == 0.0f ? 0 : f32_to_f16(v));
      std::memcpy(out.data() + i, &h, 2);
    }
    return;
  }
  if (type == GgmlType::MXFP4) {
    fill_random_mxfp4(out, rng, scale);
    return;
  }
  const ScaleLayout* layout = scale_layout(type);
  SLUICE_ASSERT(layout != nullptr);
  const uint32_t block_bytes = traits_of(type).type_size;
  SLUICE_ASSERT(out.size() % block_bytes == 0);
  const float d_value = scale / layout->reach;
  const uint16_t d = f32_to_f16(d_value);
  SLUICE_ASSERT((d & 0x7fffu) != 0);
  const uint16_t dmin = layout->dmin_offset == kNone ? 0 : f32_to_f16(d_value * layout->mean_quant);
  for (size_t i = 0; i + 8 <= out.size(); i += 8) {
    const uint64_t r = rng.next();
    std::memcpy(out.data() + i, &r, 8);
  }
  for (size_t i = out.size() / 8 * 8; i < out.size(); ++i) out[i] = static_cast<std::byte>(rng.next());
  for (size_t block = 0; block < out.size(); block += block_bytes) {
    std::memcpy(out.data() + block + layout->d_offset, &d, 2);
    if (layout->dmin_offset != kNone) std::memcpy(out.data() + block + layout->dmin_offset, &dmin, 2);
  }
}

}  // namespace sluice::quant
