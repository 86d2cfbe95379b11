// Rotary position embedding (Su et al. 2021, RoFormer), optionally with YaRN context
// extension (Peng et al. 2023).
#pragma once

#include <cstdint>

namespace sluice::ops {

// How the rotated dimensions are paired. GGUF conversion fixes this per architecture:
// llama's converter permutes q/k so that adjacent dimensions (2i, 2i+1) form a pair; Qwen and
// most others keep the transformers layout, where dimension i pairs with i + n_rot/2 (NEOX).
enum class RopeStyle { kNormal, kNeox };

// YaRN ("NTK-by-parts" interpolation plus an attention temperature), as transformers'
// _compute_yarn_parameters defines it: pairs that rotate more than beta_fast times over the
// original context keep their frequency, pairs that rotate fewer than beta_slow times are
// interpolated (frequency / factor), and a linear ramp blends the ones in between. cos and sin
// are multiplied by the attention factor.
struct YarnParams {
  bool enabled = false;
  double factor = 1.0;                // rope.scaling.factor: context extension
  int64_t original_context = 0;       // rope.scaling.original_context_length
  double beta_fast = 32.0;            // rope.scaling.yarn_beta_fast
  double beta_slow = 1.0;             // rope.scaling.yarn_beta_slow
  // cos/sin multiplier; <= 0: 0.1 * ln(factor) + 1 (1 when factor <= 1), transformers' default.
  double attention_factor = 0.0;
  // Round the correction range outward to whole dimensions (the YaRN paper, llama.cpp, and
  // transformers unless the config says `truncate: false`, as gpt-oss does).
  bool truncate = true;
};

struct RopeParams {
  RopeStyle style = RopeStyle::kNeox;
  int64_t n_rot = 0;          // rotated dimensions per head (partial rotary: < head_dim)
  float freq_base = 10000.0f;
  YarnParams yarn;
};

// The range of pair indices over which YaRN's ramp goes from extrapolation (below `low`) to
// interpolation (above `high`), clamped to [0, n_rot - 1] as transformers does.
struct YarnCorrectionRange {
  double low = 0.0;
  double high = 0.0;
};
YarnCorrectionRange yarn_correction_range(const RopeParams& params);

// Inverse frequency of pair i (0 <= i < n_rot / 2), rounded to float as transformers keeps it.
float rope_inv_freq(const RopeParams& params, int64_t i);

// The factor applied to cos and sin: 1 without YaRN.
float rope_attention_factor(const RopeParams& params);

// Rotates the first n_rot dimensions of each of `n_heads` heads (head_dim apart) of `x` for
// position `pos`; the remaining dimensions of each head are left as they are.
void apply_rope(const RopeParams& params, float* x, int64_t n_heads, int64_t head_dim,
                int64_t pos);

}  // namespace sluice::ops
