// From logits to a token: argmax, softmax with temperature, and the inverse-CDF draw.
//
// Temperature is folded into the softmax, p_i = exp((logit_i - logit_max) / T) / Z, which is
// llama.cpp's temp sampler (logit /= T) followed by its dist sampler's softmax, but cannot
// overflow for tiny T: every exponent is <= 0.
#include <cmath>

#include "sample/candidates.h"
#include "util/error.h"

namespace sluice::sample {

size_t argmax(std::span<const TokenCandidate> items) {
  SLUICE_ASSERT(!items.empty());
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    if (by_logit_desc(items[i], items[best])) best = i;
  }
  return best;
}

bool softmax(CandidateSet& set, float temperature) {
  SLUICE_ASSERT(!set.items.empty() && temperature > 0.0f);
  const float max_logit = set.items[argmax(set.items)].logit;
  if (!std::isfinite(max_logit)) return false;

  double sum = 0.0;
  for (TokenCandidate& candidate : set.items) {
    candidate.p = std::exp((candidate.logit - max_logit) / temperature);
    sum += candidate.p;
  }
  // sum >= 1: the max contributes exp(0).
  for (TokenCandidate& candidate : set.items) {
    candidate.p = static_cast<float>(candidate.p / sum);
  }
  return true;
}

// llama_sampler_dist draws with `cumulative >= u * sum`; sluice uses `>` so that u == 0 cannot
// pick a leading zero-probability candidate, and falls back to the last candidate with p > 0
// when rounding leaves the total just short of u.
size_t draw(CandidateSet& set, float temperature, double u) {
  SLUICE_ASSERT(u >= 0.0 && u < 1.0);
  if (!softmax(set, temperature)) {
    throw Error("sampling: no candidate token has a finite logit");
  }
  double cumulative = 0.0;
  size_t last_nonzero = 0;
  for (size_t i = 0; i < set.items.size(); ++i) {
    if (set.items[i].p <= 0.0f) continue;
    last_nonzero = i;
    cumulative += set.items[i].p;
    if (cumulative > u) return i;
  }
  return last_nonzero;
}

}  // namespace sluice::sample
