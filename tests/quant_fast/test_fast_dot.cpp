// The fast compute path (quant/fast, ops::matmul on ComputePath::kFast):
//
// - every SIMD kernel against the scalar kernel of the same format on the same random blocks
//   and quantized activations, at awkward lengths (empty, 1 block, odd counts, 14336 values,
//   ragged float rows): bit-equal for the 256-value formats (whose
//   sums are integers per super-block, see quant/fast/kernels.h), within 1e-6 of the sum of
//   |products| for the others;
// - the scalar kernels against the exact decoders (decode_row) times the dequantized
//   activations, in double: the kernels implement each format's formula;
// - activation quantization, the dispatcher, and fast vs exact matmul on random matrices;
// - rows laid out in groups of 8 (quant/interleaved_rows.h): the layout gives the rows back,
//   the group kernels equal the scalar row kernel bit for bit, and matmul over grouped rows
//   equals matmul over the plain rows on both paths;
// - end to end: the quantized fixture models (Q4_K_M ... IQ1_S) against the exact reference and next to llama.cpp's
//   own fast path, and perplexity of the trained model next to llama.cpp's.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ops/matmul.h"
#include "quant/blocks.h"
#include "quant/blocks_iq.h"
#include "quant/blocks_k.h"
#include "quant/blocks_ternary_fp4.h"
#include "quant/decode.h"
#include "quant/fast/fast_dot.h"
#include "quant/fast/kernels.h"
#include "quant/fast/tile_gemm.h"
#include "quant/float_formats.h"
#include "quant/interleaved_rows.h"

