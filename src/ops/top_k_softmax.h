// Expert selection that takes the top k router logits first and normalises only those
// (transformers' GptOssTopKRouter; Mixtral's order of operations). The chosen experts and
// their weights equal softmax-then-top-k renormalised, up to rounding; this order is the one
// the references compute, so it is kept exactly.
#pragma once

#include <cstdint>

namespace sluice::ops {

// The k largest of n_expert logits (ties: lower id first), in descending order, and the
// softmax of those k logits as their weights.
void top_k_softmax(int32_t n_expert, int32_t k, const float* router_logits, int32_t* expert_ids,
                   float* expert_weights);

}  // namespace sluice::ops
