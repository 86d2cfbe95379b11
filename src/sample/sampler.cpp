// Sampler: runs llama.cpp's default chain over reusable scratch buffers with a seeded RNG.
#include "sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "util/error.h"

namespace sluice::sample {
namespace {

// llama.cpp's get_rng_seed: kRandomSeed asks std::random_device for one. Seeds that fit in
// 32 bits seed std::mt19937 directly, as llama.cpp's uint32_t seed does; wider ones go through
// std::seed_seq so that their high half counts too. Both are specified exactly by the standard,
// so a seed gives the same stream on every platform.
std::mt19937 make_rng(uint64_t seed) {
  if (seed == kRandomSeed) return std::mt19937(std::random_device{}());
  if (seed <= 0xFFFFFFFFu) return std::mt19937(static_cast<uint32_t>(seed));
  std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  return std::mt19937(sequence);
}

bool penalties_active(const SamplingParams& params) {
  return params.repeat_last_n != 0 &&
         (params.repeat_penalty != 1.0f || params.presence_penalty != 0.0f ||
          params.frequency_penalty != 0.0f);
}

}  // namespace

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  params_.validate();
  rng_ = make_rng(params_.seed);
}

// (r1 + r2 * 2^32) / 2^64, which is what libstdc++'s std::generate_canonical<double, 53> and so
// llama.cpp's std::uniform_real_distribution<double>(0, 1) compute; written out because the
// standard leaves distributions implementation-defined.
double Sampler::next_uniform() {
  const double low = static_cast<double>(rng_());
  const double high = static_cast<double>(rng_());
  const double u = (low + high * 0x1p32) * 0x1p-64;
  return u < 1.0 ? u : std::nextafter(1.0, 0.0);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (logits.empty()) throw Error("sampling: empty logits");
  SLUICE_ASSERT(logits.size() <= static_cast<size_t>(INT32_MAX));
  const size_t n_vocab = logits.size();

  candidates_.resize(n_vocab);
  for (size_t id = 0; id < n_vocab; ++id) {
    if (std::isnan(logits[id])) {
      throw Error("sampling: logit of token " + std::to_string(id) + " is NaN");
    }
    candidates_[id] = TokenCandidate{static_cast<int32_t>(id), logits[id], 0.0f};
  }

  if (penalties_active(params_)) {
    const size_t last_n =
        params_.repeat_last_n < 0
            ? history.size()
            : std::min(history.size(), static_cast<size_t>(params_.repeat_last_n));
    const auto window = history.last(last_n);
    for (size_t i = 0; i < window.size(); ++i) {
      if (window[i] < 0 || static_cast<size_t>(window[i]) >= n_vocab) {
        throw Error("sampling: history token " + std::to_string(window[i]) + " at position " +
                    std::to_string(history.size() - last_n + i) + " is outside the vocabulary (" +
                    std::to_string(n_vocab) + " tokens)");
      }
    }
    token_count_.resize(n_vocab, 0);
    apply_penalties(candidates_, window, token_count_, params_);
  }

  CandidateSet set{candidates_};
  if (params_.temperature <= 0.0f) return set.items[argmax(set.items)].id;

  top_k(set, params_.top_k);
  top_p(set, params_.top_p);
  min_p(set, params_.min_p);
  return set.items[draw(set, params_.temperature, next_uniform())].id;
}

}  // namespace sluice::sample
