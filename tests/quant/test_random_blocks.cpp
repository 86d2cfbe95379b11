// Random blocks for synthetic models: MXFP4 (whose scale is a power of two, not an f16),
// Q4_1 and Q5_1 (whose minimum is added) decode to finite values whose largest magnitude is
// within a factor of sqrt(2) of the requested scale, and whose signs are balanced.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "quant/decode.h"
#include "quant/ggml_type.h"
#include "quant/random_blocks.h"

namespace sluice::quant {
namespace {

// The largest magnitude and the mean of a format's random blocks, decoded.
void expect_values_of_magnitude(GgmlType type, float scale) {
  ASSERT_TRUE(can_fill_random(type)) << type_name(type);
  const int64_t n_blocks = 256;
  const int64_t n = n_blocks * traits_of(type).block_size;
  std::vector<std::byte> blocks(static_cast<size_t>(n_blocks * traits_of(type).type_size));
  fill_random_blocks(type, blocks, 42, scale);
  std::vector<float> values(static_cast<size_t>(n));
  decode_row(type, blocks.data(), values.data(), n);
  float max_abs = 0.0f;
  double sum = 0.0;
  for (float v : values) {
    ASSERT_TRUE(std::isfinite(v));
    max_abs = std::max(max_abs, std::fabs(v));
    sum += v;
  }
  EXPECT_GE(max_abs, scale / std::sqrt(2.0f)) << type_name(type) << " scale " << scale;
  EXPECT_LE(max_abs, scale * std::sqrt(2.0f)) << type_name(type) << " scale " << scale;
  EXPECT_LT(std::fabs(sum / n), 0.05 * scale) << type_name(type) << " scale " << scale;
}

TEST(RandomBlocks, Mxfp4DecodesToValuesOfTheRequestedMagnitude) {
  for (float scale : {1.0f, 0.0186f, 1e-3f}) expect_values_of_magnitude(GgmlType::MXFP4, scale);
}

// Q4_1 and Q5_1 add their minimum: a positive one would give every value a bias.
TEST(RandomBlocks, FormatsWithAnAddedMinimumAreCentredOnZero) {
  for (GgmlType type : {GgmlType::Q4_1, GgmlType::Q5_1}) {
    for (float scale : {1.0f, 0.0186f}) expect_values_of_magnitude(type, scale);
  }
}

}  // namespace
}  // namespace sluice::quant