namespace sluice::quant::fast {
namespace {


// Every format with a fast kernel: every format quant/ can compute with
// (EveryComputableFormatHasAKernel checks that none is missing).
const GgmlType kFastTypes[] = {
    GgmlType::F32,   GgmlType::F16,    GgmlType::BF16,  GgmlType::Q8_0,  GgmlType::Q4_0,
    GgmlType::Q4_1,  GgmlType::Q5_0,   GgmlType::Q5_1,  GgmlType::IQ4_NL, GgmlType::Q2_K,
    GgmlType::Q3_K,  GgmlType::Q4_K,   GgmlType::Q5_K,  GgmlType::Q6_K,  GgmlType::IQ2_XXS,
    GgmlType::IQ4_XS, GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::IQ3_XXS, GgmlType::IQ3_S,
    GgmlType::IQ1_S, GgmlType::IQ1_M,  GgmlType::TQ1_0, GgmlType::TQ2_0, GgmlType::MXFP4,
    GgmlType::NVFP4,
};

bool integer_exact(GgmlType type) {
  return activation_format(type) == ActivationFormat::kQ8x256;
}

// A random f16 of magnitude 2^-8 .. 2^4 with a random sign.
uint16_t random_f16(std::mt19937& rng) {
  const uint32_t exponent = 7 + rng() % 13;
  return static_cast<uint16_t>(((rng() & 1u) << 15) | (exponent << 10) | (rng() & 0x3ffu));
}

// Writes a random f16 into the 2-byte field at `offset` of each block.
void set_f16_fields(std::vector<std::byte>& bytes, size_t block_bytes, size_t offset,
                    std::mt19937& rng) {
  for (size_t b = 0; b + block_bytes <= bytes.size(); b += block_bytes) {
    const uint16_t h = random_f16(rng);
    std::memcpy(bytes.data() + b + offset, &h, sizeof(h));
  }
}

// IQ1_M keeps its f16 scale in the top nibbles of its four scale words.
void set_iq1_m_scales(std::vector<std::byte>& bytes, std::mt19937& rng) {
  for (size_t b = 0; b + sizeof(BlockIQ1_M) <= bytes.size(); b += sizeof(BlockIQ1_M)) {
    const uint16_t h = random_f16(rng);
    for (int i = 0; i < 4; ++i) {
      uint16_t word;
      std::byte* at = bytes.data() + b + offsetof(BlockIQ1_M, scales) + 2 * i;
      std::memcpy(&word, at, 2);
      word = static_cast<uint16_t>((word & 0x0fff) | (((h >> (4 * i)) & 0xf) << 12));
      std::memcpy(at, &word, 2);
    }
  }
}

// `n_rows` rows of n_cols values of `type`: random bytes (every bit pattern of the quants and
// sub-block scales is valid) with finite f16 block scales (MXFP4: scales 2^-10 .. 2^10);
// float formats get values in +-1.
std::vector<std::byte> random_rows(GgmlType type, int64_t n_cols, int64_t n_rows, uint32_t seed) {
  std::mt19937 rng(seed);
  const size_t n_bytes = row_bytes(type, static_cast<uint64_t>(n_cols)) * static_cast<size_t>(n_rows);
  std::vector<std::byte> bytes(n_bytes);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const auto n_values = static_cast<size_t>(n_cols * n_rows);
  switch (type) {
    case GgmlType::F32: {
      for (size_t i = 0; i < n_values; ++i) {
        const float v = uniform(rng);
        std::memcpy(bytes.data() + 4 * i, &v, 4);
      }
      return bytes;
    }
    case GgmlType::F16:
    case GgmlType::BF16: {
      for (size_t i = 0; i < n_values; ++i) {
        const float v = uniform(rng);
        const auto bits = std::bit_cast<uint32_t>(v);
        // bf16: the top half; f16: a random finite half.
        const uint16_t h = type == GgmlType::BF16 ? static_cast<uint16_t>(bits >> 16) : random_f16(rng);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
      return bytes;
    }
    default: break;
  }
  for (std::byte& b : bytes) b = static_cast<std::byte>(rng() & 0xff);
  const size_t block = traits_of(type).type_size;
  switch (type) {
    case GgmlType::Q8_0: set_f16_fields(bytes, block, offsetof(BlockQ8_0, d), rng); break;
    case GgmlType::Q4_0: set_f16_fields(bytes, block, offsetof(BlockQ4_0, d), rng); break;
    case GgmlType::Q4_1:
      set_f16_fields(bytes, block, offsetof(BlockQ4_1, d), rng);
      set_f16_fields(bytes, block, offsetof(BlockQ4_1, m), rng);
      break;
    case GgmlType::Q5_0: set_f16_fields(bytes, block, offsetof(BlockQ5_0, d), rng); break;
    case GgmlType::Q5_1:
      set_f16_fields(bytes, block, offsetof(BlockQ5_1, d), rng);
      set_f16_fields(bytes, block, offsetof(BlockQ5_1, m), rng);
      break;
    case GgmlType::IQ4_NL: set_f16_fields(bytes, block, offsetof(BlockIQ4_NL, d), rng); break;
    case GgmlType::Q2_K:
      set_f16_fields(bytes, block, offsetof(BlockQ2_K, d), rng);
      set_f16_fields(bytes, block, offsetof(BlockQ2_K, dmin), rng);
      break;
    case GgmlType::Q3_K: set_f16_fields(bytes, block, offsetof(BlockQ3_K, d), rng); break;
    case GgmlType::Q4_K:
      set_f16_fields(bytes, block, offsetof(BlockQ4_K, d), rng);
      set_f16_fields(bytes, block, offsetof(BlockQ4_K, dmin), rng);
      break;
    case GgmlType::Q5_K:
      set_f16_fields(bytes, block, offsetof(BlockQ5_K, d), rng);
      set_f16_fields(bytes, block, offsetof(BlockQ5_K, dmin), rng);
      break;
    case GgmlType::Q6_K: set_f16_fields(bytes, block, offsetof(BlockQ6_K, d), rng); break;
    case GgmlType::IQ2_XXS: set_f16_fields(bytes, block, offsetof(BlockIQ2_XXS, d), rng); break;
    case GgmlType::IQ4_XS: set_f16_fields(bytes, block, offsetof(BlockIQ4_XS, d), rng); break;
    case GgmlType::IQ2_XS: set_f16_fields(bytes, block, offsetof(BlockIQ2_XS, d), rng); break;
    case GgmlType::IQ2_S: set_f16_fields(bytes, block, offsetof(BlockIQ2_S, d), rng); break;
    case GgmlType::IQ3_XXS: set_f16_fields(bytes, block, offsetof(BlockIQ3_XXS, d), rng); break;
    case GgmlType::IQ3_S: set_f16_fields(bytes, block, offsetof(BlockIQ3_S, d), rng); break;
    case GgmlType::IQ1_S: set_f16_fields(bytes, block, offsetof(BlockIQ1_S, d), rng); break;
    case GgmlType::IQ1_M: set_iq1_m_scales(bytes, rng); break;
    case GgmlType::TQ1_0: set_f16_fields(bytes, block, offsetof(BlockTQ1_0, d), rng); break;
    case GgmlType::TQ2_0: set_f16_fields(bytes, block, offsetof(BlockTQ2_0, d), rng); break;
    case GgmlType::MXFP4:
      for (size_t b = 0; b < bytes.size(); b += block) bytes[b] = static_cast<std::byte>(117 + rng() % 21);
      break;
    case GgmlType::NVFP4: break;  // every UE4M3 scale byte is finite
    default: ADD_FAILURE() << "no random blocks for " << type_name(type);
  }
  return bytes;
}

// Activations of several shapes: uniform, with outliers, and with all-zero stretches (zero
// block scales).
std::vector<float> random_activations(int64_t n_cols, int64_t n_tokens, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_cols * n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    float* row = x.data() + t * n_cols;
    for (int64_t c = 0; c < n_cols; ++c) row[c] = normal(rng) * (t % 3 == 1 ? 30.0f : 1.0f);
    if (t % 3 == 1 && n_cols > 0) row[rng() % n_cols] = 2000.0f;  // an outlier
    if (t % 3 == 2) std::fill(row, row + std::min<int64_t>(n_cols, 40), 0.0f);
  }
  return x;
}

// The activations as the kernels see them, back in f32.
std::vector<double> dequantized(GgmlType type, const std::byte* act, int64_t n_cols) {
  std::vector<double> out(static_cast<size_t>(n_cols));
  switch (activation_format(type)) {
    case ActivationFormat::kF32:
      for (int64_t c = 0; c < n_cols; ++c) out[c] = reinterpret_cast<const float*>(act)[c];
      break;
    case ActivationFormat::kBf16:
      for (int64_t c = 0; c < n_cols; ++c) out[c] = bf16_to_f32(reinterpret_cast<const uint16_t*>(act)[c]);
      break;
    case ActivationFormat::kQ8x32: {
      const detail::Q8x32View view = detail::view_q8x32(act, n_cols);
      for (int64_t c = 0; c < n_cols; ++c) out[c] = static_cast<double>(view.d[c / 32]) * view.qs[c];
      break;
    }
    case ActivationFormat::kQ8x256: {
      const detail::Q8x256View view = detail::view_q8x256(act, n_cols);
      for (int64_t c = 0; c < n_cols; ++c) out[c] = static_cast<double>(view.d[c / 256]) * view.qs[c];
      break;
    }
    case ActivationFormat::kNone: break;
  }
  return out;
}

std::vector<Isa> simd_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (cpu_supports(isa)) isas.push_back(isa);
  }
  return isas;
}

struct KernelCase {
  GgmlType type;
  int64_t n_blocks;
};

std::string case_name(const ::testing::TestParamInfo<KernelCase>& info) {
  return std::string(type_name(info.param.type)) + "_" + std::to_string(info.param.n_blocks) + "_blocks";
}

std::vector<KernelCase> kernel_cases() {
  std::vector<KernelCase> cases;
  for (GgmlType type : kFastTypes) {
    for (int64_t n_blocks : {0, 1, 2, 3, 7, 57}) cases.push_back({type, n_blocks});
    // Large rows: 14336 values, and for 32-value blocks an odd count past 512 blocks.
    const int64_t block_size = traits_of(type).block_size;
    cases.push_back({type, 14336 / block_size});
    if (block_size == 1) cases.push_back({type, 1001});  // float formats: ragged lengths
    if (block_size == 32) cases.push_back({type, 513});
  }
  return cases;
}

class FastKernel : public ::testing::TestWithParam<KernelCase> {
 protected:
  void SetUp() override {
    const KernelCase c = GetParam();
    type_ = c.type;
    n_cols_ = c.n_blocks * traits_of(type_).block_size;
    weights_ = random_rows(type_, n_cols_, kRows, 1000u + static_cast<uint32_t>(c.n_blocks));
    x_ = random_activations(n_cols_, kTokens, 7u + static_cast<uint32_t>(c.n_blocks));
    act_bytes_ = activation_row_bytes(type_, n_cols_);
    act_.resize(act_bytes_ * kTokens);
    for (int64_t t = 0; t < kTokens; ++t) {
      quantize_activations(type_, x_.data() + t * n_cols_, n_cols_, act_.data() + t * act_bytes_);
    }
  }

