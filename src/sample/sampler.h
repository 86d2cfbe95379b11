// The token sampler: turns one row of logits into the next token.
//
// Public face of sample/. The chain and its order follow llama.cpp's default sampler chain
// (common/sampling.cpp): penalties -> top-k -> top-p -> min-p -> temperature -> draw. The
// steps themselves live in candidates.h; this class owns the parameters, the scratch buffers
// (reused across calls, so sampling allocates nothing after the first call) and the RNG.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "sample/candidates.h"

namespace sluice::sample {

// llama.cpp's LLAMA_DEFAULT_SEED: "pick a random seed".
inline constexpr uint64_t kRandomSeed = 0xFFFFFFFF;

struct SamplingParams {
  float temperature = 0.8f;  // <= 0 means greedy
  int32_t top_k = 40;        // <= 0 disables
  float top_p = 0.95f;       // >= 1 disables
  float min_p = 0.05f;       // <= 0 disables
  // llama.cpp semantics: divide positive logits, multiply negative ones.
  float repeat_penalty = 1.0f;
  // Window of recent tokens the penalties look at (0 disables, -1 = whole history).
  int32_t repeat_last_n = 64;
  // OpenAI semantics: logit -= presence * (count > 0) + frequency * count.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // kRandomSeed draws a seed from std::random_device; any other value is deterministic.
  uint64_t seed = kRandomSeed;

  // Throws sluice::Error naming the first bad parameter and its value.
  void validate() const;
};

class Sampler {
 public:
  // Validates `params` (throws sluice::Error) and seeds the RNG.
  explicit Sampler(const SamplingParams& params);

  // Picks the next token from `logits` (n_vocab values; not modified), given the tokens so far
  // (prompt + generated) for the penalties. Greedy returns the argmax (lowest id on ties).
  // Throws sluice::Error on empty or NaN logits, a token of the penalty window outside
  // [0, n_vocab), or when sampling at temperature > 0 and no candidate has a finite logit.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplingParams& params() const { return params_; }

 private:
  // A uniform double in [0, 1) from two 32-bit draws.
  double next_uniform();

  SamplingParams params_;
  std::mt19937 rng_;
  std::vector<TokenCandidate> candidates_;  // n_vocab entries, reused across calls
  std::vector<int32_t> token_count_;        // n_vocab zeros between calls (penalty counts)
};

}  // namespace sluice::sample
