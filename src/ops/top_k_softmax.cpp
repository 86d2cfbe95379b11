#include "ops/top_k_softmax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/error.h"

namespace sluice::ops {

void top_k_softmax(int32_t n_expert, int32_t k, const float* router_logits, int32_t* expert_ids,
                   float* expert_weights) {
  SLUICE_ASSERT(k > 0 && k <= n_expert);
  thread_local std::vector<int32_t> order;
  order.resize(static_cast<size_t>(n_expert));
  for (int32_t e = 0; e < n_expert; ++e) order[e] = e;
  const float* logits = router_logits;
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [logits](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const float max_logit = logits[order[0]];
  float sum = 0.0f;
  for (int32_t i = 0; i < k; ++i) {
    expert_ids[i] = order[i];
    expert_weights[i] = std::exp(logits[order[i]] - max_logit);
    sum += expert_weights[i];
  }
  const float inv_sum = 1.0f / sum;
  for (int32_t i = 0; i < k; ++i) expert_weights[i] *= inv_sum;
}

}  // namespace sluice::ops
