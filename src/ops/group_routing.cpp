#include "ops/group_routing.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/routing.h"
#include "util/error.h"

namespace sluice::ops {
namespace {

// Orders candidates by descending value, lower index first on ties.
struct Descending {
  const std::vector<float>& values;
  bool operator()(int32_t a, int32_t b) const {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  }
};

}  // namespace

void group_limited_top_k(const GroupRoutingParams& params, const float* router_logits,
                         const float* choice_bias, int32_t* expert_ids, float* expert_weights) {
  const int32_t n_expert = params.n_expert;
  const int32_t k = params.n_expert_used;
  SLUICE_ASSERT(params.n_group > 0 && n_expert % params.n_group == 0);
  SLUICE_ASSERT(params.n_group_used > 0 && params.n_group_used <= params.n_group);
  const int32_t group_size = n_expert / params.n_group;
  SLUICE_ASSERT(k > 0 && k <= params.n_group_used * group_size);

  thread_local std::vector<float> scores, choice, group_scores;
  thread_local std::vector<int32_t> order, groups;
  scores.assign(router_logits, router_logits + n_expert);
  if (params.gating == ExpertGating::kSigmoid) {
    for (float& s : scores) s = 1.0f / (1.0f + std::exp(-s));
  } else {
    softmax(scores.data(), n_expert);
  }
  choice = scores;
  if (choice_bias) {
    for (int32_t e = 0; e < n_expert; ++e) choice[e] += choice_bias[e];
  }

  order.clear();
  if (params.n_group_used < params.n_group) {
    group_scores.assign(static_cast<size_t>(params.n_group), 0.0f);
    for (int32_t g = 0; g < params.n_group; ++g) {
      const float* first = choice.data() + g * group_size;
      float best = -INFINITY, second = -INFINITY;
      for (int32_t i = 0; i < group_size; ++i) {
        if (first[i] > best) {
          second = best;
          best = first[i];
        } else if (first[i] > second) {
          second = first[i];
        }
      }
      const bool top_two = params.gating == ExpertGating::kSigmoid && group_size > 1;
      group_scores[g] = top_two ? best + second : best;
    }
    groups.resize(static_cast<size_t>(params.n_group));
    for (int32_t g = 0; g < params.n_group; ++g) groups[g] = g;
    std::partial_sort(groups.begin(), groups.begin() + params.n_group_used, groups.end(),
                      Descending{group_scores});
    for (int32_t i = 0; i < params.n_group_used; ++i) {
      for (int32_t e = 0; e < group_size; ++e) order.push_back(groups[i] * group_size + e);
    }
  } else {
    for (int32_t e = 0; e < n_expert; ++e) order.push_back(e);
  }
  std::partial_sort(order.begin(), order.begin() + k, order.end(), Descending{choice});

  float sum = 0.0f;
  for (int32_t i = 0; i < k; ++i) {
    expert_ids[i] = order[i];
    expert_weights[i] = scores[order[i]];
    sum += expert_weights[i];
  }
  for (int32_t i = 0; i < k; ++i) {
    if (params.normalize_top_k) expert_weights[i] /= sum + 1e-20f;
    expert_weights[i] *= params.weights_scale;
  }
}

}  // namespace sluice::ops
