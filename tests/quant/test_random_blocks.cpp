// Random blocks for synthetic models: MXFP4 (whose scale is a power of two, not an f16)
// decodes to finite values whose largest magnitude is within a factor of sqrt(2) of the
// requested scale, and whose signs are balanced.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "quant/decode.h"
#include "quant/random_blocks.h"

namespace sluice::quant {
namespace {

TEST(RandomBlocks, Mxfp4DecodesToValuesOfTheRequestedMagnitude) {
  ASSERT_TRUE(can_fill_random(GgmlType::MXFP4));
  const int64_t n_blocks = 256, n = n_blocks * 32;
  for (float scale : {1.0f, 0.0186f, 1e-3f}) {
    std::vector<std::byte> blocks(static_cast<size_t>(n_blocks * 17));
    fill_random_blocks(GgmlType::MXFP4, blocks, 42, scale);
    std::vector<float> values(static_cast<size_t>(n));
    decode_row(GgmlType::MXFP4, blocks.data(), values.data(), n);
    float max_abs = 0.0f;
    double sum = 0.0;
    for (float v : values) {
      ASSERT_TRUE(std::isfinite(v));
      max_abs = std::max(max_abs, std::fabs(v));
      sum += v;
    }
    EXPECT_GE(max_abs, scale / std::sqrt(2.0f)) << "scale " << scale;
    EXPECT_LE(max_abs, scale * std::sqrt(2.0f)) << "scale " << scale;
    EXPECT_LT(std::fabs(sum / n), 0.05 * scale) << "scale " << scale;
  }
}

}  // namespace
}  // namespace sluice::quant
