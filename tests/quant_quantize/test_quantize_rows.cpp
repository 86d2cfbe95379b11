// Row quantizers (quant/quantize.h): quantize random rows of awkward kinds, decode them with
// the exact decoders (checked against gguf-py's test vectors in tests/quant) and bound the
// error; check every block is valid; check f32 -> f16 rounding against IEEE 754.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "quant/blocks.h"
#include "quant/blocks_k.h"
#include "quant/decode.h"
#include "quant/float_formats.h"
#include "quant/quantize.h"

namespace sluice::quant {
namespace {

enum class RowKind { kGaussian, kOutliers, kPositive, kTiny, kHuge, kZero, kConstant, kSparse };

const char* kind_name(RowKind kind) {
  switch (kind) {
    case RowKind::kGaussian: return "gaussian";
    case RowKind::kOutliers: return "gaussian with 1% outliers";
    case RowKind::kPositive: return "uniform positive";
    case RowKind::kTiny: return "tiny (f16-subnormal scales)";
    case RowKind::kHuge: return "huge";
    case RowKind::kZero: return "zero";
    case RowKind::kConstant: return "constant";
    case RowKind::kSparse: return "sparse";
  }
  return "?";
}

std::vector<float> make_row(RowKind kind, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(n));
  for (float& v : row) {
    switch (kind) {
      case RowKind::kGaussian: v = normal(rng); break;
      case RowKind::kOutliers: v = uniform(rng) < 0.01f ? 10.0f * normal(rng) : normal(rng); break;
      case RowKind::kPositive: v = 0.5f + uniform(rng); break;
      case RowKind::kTiny: v = 1e-6f * normal(rng); break;
      case RowKind::kHuge: v = 5e4f * normal(rng); break;
      case RowKind::kZero: v = 0.0f; break;
      case RowKind::kConstant: v = -0.75f; break;
      case RowKind::kSparse: v = uniform(rng) < 0.1f ? normal(rng) : 0.0f; break;
    }
  }
  return row;
}

double rms(const std::vector<float>& v) {
  double sum = 0.0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return std::sqrt(sum / static_cast<double>(v.size()));
}

double rms_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  return std::sqrt(sum / static_cast<double>(a.size()));
}

bool finite_f16(uint16_t h) { return (h & 0x7c00u) != 0x7c00u; }
float f16(uint16_t h) { return f16_to_f32(h); }

// Block validity as llama.cpp's ggml_validate_row_data sees it (every f16 field finite), plus
// what the layouts require: non-negative K-quant super-block scales.
template <class Block>
std::string block_problem(const Block& block);

template <>
std::string block_problem(const BlockQ8_0& b) { return finite_f16(b.d) ? "" : "d not finite"; }
template <>
std::string block_problem(const BlockQ4_0& b) { return finite_f16(b.d) ? "" : "d not finite"; }
template <>
std::string block_problem(const BlockQ5_0& b) { return finite_f16(b.d) ? "" : "d not finite"; }
template <>
std::string block_problem(const BlockQ4_1& b) { return finite_f16(b.d) && finite_f16(b.m) ? "" : "d or m not finite"; }
template <>
std::string block_problem(const BlockQ5_1& b) { return finite_f16(b.d) && finite_f16(b.m) ? "" : "d or m not finite"; }
template <>
std::string block_problem(const BlockQ6_K& b) { return finite_f16(b.d) ? "" : "d not finite"; }
template <>
std::string block_problem(const BlockQ4_K& b) {
  if (!finite_f16(b.d) || !finite_f16(b.dmin)) return "d or dmin not finite";
  return f16(b.d) >= 0.0f && f16(b.dmin) >= 0.0f ? "" : "negative d or dmin";
}
template <>
std::string block_problem(const BlockQ5_K& b) {
  if (!finite_f16(b.d) || !finite_f16(b.dmin)) return "d or dmin not finite";
  return f16(b.d) >= 0.0f && f16(b.dmin) >= 0.0f ? "" : "negative d or dmin";
}

