// Tile kernels of the AVX2 set (tile_gemm.h) for the grid i-quants IQ2_XXS, IQ2_XS, IQ2_S,
// IQ3_XXS and IQ3_S: each weight row is unpacked once per product into signed bytes and the
// int16 scales of its 32-value steps, and then meets every token of the batch.
//
// Zen 2 runs maddubs and madd on one pipe, one a cycle, so a 32-value step costs a token two
// cycles at best. The token groups (token_groups_avx2.h) look a step up once for eight tokens
// but still move its signs onto each token's activations and spend more instructions on the
// lookups than on the products. Here the signs are on the unpacked weights, and the
// activations are made unsigned instead, once per product (`pack`: q + 128, stored as q ^ 0x80):
// maddubs takes them as its unsigned operand and the signed weights as the other, and a token's
// step is a load, maddubs, madd with the step's scales, and an add. The bias adds 128 times
// the scaled weight sum to every token's sum; each block's sums start from minus that
// (UnpackedBlock::start), computed once when the row is unpacked. Bounds: activations
// q + 128 are at most 255 and grid magnitudes at most 62, so a maddubs pair is at most
// 2 * 255 * 62 = 31620 < 2^15. (IQ4_XS's levels reach 127 and would saturate.)
//
// The integer sum of each block and token is the one-token kernel's, and the f32 step is
// super_blocks.h's term (f * f16(d) * y_d) * isum added in block order, eight tokens a vector
// as in token_groups_avx2.h: results are bit-identical to the row kernels.
//
// Compiled with -mavx2 -mfma -mf16c; reached only through tile_kernel(), which checks the CPU.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/fast/kernels.h"
#include "quant/fast/tile_gemm.h"
#include "quant/fast/x86/avx2_common.h"
#include "quant/fast/x86/grid_steps_avx2.h"
#include "quant/fast/x86/super_blocks.h"
#include "util/error.h"

namespace sluice::quant::fast::detail {
namespace {

constexpr int kSteps = 8;        // 32-value steps per super-block
constexpr int kGroupTokens = 8;  // tokens per pass over an unpacked row: the lanes of an f32 vector

// One super-block of one row, unpacked.
struct alignas(32) UnpackedBlock {
  int8_t w[256];               // the weights, grid value times sign; step ib at 32 ib
  int16_t scales[kSteps][16];  // step ib's int16 scales, the madd operand of its maddubs pairs
  int32_t start[8];            // lanes of minus 128 times the scaled weight sums: the bias's share
  float d;                     // f * f16(d)
};

// Packed activations (`pack`): tokens in groups of kGroupTokens, the last group filled up with
// copies of the last token. Per group and super-block, each step's 32 biased quants for the
// group's eight tokens side by side, then the eight tokens' scales.
struct PackedBlock {
  uint8_t qs[kSteps][kGroupTokens][32];
  float d[kGroupTokens];
};

int64_t token_groups(int64_t n_tokens) { return (n_tokens + kGroupTokens - 1) / kGroupTokens; }

size_t packed_bytes(int64_t n_cols, int64_t n_tokens) {
  return static_cast<size_t>(token_groups(n_tokens) * (n_cols / 256)) * sizeof(PackedBlock);
}

void pack_biased(const std::byte* act, size_t act_stride, int64_t n_tokens, int64_t n_cols, std::byte* packed) {
  const int64_t n_blocks = n_cols / 256;
  auto* out = reinterpret_cast<PackedBlock*>(packed);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t g = 0; g < token_groups(n_tokens); ++g) {
    for (int t = 0; t < kGroupTokens; ++t) {
      const int64_t token = std::min(g * kGroupTokens + t, n_tokens - 1);
      const Q8x256View y = view_q8x256(act + static_cast<size_t>(token) * act_stride, n_cols);
      for (int64_t b = 0; b < n_blocks; ++b) {
        PackedBlock& p = out[g * n_blocks + b];
        for (int ib = 0; ib < kSteps; ++ib) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(p.qs[ib][t]),
                              _mm256_xor_si256(load256(y.qs + 256 * b + 32 * ib), bias));
        }
        p.d[t] = y.d[b];
      }
    }
  }
}

