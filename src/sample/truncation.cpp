// Truncation samplers: top-k, top-p (nucleus) and min-p.
//
// Each narrows the candidate set and never reorders what it keeps except by sorting with
// by_logit_desc. They work on the logits as the penalties left them, before temperature, as in
// llama.cpp's default chain.
#include <algorithm>
#include <cmath>

#include "sample/candidates.h"

namespace sluice::sample {
namespace {

// top-p first sorts only this many candidates and sorts the rest only when the mass of these
// falls short of p; llama.cpp's top-p sampler uses the same bound.
constexpr size_t kTopPHead = 256;

}  // namespace

// Top-k, Fan et al. 2018; llama_sampler_top_k.
void top_k(CandidateSet& set, int32_t k) {
  if (k <= 0) return;
  const size_t keep = std::min(static_cast<size_t>(k), set.items.size());
  if (!set.sorted) {
    std::partial_sort(set.items.begin(), set.items.begin() + static_cast<ptrdiff_t>(keep),
                      set.items.end(), by_logit_desc);
    set.sorted = true;
  }
  set.items = set.items.first(keep);
}

// Nucleus sampling, Holtzman et al. 2019; llama_sampler_top_p: the probabilities
// are a softmax of the untempered logits over the current set, and the kept prefix is the
// shortest whose cumulative probability is >= p.
void top_p(CandidateSet& set, float p) {
  if (p >= 1.0f || set.items.size() <= 1) return;
  if (!softmax(set, 1.0f)) return;  // nothing finite: leave it to draw() to report

  const auto begin = set.items.begin();
  const auto end = set.items.end();
  const size_t head = std::min(kTopPHead, set.items.size());
  if (!set.sorted) {
    std::partial_sort(begin, begin + static_cast<ptrdiff_t>(head), end, by_logit_desc);
  }

  double cumulative = 0.0;
  size_t keep = set.items.size();
  for (size_t i = 0; i < set.items.size(); ++i) {
    if (i == head && !set.sorted) {
      // partial_sort put the `head` largest first, so sorting the tail completes the order.
      std::sort(begin + static_cast<ptrdiff_t>(head), end, by_logit_desc);
      set.sorted = true;
    }
    cumulative += set.items[i].p;
    if (cumulative >= p) {
      keep = i + 1;
      break;
    }
  }
  set.sorted = true;  // the kept prefix is sorted whichever way the loop ended
  set.items = set.items.first(keep);
}

// Min-p, Nguyen et al. 2024; llama_sampler_min_p: p_i >= p * p_max is
// logit_i >= logit_max + log(p), which needs no softmax.
void min_p(CandidateSet& set, float p) {
  if (p <= 0.0f || set.items.empty()) return;
  const float max_logit = set.sorted ? set.items.front().logit : set.items[argmax(set.items)].logit;
  const float min_logit = max_logit + std::log(p);

  if (set.sorted) {
    size_t keep = 1;  // the first always passes
    while (keep < set.items.size() && set.items[keep].logit >= min_logit) ++keep;
    set.items = set.items.first(keep);
    return;
  }
  // Unsorted: compact the survivors to the front, keeping their order.
  size_t keep = 0;
  for (const TokenCandidate& candidate : set.items) {
    if (candidate.logit >= min_logit) set.items[keep++] = candidate;
  }
  set.items = set.items.first(keep);
}

}  // namespace sluice::sample
