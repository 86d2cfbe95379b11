// Expert selection for Mixture-of-Experts layers.
#pragma once

#include <cstdint>

namespace sluice::ops {

struct RoutingParams {
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;  // top-k
  bool normalize_top_k = true;  // rescale the k chosen probabilities to sum to 1
};

// Softmax over all router logits, then the k most probable experts (ties: lower id first),
// as transformers' Qwen3MoeSparseMoeBlock / MixtralSparseMoeBlock route. Writes k expert ids
// in descending probability and their weights.
void softmax_top_k(const RoutingParams& params, const float* router_logits, int32_t* expert_ids,
                   float* expert_weights);

// In-place softmax of n values.
void softmax(float* x, int64_t n);

// SiLU(gate) * up, elementwise (SwiGLU, Shazeer 2020). Writes into gate.
void swiglu(float* gate, const float* up, int64_t n);

}  // namespace sluice::ops
