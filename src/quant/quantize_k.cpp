// Quantizers of the K-quants Q4_K, Q5_K and Q6_K (layouts in blocks_k.h), without an
// importance matrix.
//
// The algorithms are those of llama.cpp's reference quantizers (ggml-quants.c:
// quantize_row_q4_K_ref / q5_K_ref with make_qkx2_quants, quantize_row_q6_K_ref with
// make_qx_quants), written anew here:
//   1. each sub-block gets a real-valued fit: Q4_K / Q5_K an affine one (x ~ scale * q - min,
//      q in 0..2^bits-1) found by trying grids of slightly different step over the
//      sub-block's range and solving weighted least squares for scale and minimum on each;
//      Q6_K a symmetric one (x ~ scale * q, q in -32..31) found by trying 19 scales around
//      max|x| / 32, weighted by x^2;
//   2. the sub-block scales (and minimums) are quantized to 6 bits (Q4_K, Q5_K) or int8
//      (Q6_K) relative to the largest one, which sets the f16 super-block scale;
//   3. every value is rounded again with the sub-block scale it will actually be decoded
//      with (f16 super-block scale times the integer sub-block scale).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/float_formats.h"
#include "quant/quantize.h"

namespace sluice::quant {
namespace {

// Nearest integer, ties to even (the default rounding mode), as ggml's nearest_int rounds.
int nearest(float v) { return static_cast<int>(std::lrintf(v)); }

struct AffineFit {
  float scale = 0.0f;      // x ~ scale * q - minus_min
  float minus_min = 0.0f;  // >= 0: the minimum is never above zero
};

// Search parameters of the affine fit: grids of max_level + first_extra + k * extra_step
// steps over the range, k = 0 .. n_steps (llama.cpp's rmin, rdelta, nstep).
struct AffineSearch {
  int max_level;
  float first_extra;
  float extra_step;
  int n_steps;
};

// Fits the n values x with weights w as scale * q + min, min <= 0, q[i] in 0..max_level,
// minimising sum w[i] * (scale * q[i] + min - x[i])^2 over the candidate grids; writes the
// levels of the best fit to q (scratch: n bytes). Each grid starts at the best minimum found
// so far and spans from there to max(x), as in llama.cpp: a better minimum moves the grids
// that follow.
AffineFit fit_affine(const float* x, const float* w, int n, const AffineSearch& search, uint8_t* q,
                     uint8_t* scratch) {
  float lo = x[0], hi = x[0];
  float sum_w = 0.0f, sum_x = 0.0f;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  lo = std::min(lo, 0.0f);
  if (hi == lo) {
    std::fill(q, q + n, uint8_t{0});
    return {0.0f, -lo};
  }
  const int max_level = search.max_level;
  auto levels_for = [&](float inverse_step, float origin, uint8_t* out) {
    for (int i = 0; i < n; ++i) {
      out[i] = static_cast<uint8_t>(std::clamp(nearest(inverse_step * (x[i] - origin)), 0, max_level));
    }
  };
  auto weighted_error = [&](float scale, float min, const uint8_t* levels) {
    float error = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * static_cast<float>(levels[i]) + min - x[i];
      error += w[i] * diff * diff;
    }
    return error;
  };

  // Start: max_level steps spanning [lo, hi] exactly.
  const float first_inverse_step = static_cast<float>(max_level) / (hi - lo);
  float best_scale = 1.0f / first_inverse_step, best_min = lo;
  levels_for(first_inverse_step, lo, q);
  float best_error = weighted_error(best_scale, best_min, q);

  for (int k = 0; k <= search.n_steps; ++k) {
    const float inverse_step = (search.first_extra + search.extra_step * static_cast<float>(k) +
                                static_cast<float>(max_level)) / (hi - best_min);
    levels_for(inverse_step, best_min, scratch);
    // Weighted least squares of x ~ scale * l + min over these levels.
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = scratch[i];
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0.0f) continue;
    float scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (min > 0.0f) {  // a positive minimum cannot be stored: refit the scale alone
      min = 0.0f;
      scale = sum_xl / sum_l2;
    }
    const float error = weighted_error(scale, min, scratch);
    if (error < best_error) {
      std::memcpy(q, scratch, static_cast<size_t>(n));
      best_error = error;
      best_scale = scale;
      best_min = min;
    }
  }
  return {best_scale, -best_min};
}

// Q4_K / Q5_K: eight 32-value sub-blocks, each an affine fit weighted by rms(x) + |x|
// (values far from zero matter more), then 6-bit scales and minimums relative to the
// largest of each, whose /63 are the f16 d and dmin.
struct AffineSuperBlock {
  uint16_t d = 0, dmin = 0;
  uint8_t scales[12] = {};
  uint8_t levels[kSuperBlockValues] = {};
};