template <class Block>
std::string first_invalid_block(const std::vector<std::byte>& bytes) {
  const size_t n = bytes.size() / sizeof(Block);
  for (size_t i = 0; i < n; ++i) {
    Block block;
    std::memcpy(&block, bytes.data() + i * sizeof(Block), sizeof(Block));
    const std::string problem = block_problem(block);
    if (!problem.empty()) return "block " + std::to_string(i) + ": " + problem;
  }
  return "";
}

std::string first_invalid_block(GgmlType type, const std::vector<std::byte>& bytes) {
  switch (type) {
    case GgmlType::Q4_0: return first_invalid_block<BlockQ4_0>(bytes);
    case GgmlType::Q4_1: return first_invalid_block<BlockQ4_1>(bytes);
    case GgmlType::Q5_0: return first_invalid_block<BlockQ5_0>(bytes);
    case GgmlType::Q5_1: return first_invalid_block<BlockQ5_1>(bytes);
    case GgmlType::Q8_0: return first_invalid_block<BlockQ8_0>(bytes);
    case GgmlType::Q4_K: return first_invalid_block<BlockQ4_K>(bytes);
    case GgmlType::Q5_K: return first_invalid_block<BlockQ5_K>(bytes);
    case GgmlType::Q6_K: return first_invalid_block<BlockQ6_K>(bytes);
    default: return "";
  }
}

struct FormatCase {
  GgmlType type;
  // Bounds on RMS(error) / RMS(row) for gaussian rows and for rows with 1% outliers (2x:
  // an outlier at 10 sigma coarsens its whole block).
  double gaussian_bound;
  double outlier_bound;
};

std::vector<std::byte> quantize(GgmlType type, const std::vector<float>& row) {
  std::vector<std::byte> bytes(row_bytes(type, row.size()));
  quantize_row(type, row.data(), bytes.data(), static_cast<int64_t>(row.size()));
  return bytes;
}

std::vector<float> decode(GgmlType type, const std::vector<std::byte>& bytes, size_t n) {
  std::vector<float> out(n);
  decode_row(type, bytes.data(), out.data(), static_cast<int64_t>(n));
  return out;
}

class RoundTrip : public ::testing::TestWithParam<FormatCase> {};

TEST_P(RoundTrip, ErrorIsBoundedAndBlocksAreValid) {
  const FormatCase& c = GetParam();
  ASSERT_TRUE(can_quantize(c.type));
  const RowKind kinds[] = {RowKind::kGaussian, RowKind::kOutliers, RowKind::kPositive, RowKind::kTiny,
                           RowKind::kHuge,     RowKind::kZero,     RowKind::kConstant, RowKind::kSparse};
  const int64_t block = traits_of(c.type).block_size;
  for (RowKind kind : kinds) {
    for (int64_t n_blocks : {int64_t{1}, int64_t{3}, int64_t{16}}) {
      const int64_t n = n_blocks * std::max<int64_t>(block, 32);
      const std::vector<float> row = make_row(kind, n, static_cast<uint32_t>(n * 7 + static_cast<int>(kind)));
      const std::vector<std::byte> bytes = quantize(c.type, row);
      const std::string problem = first_invalid_block(c.type, bytes);
      EXPECT_TRUE(problem.empty()) << type_name(c.type) << ", " << kind_name(kind) << " row of " << n << ": " << problem;
      const std::vector<float> back = decode(c.type, bytes, row.size());
      for (size_t i = 0; i < back.size(); ++i) {
        ASSERT_TRUE(std::isfinite(back[i])) << type_name(c.type) << ", " << kind_name(kind) << ": value " << i;
      }
      const double relative = rms_difference(row, back) / std::max(rms(row), 1e-30);
      // One short row is noisier than the 64 long rows of ManyRowsStayWithinBound: 25% more
      // room; sparse, positive and huge rows have a different error-to-RMS ratio: 3x.
      const char* what = kind_name(kind);
      switch (kind) {
        case RowKind::kGaussian:
          EXPECT_LT(relative, 1.25 * c.gaussian_bound) << type_name(c.type) << ", " << what << " row of " << n;
          break;
        case RowKind::kOutliers:
          EXPECT_LT(relative, c.outlier_bound) << type_name(c.type) << ", " << what << " row of " << n;
          break;
        case RowKind::kSparse:
        case RowKind::kPositive:
        case RowKind::kHuge:
          EXPECT_LT(relative, 3 * c.gaussian_bound) << type_name(c.type) << ", " << what << " row of " << n;
          break;
        case RowKind::kZero:
          EXPECT_EQ(rms(back), 0.0) << type_name(c.type) << ": a zero row must decode to zeros";
          break;
        case RowKind::kConstant:
          EXPECT_LT(relative, 0.02) << type_name(c.type) << ", " << what;
          break;
        case RowKind::kTiny:  // scales below f16's normal range: only validity is promised
          break;
      }
    }
  }
}

