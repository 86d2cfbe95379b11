// The steps of the sampling chain, each a function over the surviving candidates.
//
// Kept apart from Sampler so that every step reads on its own and can be tested with inputs
// chosen by hand. Each step mirrors the llama.cpp sampler of the same name
// (src/llama-sampling.cpp); where sluice differs (tie-breaking, the final draw) the function's
// comment says so. Nothing here allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::sample {

struct SamplingParams;

struct TokenCandidate {
  int32_t id;
  float logit;
  float p;  // probability, valid only right after softmax()
};

// The candidates still in play: a prefix of the sampler's scratch buffer.
struct CandidateSet {
  std::span<TokenCandidate> items;
  // Ordered by logit descending, ties by id ascending (by_logit_desc).
  bool sorted = false;
};

// The one ordering used everywhere, so that ties break towards the lowest id as greedy does.
inline bool by_logit_desc(const TokenCandidate& a, const TokenCandidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Repetition, presence and frequency penalties on the tokens of `window`.
// `by_id` must be indexed by token id (by_id[t].id == t) and `token_count` must hold zeros for
// every id; it holds zeros again on return. Every id in `window` must be < by_id.size().
void apply_penalties(std::span<TokenCandidate> by_id, std::span<const int32_t> window,
                     std::span<int32_t> token_count, const SamplingParams& params);

// Index into `items` of the highest logit, the lowest id on ties.
size_t argmax(std::span<const TokenCandidate> items);

// Keeps the k highest logits (k <= 0 disables); leaves the set sorted when it acts.
void top_k(CandidateSet& set, int32_t k);

// Keeps the smallest prefix, by probability, whose mass reaches p (p >= 1 disables).
void top_p(CandidateSet& set, float p);

// Keeps the tokens with probability >= p * max probability (p <= 0 disables).
void min_p(CandidateSet& set, float p);

// Sets each .p to softmax(logit / temperature) over the set; temperature > 0.
// Returns false (and leaves .p unspecified) when no candidate has a finite logit.
bool softmax(CandidateSet& set, float temperature);

// Softmax at `temperature` (> 0), then the candidate whose cumulative probability first
// exceeds u, for u in [0, 1). Returns an index into set.items; throws sluice::Error when no
// candidate has a finite logit.
size_t draw(CandidateSet& set, float temperature, double u);

}  // namespace sluice::sample