// Packs 6-bit scale and minimum of sub-block j into the 12-byte layout of blocks_k.h.
void pack_scale_min(uint8_t* scales, int j, int scale, int min) {
  if (j < 4) {
    scales[j] = static_cast<uint8_t>(scale);
    scales[j + 4] = static_cast<uint8_t>(min);
  } else {
    scales[j + 4] = static_cast<uint8_t>((scale & 0x0f) | ((min & 0x0f) << 4));
    scales[j - 4] = static_cast<uint8_t>(scales[j - 4] | ((scale >> 4) << 6));
    scales[j] = static_cast<uint8_t>(scales[j] | ((min >> 4) << 6));
  }
}

AffineSuperBlock quantize_affine_super_block(const float* x, const AffineSearch& search) {
  constexpr int kSub = 32, kNumSub = kSuperBlockValues / kSub;
  AffineSuperBlock out;
  AffineFit fits[kNumSub];
  float weights[kSub];
  uint8_t scratch[kSub];
  float max_scale = 0.0f, max_minus_min = 0.0f;
  for (int j = 0; j < kNumSub; ++j) {
    const float* xs = x + kSub * j;
    float sum_x2 = 0.0f;
    for (int i = 0; i < kSub; ++i) sum_x2 += xs[i] * xs[i];
    const float rms = std::sqrt(sum_x2 / kSub);
    for (int i = 0; i < kSub; ++i) weights[i] = rms + std::fabs(xs[i]);
    fits[j] = fit_affine(xs, weights, kSub, search, out.levels + kSub * j, scratch);
    max_scale = std::max(max_scale, fits[j].scale);
    max_minus_min = std::max(max_minus_min, fits[j].minus_min);
  }

  const float inverse_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inverse_min = max_minus_min > 0.0f ? 63.0f / max_minus_min : 0.0f;
  int sub_scale[kNumSub], sub_min[kNumSub];
  for (int j = 0; j < kNumSub; ++j) {
    sub_scale[j] = std::clamp(nearest(inverse_scale * fits[j].scale), 0, 63);
    sub_min[j] = std::clamp(nearest(inverse_min * fits[j].minus_min), 0, 63);
    pack_scale_min(out.scales, j, sub_scale[j], sub_min[j]);
  }
  out.d = f32_to_f16_nearest(max_scale / 63.0f);
  out.dmin = f32_to_f16_nearest(max_minus_min / 63.0f);

  // Round every value again with the scale and minimum it will be decoded with.
  const float d = f16_to_f32(out.d), dmin = f16_to_f32(out.dmin);
  for (int j = 0; j < kNumSub; ++j) {
    const float step = d * static_cast<float>(sub_scale[j]);
    if (step == 0.0f) continue;
    const float minus_min = dmin * static_cast<float>(sub_min[j]);
    for (int i = 0; i < kSub; ++i) {
      const int q = nearest((x[kSub * j + i] + minus_min) / step);
      out.levels[kSub * j + i] = static_cast<uint8_t>(std::clamp(q, 0, search.max_level));
    }
  }
  return out;
}

// llama.cpp's settings: Q4_K tries 21 grids of 14 .. 16 steps, Q5_K 16 grids of 30.5 .. 32.
constexpr AffineSearch kQ4KSearch{15, -1.0f, 0.1f, 20};
constexpr AffineSearch kQ5KSearch{31, -0.5f, 0.1f, 15};

// Fits the n values x as scale * q, q in -n_neg .. n_neg - 1, minimising sum x^2 (x - scale q)^2
// over 19 candidate grids around the one that maps the value of largest magnitude to -n_neg
// (the level without a positive twin). Writes q + n_neg to levels; returns the scale, which
// is negative when that value is positive.
float fit_symmetric(const float* x, int n, int n_neg, int8_t* levels) {
  float extreme = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      extreme = x[i];
    }
  }
  if (amax < 1e-15f) {  // all (nearly) zero
    std::fill(levels, levels + n, int8_t{0});
    return 0.0f;
  }
  auto level = [&](float inverse_scale, float v) { return std::clamp(nearest(inverse_scale * v), -n_neg, n_neg - 1); };
  // Least-squares scale of the levels at this inverse scale: sum w x l / sum w l^2, w = x^2.
  auto sums = [&](float inverse_scale, float& sum_xl, float& sum_l2) {
    sum_xl = 0.0f;
    sum_l2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const auto l = static_cast<float>(level(inverse_scale, x[i]));
      const float w = x[i] * x[i];
      sum_xl += w * x[i] * l;
      sum_l2 += w * l * l;
    }
  };
  auto store = [&](float inverse_scale) {
    for (int i = 0; i < n; ++i) levels[i] = static_cast<int8_t>(level(inverse_scale, x[i]) + n_neg);
  };

  float inverse_scale = -static_cast<float>(n_neg) / extreme;
  float sum_xl = 0.0f, sum_l2 = 0.0f;
  sums(inverse_scale, sum_xl, sum_l2);
  store(inverse_scale);
  float scale = sum_l2 != 0.0f ? sum_xl / sum_l2 : 0.0f;
  float best = scale * sum_xl;  // the reduction in weighted squared error this scale gives
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    inverse_scale = -(static_cast<float>(n_neg) + 0.1f * static_cast<float>(k)) / extreme;
    sums(inverse_scale, sum_xl, sum_l2);
    if (sum_l2 > 0.0f && sum_xl * sum_xl > best * sum_l2) {
      store(inverse_scale);
      scale = sum_xl / sum_l2;
      best = scale * sum_xl;
    }
  }
  return scale;
}

}  // namespace

