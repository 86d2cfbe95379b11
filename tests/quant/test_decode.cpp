// Block decoding against the test vectors of ../shared/fixtures/quant-vectors (decoded by the
// gguf Python package), and the 16-bit float conversions against values from IEEE 754.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "quant/decode.h"
#include "quant/float_formats.h"
#include "support/fixtures.h"

namespace sluice::quant {
namespace {

using testing::fixture_path;

class QuantVectors : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantVectors, DecodesEveryTestBlock) {
  const std::string type_name = GetParam();
  const auto index = testing::read_json(fixture_path("quant-vectors/index.json"));
  const auto& entry = index["types"][type_name];
  const auto type = static_cast<GgmlType>(entry["ggml_type"].get<uint32_t>());
  ASSERT_TRUE(is_supported_for_compute(type));
  const auto block_size = entry["block_size"].get<int64_t>();
  const auto n_blocks = entry["n_blocks"].get<int64_t>();
  ASSERT_EQ(traits_of(type).block_size, block_size);
  ASSERT_EQ(traits_of(type).type_size, entry["type_size"].get<uint32_t>());

  const auto blocks = testing::read_bytes(fixture_path("quant-vectors/" + type_name + ".blocks"));
  const auto expected = testing::read_f32(fixture_path("quant-vectors/" + type_name + ".f32"));
  ASSERT_EQ(expected.size(), static_cast<size_t>(n_blocks * block_size));
  std::vector<float> decoded(expected.size());
  decode_row(type, reinterpret_cast<const std::byte*>(blocks.data()), decoded.data(),
             n_blocks * block_size);
  for (size_t i = 0; i < decoded.size(); ++i) {
    const float tolerance = std::max(1e-30f, 1e-6f * std::fabs(expected[i]));
    ASSERT_NEAR(decoded[i], expected[i], tolerance)
        << type_name << " block " << i / block_size << " element " << i % block_size;
  }
}

// Every format of quant-vectors/index.json; QuantVectorsIndex.ListsNoOtherFormat checks that
// the list is complete.
const std::string kVectorFormats[] = {
    "Q4_0",   "Q4_1",    "Q5_0",   "Q5_1",   "Q8_0",    "Q2_K",  "Q3_K",   "Q4_K",
    "Q5_K",   "Q6_K",    "IQ1_S",  "IQ1_M",  "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS",
    "IQ3_S",  "IQ4_NL",  "IQ4_XS", "TQ1_0",  "TQ2_0",   "MXFP4", "NVFP4",
};

INSTANTIATE_TEST_SUITE_P(Formats, QuantVectors, ::testing::ValuesIn(kVectorFormats),
                         [](const auto& info) { return info.param; });

TEST(QuantVectorsIndex, ListsNoOtherFormat) {
  const auto index = testing::read_json(fixture_path("quant-vectors/index.json"));
  std::set<std::string> listed(std::begin(kVectorFormats), std::end(kVectorFormats));
  for (const auto& item : index["types"].items()) {
    EXPECT_TRUE(listed.count(item.key()))
        << item.key() << " has test vectors but no QuantVectors case";
  }
  EXPECT_EQ(listed.size(), index["types"].size());
}

TEST(FloatFormats, HalfPrecisionSpecialValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);                  // largest normal
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

// Every one of the 65536 half values against IEEE 754's definition:
// (-1)^s * 2^(e - 15) * (1 + m / 1024) for 0 < e < 31, (-1)^s * 2^-14 * (m / 1024) for e = 0.
TEST(FloatFormats, EveryHalfPrecisionValueMatchesTheDefinition) {
  for (uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const int exponent = (bits >> 10) & 0x1f;
    const int mantissa = bits & 0x3ff;
    const float got = f16_to_f32(h);
    ASSERT_EQ(std::signbit(got), (bits & 0x8000u) != 0) << std::hex << bits;
    if (exponent == 0x1f) {
      ASSERT_EQ(std::isnan(got), mantissa != 0) << std::hex << bits;
      ASSERT_EQ(std::isinf(got), mantissa == 0) << std::hex << bits;
      continue;
    }
    const double magnitude = exponent == 0 ? std::ldexp(mantissa, -24)
                                           : std::ldexp(1024 + mantissa, exponent - 25);
    ASSERT_EQ(static_cast<double>(std::fabs(got)), magnitude) << std::hex << bits;
  }
}

TEST(FloatFormats, BFloat16IsTheHighHalfOfFloat32) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc0a0), -5.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);  // halfway: rounds to even
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);  // halfway: rounds to even (up)
}

TEST(DotProduct, MatchesDoublePrecisionSumOnAwkwardLengths) {
  for (int64_t n : {0, 1, 7, 15, 16, 17, 33, 1000}) {
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    double expected = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      a[i] = std::sin(0.37f * static_cast<float>(i));
      b[i] = std::cos(0.11f * static_cast<float>(i) + 0.5f);
      expected += static_cast<double>(a[i]) * b[i];
    }
    EXPECT_NEAR(dot_f32(a.data(), b.data(), n), expected, 1e-5 * (1 + std::fabs(expected))) << n;
  }
}

}  // namespace
}  // namespace sluice::quant