TEST_P(RoundTrip, ManyRowsStayWithinBound) {
  // 64 gaussian rows of 4096, the shape of real weights: the mean error, not the luck of one row.
  const FormatCase& c = GetParam();
  double worst = 0.0;
  for (uint32_t seed = 0; seed < 64; ++seed) {
    const std::vector<float> row = make_row(RowKind::kGaussian, 4096, 1000 + seed);
    const std::vector<float> back = decode(c.type, quantize(c.type, row), row.size());
    worst = std::max(worst, rms_difference(row, back) / rms(row));
  }
  EXPECT_LT(worst, c.gaussian_bound) << type_name(c.type);
  RecordProperty("worst_relative_rms_error", std::to_string(worst));
  std::printf("%s: worst RMS error of 64 gaussian rows %.3f%% of RMS\n", std::string(type_name(c.type)).c_str(), 100 * worst);
}

// Bounds on the worst of 64 gaussian rows of 4096; measured: Q8_0 0.56%, Q6_K 1.84%, Q5_K
// 3.74%, Q4_K 7.37%, Q5_1 3.89%, Q5_0 4.42%, Q4_1 8.12%, Q4_0 8.97% (the test prints them).
// Q8_0's is what its levels allow: steps of max|x| / 127 with max|x| ~ 2.5 sigma over 32
// values give 2.5 / 127 / sqrt(12) = 0.57% of sigma.
const FormatCase kFormats[] = {
    {GgmlType::Q8_0, 0.006, 0.012}, {GgmlType::Q6_K, 0.02, 0.04},  {GgmlType::Q5_K, 0.04, 0.08},
    {GgmlType::Q4_K, 0.08, 0.16},   {GgmlType::Q5_1, 0.045, 0.09}, {GgmlType::Q5_0, 0.05, 0.10},
    {GgmlType::Q4_1, 0.09, 0.18},   {GgmlType::Q4_0, 0.10, 0.20},  {GgmlType::F16, 0.0005, 0.0005},
    {GgmlType::BF16, 0.004, 0.004},
};

INSTANTIATE_TEST_SUITE_P(Formats, RoundTrip, ::testing::ValuesIn(kFormats),
                         [](const auto& info) { return std::string(type_name(info.param.type)); });

// Q8_0 by its definition: d = max|x| / 127 and q = round(x / d), so every value is within half
// a step of d (plus what storing d as f16 moves the levels).
TEST(QuantizeQ8_0, EveryValueWithinHalfAStep) {
  const std::vector<float> row = make_row(RowKind::kOutliers, 32 * 64, 5);
  std::vector<BlockQ8_0> blocks(64);
  quantize_blocks(row.data(), blocks.data(), 64);
  for (int b = 0; b < 64; ++b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(row[32 * b + j]));
    const float d = amax / 127.0f;
    const float stored_d = f16_to_f32(blocks[b].d);
    EXPECT_LE(std::fabs(stored_d - d), d * 0x1p-11f) << "block " << b;
    for (int j = 0; j < 32; ++j) {
      const float x = row[32 * b + j];
      EXPECT_EQ(blocks[b].qs[j], static_cast<int8_t>(std::round(x / d))) << "block " << b << " value " << j;
    }
  }
}

