// Rotary position embedding (Su et al. 2021, RoFormer).
#pragma once

#include <cstdint>

namespace sluice::ops {

// How the rotated dimensions are paired. GGUF conversion fixes this per architecture:
// llama's converter permutes q/k so that adjacent dimensions (2i, 2i+1) form a pair; Qwen and
// most others keep the transformers layout, where dimension i pairs with i + n_rot/2 (NEOX).
enum class RopeStyle { kNormal, kNeox };

struct RopeParams {
  RopeStyle style = RopeStyle::kNeox;
  int64_t n_rot = 0;          // rotated dimensions per head (partial rotary: < head_dim)
  float freq_base = 10000.0f;
};

// Rotates the first n_rot dimensions of each of `n_heads` heads (head_dim apart) of `x` for
// position `pos`; the remaining dimensions of each head are left as they are.
void apply_rope(const RopeParams& params, float* x, int64_t n_heads, int64_t head_dim,
                int64_t pos);

}  // namespace sluice::ops
