// Repetition, presence and frequency penalties over a window of recent tokens.
//
// One formula for all three, as llama.cpp's penalties sampler applies them
// (llama_sampler_penalties_apply in src/llama-sampling.cpp), for each token t seen c > 0 times:
//   logit_t = logit_t <= 0 ? logit_t * repeat_penalty : logit_t / repeat_penalty
//   logit_t -= c * frequency_penalty + (c > 0) * presence_penalty
// The second line is the OpenAI API's definition of presence and frequency penalties
// (API reference, "Frequency and presence penalties": mu[j] -= c[j] * alpha_frequency +
// float(c[j] > 0) * alpha_presence).
#include "sample/candidates.h"
#include "sample/sampler.h"
#include "util/error.h"

namespace sluice::sample {

void apply_penalties(std::span<TokenCandidate> by_id, std::span<const int32_t> window,
                     std::span<int32_t> token_count, const SamplingParams& params) {
  SLUICE_ASSERT(token_count.size() >= by_id.size());
  for (const int32_t token : window) ++token_count[static_cast<size_t>(token)];

  // Each distinct token is penalised once, the first time the window meets it; zeroing its count
  // then marks it done and restores the all-zero invariant of token_count.
  for (const int32_t token : window) {
    const int32_t count = token_count[static_cast<size_t>(token)];
    if (count == 0) continue;
    token_count[static_cast<size_t>(token)] = 0;

    float& logit = by_id[static_cast<size_t>(token)].logit;
    // Dividing a negative logit would make the token more likely, hence the multiply
    // (llama.cpp's fix to the "penalized sampling" of CTRL, Keskar et al. 2019).
    if (logit <= 0.0f) {
      logit *= params.repeat_penalty;
    } else {
      logit /= params.repeat_penalty;
    }
    logit -= static_cast<float>(count) * params.frequency_penalty + params.presence_penalty;
  }
}

}  // namespace sluice::sample