  // out[t * kRows + r] for every row and token through `dot`, the rows `gap` bytes apart.
  std::vector<float> run(RowDotFn dot, size_t gap = 0) const {
    std::vector<float> out(kRows * kTokens);
    const size_t w_bytes = row_bytes(type_, static_cast<uint64_t>(n_cols_));
    std::vector<std::byte> spaced(kRows * (w_bytes + gap), std::byte{0xa5});
    for (int64_t r = 0; r < kRows; ++r) {
      std::copy_n(weights_.begin() + static_cast<std::ptrdiff_t>(r * w_bytes), w_bytes,
                  spaced.begin() + static_cast<std::ptrdiff_t>(r * (w_bytes + gap)));
    }
    dot(spaced.data(), w_bytes + gap, kRows, act_.data(), act_bytes_, kTokens, n_cols_, out.data(), kRows);
    return out;
  }

  // gap: as run's, for the SIMD kernels (the scalar one runs on rows laid end to end).
  void expect_simd_matches_scalar(size_t gap = 0) const;

  // 8 + 3 rows: a whole tile of rows and a remainder for the kernels that take rows in
  // tiles (the float formats: 8 rows of one token, 2 of a prompt).
  static constexpr int64_t kRows = 11;
  static constexpr int64_t kTokens = 11;  // whole token groups (4 and 8 tokens) and 3 more
  GgmlType type_{};
  int64_t n_cols_ = 0;
  std::vector<std::byte> weights_;
  std::vector<float> x_;
  size_t act_bytes_ = 0;
  std::vector<std::byte> act_;
};

TEST_P(FastKernel, ScalarMatchesExactDecodeTimesDequantizedActivations) {
  const RowDotFn scalar = row_dot_of(Isa::kScalar, type_);
  ASSERT_NE(scalar, nullptr) << type_name(type_);
  const std::vector<float> got = run(scalar);
  const size_t w_bytes = row_bytes(type_, static_cast<uint64_t>(n_cols_));
  std::vector<float> decoded(static_cast<size_t>(n_cols_));
  for (int64_t r = 0; r < kRows; ++r) {
    if (n_cols_ > 0) decode_row(type_, weights_.data() + r * w_bytes, decoded.data(), n_cols_);
    for (int64_t t = 0; t < kTokens; ++t) {
      const std::vector<double> a = dequantized(type_, act_.data() + t * act_bytes_, n_cols_);
      double expected = 0.0, magnitude = 0.0;
      for (int64_t c = 0; c < n_cols_; ++c) {
        expected += decoded[c] * a[c];
        magnitude += std::fabs(decoded[c] * a[c]);
      }
      EXPECT_LE(std::fabs(got[t * kRows + r] - expected), 1e-5 * magnitude + 1e-30)
          << type_name(type_) << " row " << r << " token " << t << ": got " << got[t * kRows + r]
          << ", expected " << expected << " (sum of |products| " << magnitude << ")";
    }
  }
}

// Every SIMD kernel of this CPU for the format (AVX-512's without the VBMI and BF16 ones too,
// which CPUs without those extensions run) against the scalar one on the fixture's weights and
// activations.
void FastKernel::expect_simd_matches_scalar(size_t gap) const {
  const std::vector<float> reference = run(row_dot_of(Isa::kScalar, type_));
  // Sum of |products| per (row, token), the scale of the rounding differences.
  std::vector<double> magnitude(reference.size());
  const size_t w_bytes = row_bytes(type_, static_cast<uint64_t>(n_cols_));
  std::vector<float> decoded(static_cast<size_t>(n_cols_));
  for (int64_t r = 0; r < kRows; ++r) {
    if (n_cols_ > 0) decode_row(type_, weights_.data() + r * w_bytes, decoded.data(), n_cols_);
    for (int64_t t = 0; t < kTokens; ++t) {
      const std::vector<double> a = dequantized(type_, act_.data() + t * act_bytes_, n_cols_);
      for (int64_t c = 0; c < n_cols_; ++c) magnitude[t * kRows + r] += std::fabs(decoded[c] * a[c]);
    }
  }
  std::vector<std::pair<std::string, RowDotFn>> kernels;
  for (Isa isa : simd_isas()) kernels.emplace_back(isa_name(isa), row_dot_of(isa, type_));
  if (cpu_supports(Isa::kAvx512) && row_dot_of_avx512_base(type_) != row_dot_of(Isa::kAvx512, type_)) {
    kernels.emplace_back("avx512 without its extensions", row_dot_of_avx512_base(type_));
  }
  int n_checked = 0;
  for (const auto& [name, dot] : kernels) {
    if (dot == nullptr) continue;  // this set falls back to a lower one for this format
    ++n_checked;
    const std::vector<float> got = run(dot, gap);
    for (size_t i = 0; i < got.size(); ++i) {
      if (integer_exact(type_)) {
        EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(reference[i]))
            << name << " " << type_name(type_) << " at " << i << ": " << got[i] << " vs scalar " << reference[i];
      } else {
        EXPECT_LE(std::fabs(got[i] - reference[i]), 1e-6 * magnitude[i] + 1e-30)
            << name << " " << type_name(type_) << " at " << i << ": " << got[i] << " vs scalar " << reference[i];
      }
    }
  }
  if (n_checked == 0) GTEST_SKIP() << "no SIMD kernel for " << type_name(type_) << " on this CPU";
}

TEST_P(FastKernel, SimdMatchesScalar) { expect_simd_matches_scalar(); }