template <class Steps>
void unpack_row(const std::byte* row, int64_t n_blocks, UnpackedBlock* out) {
  const auto* x = blocks_of<typename Steps::Block>(row);
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n_blocks; ++b) {
    prefetch_ahead<sizeof(typename Steps::Block)>(x + b);
    const Steps steps{x[b]};
    UnpackedBlock& u = out[b];
    __m256i weight_sums = _mm256_setzero_si256();
    for (int ib = 0; ib < kSteps; ++ib) {
      const ScaledGridSubBlock s = steps(ib);
      const __m256i w = _mm256_sign_epi8(s.weights.grid, s.weights.signs);
      _mm256_store_si256(reinterpret_cast<__m256i*>(u.w + 32 * ib), w);
      _mm256_store_si256(reinterpret_cast<__m256i*>(u.scales[ib]), s.scales);
      weight_sums = _mm256_add_epi32(weight_sums, _mm256_madd_epi16(_mm256_maddubs_epi16(ones, w), s.scales));
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(u.start),
                       _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(weight_sums, 7)));
    u.d = Steps::kDFactor * f16(x[b].d);
  }
}

// One unpacked row against one packed group of tokens: out[t * out_stride] for t < count.
void row_times_group(const UnpackedBlock* row, int64_t n_blocks, const PackedBlock* group, int count, float* out,
                     size_t out_stride) {
  __m256 sums = _mm256_setzero_ps();
  for (int64_t b = 0; b < n_blocks; ++b) {
    const UnpackedBlock& u = row[b];
    const PackedBlock& y = group[b];
    __m256i isum[kGroupTokens];
    const __m256i start = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.start));
    for (__m256i& s : isum) s = start;
#pragma GCC unroll 8
    for (int ib = 0; ib < kSteps; ++ib) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.w + 32 * ib));
      const __m256i scales = _mm256_load_si256(reinterpret_cast<const __m256i*>(u.scales[ib]));
#pragma GCC unroll 8
      for (int t = 0; t < kGroupTokens; ++t) {
        const __m256i products = _mm256_maddubs_epi16(load256(y.qs[ib][t]), w);
        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(products, scales));
        // Keeps each sum a chain: GCC otherwise computes the block's products first and
        // spills them (as dot_avx2_groups.cpp's Avx2Dots::add).
        asm("" : "+x"(isum[t]));
      }
    }
    const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(u.d), _mm256_loadu_ps(y.d));
    sums = _mm256_add_ps(sums, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(lane_totals(isum))));
  }
  alignas(32) float lanes[kGroupTokens];
  _mm256_store_ps(lanes, sums);
  for (int t = 0; t < count; ++t) out[static_cast<size_t>(t) * out_stride] = lanes[t];
}

template <class Steps>
void tile_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& acts, int64_t n_cols,
               float* out, size_t out_stride) {
  SLUICE_ASSERT(n_rows % kTileRows == 0 && n_cols % 256 == 0);
  const int64_t n_blocks = n_cols / 256;
  // One per thread, kept between calls: kTileRows rows of the widest matrix seen (2.25 bytes
  // per column and row), in L2 while every token group passes over them.
  thread_local FilesVector<UnpackedBlock, Avx2Files> unpacked;
  if (unpacked.size() < static_cast<size_t>(kTileRows * n_blocks))
    unpacked.resize(static_cast<size_t>(kTileRows * n_blocks));
  const auto* groups = reinterpret_cast<const PackedBlock*>(acts.packed);
  for (int64_t r0 = 0; r0 < n_rows; r0 += kTileRows) {
    for (int64_t r = 0; r < kTileRows; ++r) {
      unpack_row<Steps>(w + static_cast<size_t>(r0 + r) * w_row_bytes, n_blocks, unpacked.data() + r * n_blocks);
    }
    for (int64_t g = 0; g < token_groups(acts.n_tokens); ++g) {
      const int count = static_cast<int>(std::min<int64_t>(kGroupTokens, acts.n_tokens - g * kGroupTokens));
      float* group_out = out + static_cast<size_t>(g * kGroupTokens) * out_stride + r0;
      for (int64_t r = 0; r < kTileRows; ++r) {
        row_times_group(unpacked.data() + r * n_blocks, n_blocks, groups + g * n_blocks, count, group_out + r,
                        out_stride);
      }
    }
  }
}

template <class Steps>
constexpr TileKernel kGridTiles{2, packed_bytes, pack_biased, tile_rows<Steps>};

}  // namespace

const TileKernel* avx2_tile_kernel(GgmlType type) {
  switch (type) {
    case GgmlType::IQ2_XXS:
      return &kGridTiles<Iq2XxsSteps>;
    case GgmlType::IQ2_XS:
      return &kGridTiles<Iq2XsSteps>;
    case GgmlType::IQ2_S:
      return &kGridTiles<Iq2SSteps>;
    case GgmlType::IQ3_XXS:
      return &kGridTiles<Iq3XxsSteps>;
    case GgmlType::IQ3_S:
      return &kGridTiles<Iq3SSteps>;
    default:
      return nullptr;
  }
}

}  // namespace sluice::quant::fast::detail
