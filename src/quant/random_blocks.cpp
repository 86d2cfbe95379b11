#include "quant/random_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "quant/float_formats.h"
#include "quant/quant_tables.h"
#include "util/error.h"

namespace sluice::quant {
namespace {

// Where a block format keeps its f16 scale fields, and what the largest quant times
// sub-scale can reach, so that scale / reach gives values of about `scale`. Formats with
// mins (x = d * sc * q - dmin * m, sc and m alike random) get dmin = d * mean(q), which
// centres the values on zero as trained weights are; otherwise every row would share a bias
// of about +scale that random models amplify layer after layer. Q4_1 and Q5_1 add their
// minimum (x = d * q + m), so theirs is the negative mean.
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
    {GgmlType::Q4_1, 0, 2, 7.5f, -7.5f},
    {GgmlType::Q5_0, 0, kNone, 16.0f},
    {GgmlType::Q5_1, 0, 2, 15.5f, -15.5f},
    {GgmlType::IQ4_NL, 0, kNone, 127.0f},
    {GgmlType::Q2_K, 80, 82, 3.0f * 15.0f, 1.5f},
    {GgmlType::Q3_K, 108, kNone, 4.0f * 32.0f},
    {GgmlType::Q4_K, 0, 2, 15.0f * 63.0f, 7.5f},
    {GgmlType::Q5_K, 0, 2, 31.0f * 63.0f, 15.5f},
    {GgmlType::Q6_K, 208, kNone, 32.0f * 127.0f},
    {GgmlType::IQ2_XXS, 0, kNone, 16.0f * 0.25f * 43.0f},
    {GgmlType::IQ4_XS, 0, kNone, 32.0f * 127.0f},
    {GgmlType::IQ2_XS, 0, kNone, 16.0f * 0.25f * 43.0f},
    {GgmlType::IQ2_S, 0, kNone, 16.0f * 0.25f * 43.0f},
    {GgmlType::IQ3_XXS, 0, kNone, 16.0f * 0.5f * 62.0f},
    {GgmlType::IQ3_S, 0, kNone, 31.0f * 15.0f},
    {GgmlType::IQ1_S, 0, kNone, 15.0f * 1.125f},
    {GgmlType::TQ1_0, 52, kNone, 1.0f},
    {GgmlType::TQ2_0, 64, kNone, 1.0f},
};

// Formats whose block scales are not one f16 field, filled by fill_special_scales.
bool has_special_scales(GgmlType type) {
  return type == GgmlType::IQ1_M || type == GgmlType::MXFP4 || type == GgmlType::NVFP4;
}

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

// Sets the block scales of IQ1_M (an f16 spread over the top nibbles of its 4 scale words),
// MXFP4 (an E8M0 power of two, byte 0) and NVFP4 (4 UE4M3 bytes, bytes 0..3) so that values
// are about `scale`.
void fill_special_scales(GgmlType type, std::span<std::byte> out, uint32_t block_bytes, float scale) {
  uint8_t scale_bytes[4] = {};
  uint32_t n_scale_bytes = 0;
  if (type == GgmlType::IQ1_M) {
    const uint16_t d = f32_to_f16(scale / (15.0f * 1.125f));
    SLUICE_ASSERT((d & 0x7fffu) != 0);
    for (size_t block = 0; block < out.size(); block += block_bytes) {
      for (int i = 0; i < 4; ++i) {
        std::byte* word = out.data() + block + 48 + 2 * i;  // BlockIQ1_M::scales[i]
        word[1] = static_cast<std::byte>((static_cast<uint8_t>(word[1]) & 0x0f) | (((d >> (4 * i)) & 0xf) << 4));
      }
    }
    return;
  }
  if (type == GgmlType::MXFP4) {  // 2^(e - 127) * 6 (the largest FP4 value) nearest to scale
    scale_bytes[0] = static_cast<uint8_t>(std::clamp(127L + std::lround(std::log2(scale / 6.0f)), 1L, 254L));
    n_scale_bytes = 1;
  } else {  // NVFP4: the UE4M3 byte whose value times 6 is nearest to scale (bytes < 0x7f are finite)
    uint8_t best = 1;
    float best_error = INFINITY;
    for (uint8_t b = 1; b < 0x7f; ++b) {
      const float e = std::fabs(kUe4m3HalfToF32[b] * 12.0f - scale);
      if (e < best_error) {
        best_error = e;
        best = b;
      }
    }
    std::memset(scale_bytes, best, sizeof(scale_bytes));
    n_scale_bytes = 4;
  }
  for (size_t block = 0; block < out.size(); block += block_bytes) {
    std::memcpy(out.data() + block, scale_bytes, n_scale_bytes);
  }
}

}  // namespace

bool can_fill_random(GgmlType type) {
  return type == GgmlType::F32 || type == GgmlType::F16 || type == GgmlType::BF16 || scale_layout(type) ||
         has_special_scales(type);
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
  const ScaleLayout* layout = scale_layout(type);
  SLUICE_ASSERT(layout != nullptr || has_special_scales(type));
  const uint32_t block_bytes = traits_of(type).type_size;
  SLUICE_ASSERT(out.size() % block_bytes == 0);
  for (size_t i = 0; i + 8 <= out.size(); i += 8) {
    const uint64_t r = rng.next();
    std::memcpy(out.data() + i, &r, 8);
  }
  for (size_t i = out.size() / 8 * 8; i < out.size(); ++i) out[i] = static_cast<std::byte>(rng.next());
  if (layout == nullptr) {
    fill_special_scales(type, out, block_bytes, scale);
    return;
  }
  const float d_value = scale / layout->reach;
  const uint16_t d = f32_to_f16(d_value);
  SLUICE_ASSERT((d & 0x7fffu) != 0);
  const uint16_t dmin = layout->dmin_offset == kNone ? 0 : f32_to_f16(d_value * layout->mean_quant);
  for (size_t block = 0; block < out.size(); block += block_bytes) {
    std::memcpy(out.data() + block + layout->d_offset, &d, 2);
    if (layout->dmin_offset != kNone) std::memcpy(out.data() + block + layout->dmin_offset, &dmin, 2);
  }
}

}  // namespace sluice::quant
