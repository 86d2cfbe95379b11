// Expert choice of DeepSeek's routers (DeepSeek-V2's softmax gating, DeepSeek-V3's sigmoid
// gating with a selection bias), with group-limited routing: experts are split into groups,
// only the best groups compete for the top-k.
#pragma once

#include <cstdint>

namespace sluice::ops {

// GGUF `<arch>.expert_gating_func`: 1 softmax, 2 sigmoid (llama.cpp's numbering).
enum class ExpertGating { kSoftmax, kSigmoid };

struct GroupRoutingParams {
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;  // top-k
  int32_t n_group = 1;        // expert_group_count: experts e / (n_expert / n_group) form a group
  int32_t n_group_used = 1;   // expert_group_used_count: groups kept per token
  ExpertGating gating = ExpertGating::kSoftmax;
  bool normalize_top_k = false;  // expert_weights_norm: chosen weights rescaled to sum to 1
  float weights_scale = 1.0f;    // expert_weights_scale (routed_scaling_factor)
};

// For one token's router logits (n_expert values):
//   scores = sigmoid(logits) or softmax(logits);
//   choice = scores + choice_bias (e_score_correction_bias; null: no bias), used only to choose;
//   when n_group_used < n_group, each group is scored (sigmoid: sum of its two best choice
//   values, DeepSeek-V3's noaux_tc; softmax: its best choice value, DeepSeek-V2's
//   group_limited_greedy), the n_group_used best groups are kept and the others' experts
//   cannot be chosen;
//   the k best choice values among the kept experts are chosen (ties: lower id first), in
//   descending order, each weighted by its unbiased score, normalised by the sum of the k
//   scores (+1e-20) when normalize_top_k, times weights_scale.
// As transformers' DeepseekV3TopkRouter and DeepseekV2Moe compute them.
void group_limited_top_k(const GroupRoutingParams& params, const float* router_logits,
                         const float* choice_bias, int32_t* expert_ids, float* expert_weights);

}  // namespace sluice::ops