// A batch of tokens gives each token the bits it gets alone: prompt kernels (token groups,
// passes over several tokens) keep the one-token arithmetic, whatever the format.
TEST_P(FastKernel, SimdBatchEqualsTokensOneByOne) {
  for (Isa isa : simd_isas()) {
    const RowDotFn dot = row_dot_of(isa, type_);
    if (dot == nullptr) continue;
    const std::vector<float> batch = run(dot);
    const size_t w_bytes = row_bytes(type_, static_cast<uint64_t>(n_cols_));
    for (int64_t t = 0; t < kTokens; ++t) {
      std::vector<float> alone(kRows);
      dot(weights_.data(), w_bytes, kRows, act_.data() + t * act_bytes_, act_bytes_, 1, n_cols_, alone.data(), kRows);
      for (int64_t r = 0; r < kRows; ++r) {
        EXPECT_EQ(std::bit_cast<uint32_t>(batch[t * kRows + r]), std::bit_cast<uint32_t>(alone[r]))
            << isa_name(isa) << " " << type_name(type_) << " row " << r << " token " << t << ": "
            << batch[t * kRows + r] << " in the batch, " << alone[r] << " alone";
      }
    }
  }
}

// Rows not laid end to end (a slice of a wider matrix): the kernels that run a call's rows as
// one sequence of blocks must go row by row here.
TEST_P(FastKernel, SimdMatchesScalarOnRowsApart) { expect_simd_matches_scalar(traits_of(type_).type_size); }

// Activations at full scale (every quant +-127), where the kernels' integer sums are largest:
// a kernel keeping partial sums in 16 bits would overflow here first.
TEST_P(FastKernel, SimdMatchesScalarAtFullScaleActivations) {
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t c = 0; c < n_cols_; ++c) {
      const bool negative = t == 1 || (t >= 2 && (c * 7 + t) % (t + 1) == 0);  // all +, all -, mixed
      x_[static_cast<size_t>(t * n_cols_ + c)] = negative ? -1.0f : 1.0f;
    }
    quantize_activations(type_, x_.data() + t * n_cols_, n_cols_, act_.data() + t * act_bytes_);
  }
  expect_simd_matches_scalar();
}

INSTANTIATE_TEST_SUITE_P(Formats, FastKernel, ::testing::ValuesIn(kernel_cases()), case_name);

TEST(QuantizeActivations, RoundTripsWithinHalfAStepAndSums) {
  const int64_t n = 512;
  const std::vector<float> x = random_activations(n, 3, 5);
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_K}) {
    std::vector<std::byte> act(activation_row_bytes(type, n));
    for (int64_t t = 0; t < 3; ++t) {
      const float* row = x.data() + t * n;
      quantize_activations(type, row, n, act.data());
      const std::vector<double> back = dequantized(type, act.data(), n);
      const int64_t group = type == GgmlType::Q8_0 ? 32 : 256;
      for (int64_t g = 0; g < n / group; ++g) {
        double amax = 0.0;
        for (int64_t i = 0; i < group; ++i) amax = std::max(amax, std::fabs(double{row[g * group + i]}));
        for (int64_t i = 0; i < group; ++i) {
          EXPECT_LE(std::fabs(back[g * group + i] - row[g * group + i]), amax / 127.0 * 0.5001)
              << type_name(type) << " token " << t << " value " << g * group + i;
        }
      }
      if (type == GgmlType::Q8_0) {
        const detail::Q8x32View view = detail::view_q8x32(act.data(), n);
        for (int64_t b = 0; b < n / 32; ++b) {
          int sum = 0;
          for (int i = 0; i < 32; ++i) sum += view.qs[32 * b + i];
          EXPECT_EQ(view.sum[b], sum);
        }
      } else {
        const detail::Q8x256View view = detail::view_q8x256(act.data(), n);
        for (int64_t g = 0; g < n / 16; ++g) {
          int sum = 0;
          for (int i = 0; i < 16; ++i) sum += view.qs[16 * g + i];
          EXPECT_EQ(view.bsums[g], sum);
        }
      }
    }
  }
}

TEST(QuantizeActivations, NonFiniteInputGivesNaN) {
  std::vector<float> x(256, 1.0f);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::byte> act(activation_row_bytes(GgmlType::Q4_K, 256));
  quantize_activations(GgmlType::Q4_K, x.data(), 256, act.data());
  EXPECT_TRUE(std::isnan(detail::view_q8x256(act.data(), 256).d[0]));
}

// Every set's activation quantizer writes the scalar one's bytes: random rows (with outliers
// and runs of zeros; Q8_0 with an odd number of groups), values landing on ties (x = k + 0.5 with max |x| = 127, so x /
// d is exactly k + 0.5 and must round to even), values too small for 1/d, and non-finite values.
TEST(QuantizeActivations, SimdMatchesScalar) {
  const int64_t n = 33 * 32;
  std::vector<std::vector<float>> rows;
  const std::vector<float> random = random_activations(n, 3, 11);
  for (int64_t t = 0; t < 3; ++t) rows.emplace_back(random.begin() + t * n, random.begin() + (t + 1) * n);
  std::vector<float> ties(n);
  for (int64_t i = 0; i < n; ++i) ties[i] = i % 32 == 0 ? 127.0f : static_cast<float>(i % 254 - 127) + 0.5f;
  rows.push_back(ties);
  std::vector<float> edge(n, 0.0f);  // group by group: all zero, tiny, NaN, infinite, ordinary
  for (int64_t i = 0; i < n; ++i) {
    switch (i / 32 % 5) {
      case 0:
        break;
      case 1:
        edge[i] = std::ldexp(static_cast<float>(i % 7) - 3.0f, -130);
        break;
      case 2:
        edge[i] = i % 32 == 5 ? std::numeric_limits<float>::quiet_NaN() : 1.0f;
        break;
      case 3:
        edge[i] = i % 32 == 9 ? -std::numeric_limits<float>::infinity() : 1.0f;
        break;
      default:
        edge[i] = static_cast<float>(i % 13) - 6.0f;
        break;
    }
  }
  rows.push_back(edge);
  const Isa before = active_isa();
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_K}) {
    const int64_t n_cols = type == GgmlType::Q8_0 ? n : 1024;
    const size_t bytes = activation_row_bytes(type, n_cols);
    for (size_t r = 0; r < rows.size(); ++r) {
      set_isa(Isa::kScalar);
      std::vector<std::byte> expected(bytes);
      quantize_activations(type, rows[r].data(), n_cols, expected.data());
      for (Isa isa : simd_isas()) {
        set_isa(isa);
        std::vector<std::byte> got(bytes);
        quantize_activations(type, rows[r].data(), n_cols, got.data());
        EXPECT_EQ(std::memcmp(got.data(), expected.data(), bytes), 0)
            << isa_name(isa) << " " << type_name(type) << " row " << r;
      }
    }
  }
  set_isa(before);
}