// Values that lie exactly on a Q8_0 grid whose scale is an f16 come back exactly.
TEST(QuantizeQ8_0, GridValuesAreExact) {
  std::vector<float> row(32);
  for (int j = 0; j < 32; ++j) row[static_cast<size_t>(j)] = 0.25f * static_cast<float>((j * 37) % 255 - 127);
  row[3] = 0.25f * 127.0f;
  const std::vector<float> back = decode(GgmlType::Q8_0, quantize(GgmlType::Q8_0, row), row.size());
  for (size_t j = 0; j < row.size(); ++j) EXPECT_EQ(back[j], row[j]) << j;
}

// The search of the K-quants must do at least as well as their starting point, a plain
// min/max grid per sub-block: compare with that grid's error computed here (6-bit scales not
// included, which only favours the plain grid).
TEST(QuantizeK, SearchBeatsPlainMinMaxGrid) {
  for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K}) {
    const int max_level = type == GgmlType::Q4_K ? 15 : 31;
    double search_error = 0.0, plain_error = 0.0;
    for (uint32_t seed = 0; seed < 16; ++seed) {
      const std::vector<float> row = make_row(RowKind::kGaussian, 4096, 77 + seed);
      const std::vector<float> back = decode(type, quantize(type, row), row.size());
      for (size_t s = 0; s < row.size(); s += 32) {
        float lo = 0.0f, hi = row[s];
        for (size_t i = s; i < s + 32; ++i) {
          lo = std::min(lo, row[i]);
          hi = std::max(hi, row[i]);
        }
        const float step = (hi - lo) / static_cast<float>(max_level);
        for (size_t i = s; i < s + 32; ++i) {
          const float q = std::round((row[i] - lo) / step);
          const double plain = static_cast<double>(lo + step * q) - row[i];
          const double searched = static_cast<double>(back[i]) - row[i];
          plain_error += plain * plain;
          search_error += searched * searched;
        }
      }
    }
    EXPECT_LT(search_error, plain_error) << type_name(type);
  }
}

TEST(F32ToF16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16_nearest(f)))) << std::hex << h;
      continue;
    }
    EXPECT_EQ(f32_to_f16_nearest(f), h) << std::hex << h;
  }
}

TEST(F32ToF16, RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 (even mantissa) and 1 + 2^-10: ties go to 1.
  EXPECT_EQ(f32_to_f16_nearest(1.0f + 0x1p-11f), 0x3c00);
  EXPECT_EQ(f32_to_f16_nearest(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  EXPECT_EQ(f32_to_f16_nearest(1.0f + 3 * 0x1p-11f), 0x3c02);
  // A carry out of the mantissa raises the exponent: just below 2 rounds to 2.
  EXPECT_EQ(f32_to_f16_nearest(2.0f - 0x1p-12f), 0x4000);
  // Subnormals: 2^-24 is the smallest; half of it ties to zero, a bit more rounds up.
  EXPECT_EQ(f32_to_f16_nearest(0x1p-24f), 0x0001);
  EXPECT_EQ(f32_to_f16_nearest(0x1p-25f), 0x0000);
  EXPECT_EQ(f32_to_f16_nearest(0x1p-25f * 1.0001f), 0x0001);
  EXPECT_EQ(f32_to_f16_nearest(-3 * 0x1p-25f), 0x8002);  // 1.5 * 2^-24 ties to 2 * 2^-24
  // The largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(f32_to_f16_nearest(0x1p-14f - 0x1p-26f), 0x0400);
  // Overflow: 65504 is the largest f16; from 65520 on values round to infinity.
  EXPECT_EQ(f32_to_f16_nearest(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16_nearest(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16_nearest(65520.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16_nearest(-1e9f), 0xfc00);
  EXPECT_EQ(f32_to_f16_nearest(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f32_to_f16_nearest(-0.0f), 0x8000);
}

}  // namespace
}  // namespace sluice::quant