void quantize_blocks(const float* src, BlockQ4_K* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const AffineSuperBlock s = quantize_affine_super_block(src + kSuperBlockValues * b, kQ4KSearch);
    BlockQ4_K& block = dst[b];
    block.d = s.d;
    block.dmin = s.dmin;
    std::memcpy(block.scales, s.scales, sizeof(block.scales));
    for (int chunk = 0; chunk < 4; ++chunk) {  // sub-block 2 chunk in low nibbles, + 1 in high
      const uint8_t* lo = s.levels + 64 * chunk;
      for (int l = 0; l < 32; ++l) block.qs[32 * chunk + l] = static_cast<uint8_t>(lo[l] | (lo[32 + l] << 4));
    }
  }
}

void quantize_blocks(const float* src, BlockQ5_K* dst, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; ++b) {
    const AffineSuperBlock s = quantize_affine_super_block(src + kSuperBlockValues * b, kQ5KSearch);
    BlockQ5_K& block = dst[b];
    block.d = s.d;
    block.dmin = s.dmin;
    std::memcpy(block.scales, s.scales, sizeof(block.scales));
    std::memset(block.qh, 0, sizeof(block.qh));
    for (int chunk = 0; chunk < 4; ++chunk) {
      const uint8_t* lo = s.levels + 64 * chunk;
      for (int l = 0; l < 32; ++l) {
        block.qs[32 * chunk + l] = static_cast<uint8_t>((lo[l] & 0x0f) | ((lo[32 + l] & 0x0f) << 4));
        const int high = ((lo[l] >> 4) << (2 * chunk)) | ((lo[32 + l] >> 4) << (2 * chunk + 1));
        block.qh[l] = static_cast<uint8_t>(block.qh[l] | high);
      }
    }
  }
}

// Q6_K: sixteen 16-value sub-blocks with symmetric fits; their scales become int8 relative to
// the one of largest magnitude, which is stored as -128 (d = -that scale / 128).
void quantize_blocks(const float* src, BlockQ6_K* dst, int64_t n_blocks) {
  constexpr int kSub = 16, kNumSub = kSuperBlockValues / kSub;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const float* x = src + kSuperBlockValues * b;
    BlockQ6_K& block = dst[b];
    int8_t levels[kSuperBlockValues];
    float scales[kNumSub];
    float extreme_scale = 0.0f, max_abs_scale = 0.0f;
    for (int j = 0; j < kNumSub; ++j) {
      scales[j] = fit_symmetric(x + kSub * j, kSub, 32, levels + kSub * j);
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        extreme_scale = scales[j];
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&block, 0, sizeof(block));
      continue;
    }
    const float inverse_scale = -128.0f / extreme_scale;
    block.d = f32_to_f16_nearest(1.0f / inverse_scale);
    for (int j = 0; j < kNumSub; ++j) {
      block.scales[j] = static_cast<int8_t>(std::clamp(nearest(inverse_scale * scales[j]), -128, 127));
    }
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < kNumSub; ++j) {
      const float step = d * static_cast<float>(block.scales[j]);
      if (step == 0.0f) continue;
      for (int i = 0; i < kSub; ++i) {
        levels[kSub * j + i] = static_cast<int8_t>(std::clamp(nearest(x[kSub * j + i] / step), -32, 31) + 32);
      }
    }
    // Per half of 128 values: ql byte m holds values m and m + 64 (low, high nibble), for
    // m < 64; qh byte l holds bits 4-5 of values l, l + 32, l + 64, l + 96.
    for (int half = 0; half < 2; ++half) {
      const int8_t* q = levels + 128 * half;
      uint8_t* ql = block.ql + 64 * half;
      uint8_t* qh = block.qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((q[l] & 0x0f) | ((q[l + 64] & 0x0f) << 4));
        ql[l + 32] = static_cast<uint8_t>((q[l + 32] & 0x0f) | ((q[l + 96] & 0x0f) << 4));
        qh[l] = static_cast<uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                     ((q[l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace sluice::quant