TEST(Dispatch, ParsesNamesAndSwitchesSets) {
  EXPECT_EQ(parse_isa("scalar"), Isa::kScalar);
  EXPECT_EQ(parse_isa("avx2"), Isa::kAvx2);
  EXPECT_EQ(parse_isa("avx512"), Isa::kAvx512);
  EXPECT_FALSE(parse_isa("sse9").has_value());
  EXPECT_TRUE(cpu_supports(Isa::kScalar));
  const Isa before = active_isa();
  std::printf("[ isa ] active %s; avx2 %s, avx512 %s\n", std::string(isa_name(before)).c_str(),
              cpu_supports(Isa::kAvx2) ? "yes" : "no", cpu_supports(Isa::kAvx512) ? "yes" : "no");
  set_isa(Isa::kScalar);
  EXPECT_EQ(active_isa(), Isa::kScalar);
  EXPECT_EQ(row_dot(GgmlType::Q4_K), row_dot_of(Isa::kScalar, GgmlType::Q4_K));
  for (Isa isa : simd_isas()) {
    set_isa(isa);
    EXPECT_EQ(active_isa(), isa);
    for (GgmlType type : kFastTypes) {
      EXPECT_NE(row_dot(type), nullptr) << isa_name(isa) << " " << type_name(type);
      if (row_dot_of(isa, type) != nullptr) {
        EXPECT_EQ(row_dot(type), row_dot_of(isa, type));
      }
    }
  }
  EXPECT_EQ(row_dot(GgmlType::Q8_1), nullptr);  // not a weight format: no kernel
  EXPECT_EQ(activation_format(GgmlType::Q8_1), ActivationFormat::kNone);
  set_isa(before);
}

// Every format the exact path can compute with has a fast kernel on every instruction set, and
// the lists above test them all.
TEST(Dispatch, EveryComputableFormatHasAKernel) {
  for (uint32_t id = 0; id < detail::kTypeSlots; ++id) {
    if (!type_traits(id) || !is_supported_for_compute(static_cast<GgmlType>(id))) continue;
    const auto type = static_cast<GgmlType>(id);
    EXPECT_NE(activation_format(type), ActivationFormat::kNone) << type_name(type);
    EXPECT_NE(std::find(std::begin(kFastTypes), std::end(kFastTypes), type), std::end(kFastTypes))
        << type_name(type) << " is missing from kFastTypes";
    EXPECT_NE(row_dot_of(Isa::kScalar, type), nullptr) << type_name(type);
    // AVX-512 may leave a format to the AVX2 kernel; AVX2 covers every one.
    if (cpu_supports(Isa::kAvx2)) {
      EXPECT_NE(row_dot_of(Isa::kAvx2, type), nullptr) << "avx2 " << type_name(type);
    }
  }
}

// ---- matmul on both paths --------------------------------------------------------------------

class FastMatmul : public ::testing::TestWithParam<GgmlType> {};

