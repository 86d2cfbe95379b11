// Rotary embedding with a per-pair frequency table, so that frequency schemes beyond plain
// RoPE can share one rotation: YaRN (Peng et al. 2023, "YaRN: Efficient Context Window
// Extension of Large Language Models"), as DeepSeek-V2/V3 use it for their 128K/160K
// contexts.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/rope.h"

namespace sluice::ops {

// YaRN as transformers' _compute_yarn_parameters computes it (truncate: true, llama.cpp's
// ggml_rope_yarn_corr_dims): pairs rotating fewer than beta_slow times over the original
// context are interpolated (frequency / factor), pairs rotating more than beta_fast times
// keep their frequency, with a linear ramp in between.
struct YarnScaling {
  float factor = 1.0f;             // rope.scaling.factor
  int64_t original_context = 0;    // rope.scaling.original_context_length
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
};

// The inverse frequency of each of the n_rot / 2 rotated pairs: base^(-2i / n_rot) (rounded
// to f32, as transformers' inv_freq buffer holds it), YaRN-blended when `yarn` is given.
std::vector<float> rope_inverse_frequencies(const RopeParams& params, const YarnScaling* yarn);

// Rotates the first params.n_rot dimensions of each of `n_heads` heads (head_dim apart) for
// position `pos`, pair i by angle pos * inv_freq[i], cos and sin scaled by `magnitude`.
// With rope_inverse_frequencies(params, nullptr) and magnitude 1 this equals apply_rope.
void apply_rope_table(const RopeParams& params, const float* inv_freq, float magnitude, float* x,
                      int64_t n_heads, int64_t head_dim, int64_t pos);

}  // namespace sluice::ops