TEST_P(FastMatmul, CloseToExactAndIndependentOfBatchAndThreads) {
  const GgmlType type = GetParam();
  const int64_t n_cols = 1024, n_rows = 67, n_tokens = 9;
  const std::vector<std::byte> bytes = random_rows(type, n_cols, n_rows, 99);
  const MatrixView w = make_matrix_view(type, bytes.data(), n_cols, n_rows);
  std::vector<float> x = random_activations(n_cols, n_tokens, 3);
  for (float& v : x) v = std::clamp(v, -100.0f, 100.0f);  // keep the outlier rows moderate
  ops::ThreadPool pool(2), pool3(3);
  std::vector<float> exact(static_cast<size_t>(n_rows * n_tokens)), fast(exact.size()), fast3(exact.size());
  ops::matmul(pool, w, x.data(), n_tokens, exact.data(), ops::ComputePath::kExact);
  ops::matmul(pool, w, x.data(), n_tokens, fast.data(), ops::ComputePath::kFast);
  ops::matmul(pool3, w, x.data(), n_tokens, fast3.data(), ops::ComputePath::kFast);
  double err = 0.0, norm = 0.0;
  for (size_t i = 0; i < exact.size(); ++i) {
    err += (double{fast[i]} - exact[i]) * (double{fast[i]} - exact[i]);
    norm += double{exact[i]} * exact[i];
  }
  const double relative = std::sqrt(err / norm);
  std::printf("[ fast vs exact ] %-8s relative error %.2e\n", std::string(type_name(type)).c_str(), relative);
  // F32 and F16 weights keep f32 activations; bf16 activations (BF16 weights) cost ~1e-3 and
  // 8-bit ones ~1e-2 at most on random data.
  const ActivationFormat format = activation_format(type);
  EXPECT_LT(relative, format == ActivationFormat::kF32 ? 1e-6 : format == ActivationFormat::kBf16 ? 5e-3 : 2e-2)
      << type_name(type);
  EXPECT_EQ(fast, fast3) << "thread count changed the result";
  for (int64_t t = 0; t < n_tokens; ++t) {  // one token at a time gives the batch's values
    std::vector<float> single(static_cast<size_t>(n_rows));
    ops::matmul(pool, w, x.data() + t * n_cols, 1, single.data(), ops::ComputePath::kFast);
    EXPECT_TRUE(std::equal(single.begin(), single.end(), fast.begin() + t * n_rows))
        << type_name(type) << " token " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, FastMatmul, ::testing::ValuesIn(kFastTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

// ---- tile kernels (AMX, AVX-512 VNNI) --------------------------------------------------------

// A copy of `bytes` that ends where an inaccessible page begins, so that a kernel reading past
// the end of a weight matrix faults instead of reading a neighbour's bytes.
class GuardedCopy {
 public:
  explicit GuardedCopy(const std::vector<std::byte>& bytes) {
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t span = (bytes.size() + page - 1) / page * page;
    size_ = span + page;
    void* base = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<std::byte*>(base);
    if (mprotect(base_ + span, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    data_ = base_ + span - bytes.size();
    std::memcpy(data_, bytes.data(), bytes.size());
  }
  ~GuardedCopy() { munmap(base_, size_); }
  GuardedCopy(const GuardedCopy&) = delete;
  GuardedCopy& operator=(const GuardedCopy&) = delete;
  const std::byte* data() const { return data_; }

 private:
  std::byte* base_ = nullptr;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

struct TileCase {
  TileUnit unit;
  GgmlType type;
};

class TileKernels : public ::testing::TestWithParam<TileCase> {};

TEST_P(TileKernels, BitEqualToTheScalarRowKernel) {
  const auto [unit, type] = GetParam();
  const TileKernel* tiles = tile_kernel_of(unit, type);
  if (tiles == nullptr) GTEST_SKIP() << "this CPU cannot run these tile kernels";
  const RowDotFn scalar = row_dot_of(Isa::kScalar, type);
  const int64_t n_rows = 2 * kTileRows;
  for (int64_t n_cols : {256, 768, 2048}) {  // 1, 3 and 8 super-blocks
    const std::vector<std::byte> weights = random_rows(type, n_cols, n_rows, 5u + static_cast<uint32_t>(n_cols));
    const GuardedCopy guarded(weights);
    const size_t w_bytes = row_bytes(type, static_cast<uint64_t>(n_cols));
    for (int64_t n_tokens : {1, 2, 7, 8, 9, 15, 16, 17, 40}) {
      const std::vector<float> x = random_activations(n_cols, n_tokens, 11u + static_cast<uint32_t>(n_tokens));
      const size_t act_bytes = activation_row_bytes(type, n_cols);
      std::vector<std::byte> act(act_bytes * static_cast<size_t>(n_tokens));
      for (int64_t t = 0; t < n_tokens; ++t) {
        quantize_activations(type, x.data() + t * n_cols, n_cols, act.data() + t * act_bytes);
      }
      std::vector<std::byte> packed;
      if (tiles->pack != nullptr) {
        packed.resize(tiles->packed_bytes(n_cols, n_tokens));
        tiles->pack(act.data(), act_bytes, n_tokens, n_cols, packed.data());
      }
      const TileActivations acts{act.data(), act_bytes, packed.data(), n_tokens};
      // Results into columns [1, 1 + n_rows) of rows of out_stride, as for a slice of a
      // matrix's rows; the weights end at an inaccessible page.
      const size_t out_stride = static_cast<size_t>(n_rows) + 3;
      std::vector<float> got(out_stride * static_cast<size_t>(n_tokens)), want(static_cast<size_t>(n_rows * n_tokens));
      tiles->rows(guarded.data(), w_bytes, n_rows, acts, n_cols, got.data() + 1, out_stride);
      scalar(weights.data(), w_bytes, n_rows, act.data(), act_bytes, n_tokens, n_cols, want.data(),
             static_cast<size_t>(n_rows));
      for (int64_t t = 0; t < n_tokens; ++t) {
        for (int64_t r = 0; r < n_rows; ++r) {
          const float g = got[static_cast<size_t>(t) * out_stride + 1 + static_cast<size_t>(r)];
          const float e = want[static_cast<size_t>(t * n_rows + r)];
          ASSERT_EQ(std::bit_cast<uint32_t>(g), std::bit_cast<uint32_t>(e))
              << type_name(type) << " " << n_cols << " columns, " << n_tokens << " tokens, row " << r << " token "
              << t << ": " << g << " vs scalar " << e;
        }
      }
    }
  }
}

// Every format with a tile kernel, on each unit (a unit this CPU lacks skips).
INSTANTIATE_TEST_SUITE_P(
    Formats, TileKernels,
    ::testing::Values(TileCase{TileUnit::kAmx, GgmlType::Q4_K},  //
                      TileCase{TileUnit::kAmx, GgmlType::Q5_K},
                      TileCase{TileUnit::kAmx, GgmlType::Q6_K},
                      TileCase{TileUnit::kAvx512, GgmlType::Q2_K},
                      TileCase{TileUnit::kAvx512, GgmlType::Q3_K},
                      TileCase{TileUnit::kAvx512, GgmlType::Q4_K},
                      TileCase{TileUnit::kAvx512, GgmlType::Q5_K},
                      TileCase{TileUnit::kAvx512, GgmlType::Q6_K},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ1_S},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ1_M},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ2_XXS},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ2_XS},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ2_S},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ3_XXS},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ3_S},
                      TileCase{TileUnit::kAvx512, GgmlType::TQ1_0},
                      TileCase{TileUnit::kAvx512, GgmlType::TQ2_0},
                      TileCase{TileUnit::kAvx512, GgmlType::IQ4_XS},
                      TileCase{TileUnit::kAvx2, GgmlType::Q2_K},
                      TileCase{TileUnit::kAvx2, GgmlType::Q3_K},
                      TileCase{TileUnit::kAvx2, GgmlType::Q5_K},
                      TileCase{TileUnit::kAvx2, GgmlType::Q6_K},
                      TileCase{TileUnit::kAvx2, GgmlType::IQ1_S},
                      TileCase{TileUnit::kAvx2, GgmlType::IQ1_M},
                      TileCase{TileUnit::kAvx2, GgmlType::IQ2_XXS},
                      TileCase{TileUnit::kAvx2, GgmlType::IQ2_XS},
                      TileCase{TileUnit::kAvx2, GgmlType::IQ2_S},
                      TileCase{TileUnit::kAvx2, GgmlType::IQ3_XXS},
                      TileCase{TileUnit::kAvx2, GgmlType::IQ3_S}),
    [](const auto& info) {
      const char* unit = info.param.unit == TileUnit::kAmx      ? "Amx_"
                         : info.param.unit == TileUnit::kAvx512 ? "Avx512_"
                                                                : "Avx2_";
      return std::string(unit) + std::string(type_name(info.param.type));
    });

// ---- rows in groups of 8 (quant/interleaved_rows.h) ----------------------------------------------

// `rows` laid out in groups, in a copy.
std::vector<std::byte> grouped_copy(GgmlType type, const std::vector<std::byte>& rows, int64_t n_cols, int64_t n_rows) {
  std::vector<std::byte> grouped = rows;
  group_rows(make_matrix_view(type, grouped.data(), n_cols, n_rows), grouped.data());
  return grouped;
}

MatrixView grouped_view(GgmlType type, const std::vector<std::byte>& grouped, int64_t n_cols, int64_t n_rows) {
  MatrixView w = make_matrix_view(type, grouped.data(), n_cols, n_rows);
  w.order = RowOrder::kGroupsOf8;
  return w;
}

// The formats with a group layout.
const GgmlType kGroupTypes[] = {GgmlType::Q2_K,   GgmlType::Q3_K,   GgmlType::Q4_K,  GgmlType::Q5_K, GgmlType::Q6_K,
                                GgmlType::IQ4_XS, GgmlType::Q8_0,   GgmlType::Q4_0,  GgmlType::Q4_1, GgmlType::Q5_0,
                                GgmlType::Q5_1,   GgmlType::IQ4_NL, GgmlType::MXFP4, GgmlType::NVFP4};

TEST(RowGroups, OnlyWholeGroupsOfWholeBlocks) {
  EXPECT_TRUE(can_group_rows(GgmlType::Q4_K, 2048, 768));
  EXPECT_TRUE(can_group_rows(GgmlType::Q6_K, 256, 8));
  EXPECT_TRUE(can_group_rows(GgmlType::Q8_0, 32, 8));
  EXPECT_TRUE(can_group_rows(GgmlType::Q5_1, 96, 16));
  EXPECT_FALSE(can_group_rows(GgmlType::Q4_K, 2048, 12));  // a group would straddle the end
  EXPECT_FALSE(can_group_rows(GgmlType::Q4_0, 2048, 12));
  EXPECT_FALSE(can_group_rows(GgmlType::Q6_K, 2048, 0));
  EXPECT_FALSE(can_group_rows(GgmlType::Q4_K, 96, 8));      // not whole super-blocks
  EXPECT_TRUE(can_group_rows(GgmlType::Q3_K, 2048, 768));
  EXPECT_FALSE(can_group_rows(GgmlType::IQ2_XXS, 2048, 768));  // no group layout
  EXPECT_TRUE(can_group_rows(GgmlType::MXFP4, 2048, 768));
  EXPECT_TRUE(can_group_rows(GgmlType::NVFP4, 2048, 768));
  EXPECT_FALSE(can_group_rows(GgmlType::NVFP4, 96, 8));  // not whole blocks
  EXPECT_FALSE(can_group_rows(GgmlType::TQ2_0, 2048, 768));
  EXPECT_FALSE(can_group_rows(GgmlType::F32, 2048, 768));
}

// Row lengths for the group tests: for 32- and 64-value formats 1, 3, 9 (one past whole 8s),
// 24 and 65 blocks; for 256-value ones 1, 3, 8 and 17 super-blocks.
std::vector<int64_t> group_test_lengths(GgmlType type) {
  const int64_t block = traits_of(type).block_size;
  if (block == 256) return {256, 768, 2048, 4352};
  return {block, 3 * block, 9 * block, 24 * block, 65 * block};
}

class RowGroupsOf : public ::testing::TestWithParam<GgmlType> {};

TEST_P(RowGroupsOf, CopyingRowsOutGivesTheRowsBack) {
  const GgmlType type = GetParam();
  for (int64_t n_cols : group_test_lengths(type)) {
    for (int64_t n_rows : {8, 24, 96}) {
      const std::vector<std::byte> rows = random_rows(type, n_cols, n_rows, 3u + static_cast<uint32_t>(n_rows));
      const std::vector<std::byte> grouped = grouped_copy(type, rows, n_cols, n_rows);
      EXPECT_EQ(grouped.size(), rows.size());
      if (n_rows > 8) {
        EXPECT_NE(grouped, rows) << "nothing moved";
      }
      const MatrixView w = grouped_view(type, grouped, n_cols, n_rows);
      const size_t bytes_per_row = w.row_bytes;
      for (const auto& [first, count] :
           {std::pair<int64_t, int64_t>{0, n_rows}, {3, 1}, {5, n_rows - 7}, {n_rows - 8, 8}}) {
        std::vector<std::byte> out(static_cast<size_t>(count) * bytes_per_row);
        copy_rows(w, first, count, out.data());
        EXPECT_TRUE(std::equal(out.begin(), out.end(), rows.begin() + static_cast<ptrdiff_t>(first * bytes_per_row)))
            << n_cols << " x " << n_rows << ", rows " << first << " + " << count;
      }
      // A whole-group slice is the same rows as a slice of the plain matrix.
      const MatrixView slice = row_slice(w, 8, n_rows - 8);
      std::vector<std::byte> out(static_cast<size_t>(n_rows - 8) * bytes_per_row);
      copy_rows(slice, 0, n_rows - 8, out.data());
      EXPECT_TRUE(std::equal(out.begin(), out.end(), rows.begin() + static_cast<ptrdiff_t>(8 * bytes_per_row)));
    }
  }
}

// The group kernel of `isa` gives the bits of the same set's row kernel (for the 256-value
// formats, the scalar kernel's): awkward lengths, 1-6 tokens, groups read as one stream and as
// two. False where the set has no group kernel for the format.
bool expect_group_kernel_bit_equal_to_row_kernel(GgmlType type, Isa isa, bool two_streams) {
  const Isa active = active_isa();
  set_isa(isa);
  const GroupDotFn groups = group_dot(type);
  const RowDotFn row_kernel = row_dot(type);
  set_isa(active);
  if (groups == nullptr) return false;
  set_two_streams(two_streams);
  for (int64_t n_cols : group_test_lengths(type)) {
    for (int64_t n_groups : {1, 3, 12}) {
      const int64_t n_rows = kGroupRows * n_groups;
      const std::vector<std::byte> rows =
          random_rows(type, n_cols, n_rows, 17u + static_cast<uint32_t>(n_cols + n_groups));
      const GuardedCopy grouped(grouped_copy(type, rows, n_cols, n_rows));
      const size_t w_bytes = row_bytes(type, static_cast<uint64_t>(n_cols));
      const size_t act_bytes = activation_row_bytes(type, n_cols);
      for (int64_t n_tokens : {1, 3, 4, 6}) {  // rows: plain, with outliers, with a stretch of zeros
        const std::vector<float> x = random_activations(n_cols, n_tokens, 5u + static_cast<uint32_t>(n_groups));
        std::vector<std::byte> act(act_bytes * static_cast<size_t>(n_tokens));
        for (int64_t t = 0; t < n_tokens; ++t) {
          quantize_activations(type, x.data() + t * n_cols, n_cols, act.data() + t * act_bytes);
        }
        const size_t out_stride = static_cast<size_t>(n_rows) + 5;  // results into a wider matrix
        std::vector<float> got(out_stride * static_cast<size_t>(n_tokens)),
            want(static_cast<size_t>(n_rows * n_tokens));
        groups(grouped.data(), kGroupRows * w_bytes, n_groups, act.data(), act_bytes, n_tokens, n_cols, got.data(),
               out_stride);
        row_kernel(rows.data(), w_bytes, n_rows, act.data(), act_bytes, n_tokens, n_cols, want.data(),
                   static_cast<size_t>(n_rows));
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t r = 0; r < n_rows; ++r) {
            const float g = got[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)];
            const float e = want[static_cast<size_t>(t * n_rows + r)];
            EXPECT_EQ(std::bit_cast<uint32_t>(g), std::bit_cast<uint32_t>(e))
                << n_cols << " columns, " << n_groups << " groups, " << n_tokens << " tokens: token " << t << ", row "
                << r << ": " << g << " vs row kernel " << e;
            if (std::bit_cast<uint32_t>(g) != std::bit_cast<uint32_t>(e)) {
              set_two_streams(false);
              return true;
            }
          }
        }
      }
    }
  }
  set_two_streams(false);
  return true;
}

TEST_P(RowGroupsOf, GroupKernelBitEqualToItsSetsRowKernel) {
  const GgmlType type = GetParam();
  if (!cpu_supports(Isa::kAvx2)) GTEST_SKIP() << "no group kernels without AVX2";
  int tested = 0;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!cpu_supports(isa)) continue;
    for (bool two_streams : {false, true}) {
      SCOPED_TRACE(std::string(isa_name(isa)) + (two_streams ? ", two streams" : ", one stream"));
      tested += expect_group_kernel_bit_equal_to_row_kernel(type, isa, two_streams);
    }
  }
  EXPECT_GT(tested, 0) << "no set has a group kernel for " << type_name(type);
}

// matmul_many over grouped rows gives the bits of the same product over plain rows: one token
// (the group kernel, its groups read as one stream and as two, with chunks that cut groups,
// behind a task of 13 rows that shifts where chunks fall), prompt batches (rows copied out of their groups, tile
// kernels), the exact path, and an instruction set without group kernels; decode_matrix_row gives each row.
TEST_P(RowGroupsOf, MatmulOverGroupedRowsEqualsPlainRows) {
  const GgmlType type = GetParam();
  const int64_t n_cols = 768, n_rows = 96, n_other = 13;
  const std::vector<std::byte> rows = random_rows(type, n_cols, n_rows, 41);
  const std::vector<std::byte> grouped = grouped_copy(type, rows, n_cols, n_rows);
  const std::vector<std::byte> other_rows = random_rows(GgmlType::Q8_0, n_cols, n_other, 43);
  const MatrixView plain = make_matrix_view(type, rows.data(), n_cols, n_rows);
  const MatrixView w = grouped_view(type, grouped, n_cols, n_rows);
  const MatrixView other = make_matrix_view(GgmlType::Q8_0, other_rows.data(), n_cols, n_other);
  const Isa active = active_isa();
  // The scalar set's products over plain rows, which every set's fast path gives bit for bit for
  // the 256-value formats, and every set's exact path for all.
  const bool same_bits_in_every_set = traits_of(type).block_size == 256;
  std::map<std::pair<ops::ComputePath, int64_t>, std::vector<float>> scalar_results;
  for (const Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!cpu_supports(isa)) continue;
    set_isa(isa);
    for (const ops::ComputePath path : {ops::ComputePath::kFast, ops::ComputePath::kExact}) {
      for (int64_t n_tokens : {1, 2, 3, 5, 40}) {
        const std::vector<float> x = random_activations(n_cols, n_tokens, 7u + static_cast<uint32_t>(n_tokens));
        for (int threads : {1, 2, 3}) {
          ops::ThreadPool pool(threads);
          std::vector<float> want(static_cast<size_t>(n_rows * n_tokens)), got(want.size());
          std::vector<float> other_out(static_cast<size_t>(n_other * n_tokens));
          const ops::MatmulTask plain_tasks[] = {{&other, x.data(), n_tokens, other_out.data()},
                                                 {&plain, x.data(), n_tokens, want.data()}};
          const ops::MatmulTask grouped_tasks[] = {{&other, x.data(), n_tokens, other_out.data()},
                                                   {&w, x.data(), n_tokens, got.data()}};
          ops::matmul_many(pool, plain_tasks, path);
          for (bool two_streams : {false, true}) {
            set_two_streams(two_streams);
            ops::matmul_many(pool, grouped_tasks, path);
            set_two_streams(false);
            ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
                << isa_name(isa) << (path == ops::ComputePath::kFast ? " fast" : " exact") << ", " << n_tokens
                << " tokens, " << threads << " threads" << (two_streams ? ", two streams" : "");
          }
          const auto [scalar, first] = scalar_results.try_emplace({path, n_tokens}, want);
          ASSERT_TRUE(first || scalar->second == want || (path == ops::ComputePath::kFast && !same_bits_in_every_set))
              << isa_name(isa) << (path == ops::ComputePath::kFast ? " fast" : " exact") << ", " << n_tokens
              << " tokens, " << threads << " threads: not the scalar set's bits";
        }
      }
    }
  }
  set_isa(active);
  std::vector<float> got(static_cast<size_t>(n_cols)), want(got.size());
  for (int64_t r = 0; r < n_rows; ++r) {
    ops::decode_matrix_row(w, r, got.data());
    ops::decode_matrix_row(plain, r, want.data());
    ASSERT_EQ(got, want) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, RowGroupsOf, ::testing::ValuesIn(kGroupTypes),
                         [](const auto& info) { return std::string(type_name(info.param)); });

TEST(ComputePath, LibraryDefaultIsExact) { EXPECT_EQ(ops::compute_path(), ops::ComputePath::kExact); }

// The fast path end to end, on every quantized fixture and on the trained model's perplexity,
// is tested in tests/quant/test_quantized_models.cpp.

}  // namespace
}  // namespace sluice::quant::fast
