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

[[noreturn]] void throw_nan(std::span<const float> logits) {
  const auto nan = std::find_if(logits.begin(), logits.end(), [](float x) { return std::isnan(x); });
  throw Error("sampling: logit of token " + std::to_string(nan - logits.begin()) + " is NaN");
}

// Greedy decoding without penalties: the highest logit, the lowest id among equals (as
// by_logit_desc orders them), straight from the logits. One pass of 16 lanes (GCC vector
// extensions, locals only) that each keep their maximum, its first id and whether they saw a
// NaN. Building the candidate list first took 170 microseconds per token over a 151936-token
// vocabulary, this 18 (one core).
int32_t first_maximum(std::span<const float> logits) {
  using Floats = float __attribute__((vector_size(64)));
  using Ints = int32_t __attribute__((vector_size(64)));
  constexpr int32_t kLanes = 16;
  const auto n = static_cast<int32_t>(logits.size());  // <= INT32_MAX, checked by sample()
  Floats lane_max = Floats{} - INFINITY;
  Ints lane_id = {}, lane_nan = {};
  Ints id = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  int32_t i = 0;
  for (; i <= n - kLanes; i += kLanes, id += kLanes) {
    Floats x;
    __builtin_memcpy(&x, logits.data() + i, sizeof(x));
    lane_nan |= x != x;
    const Ints higher = x > lane_max;
    lane_max = higher ? x : lane_max;
    lane_id = higher ? id : lane_id;
  }
  bool any_nan = false;
  int32_t best = 0;
  float best_logit = -INFINITY;
  for (int32_t l = 0; l < kLanes; ++l) {
    any_nan |= lane_nan[l] != 0;
    if (lane_max[l] > best_logit || (lane_max[l] == best_logit && lane_id[l] < best)) {
      best_logit = lane_max[l];
      best = lane_id[l];
    }
  }
  for (; i < n; ++i) {
    any_nan |= std::isnan(logits[i]);
    if (logits[i] > best_logit) {
      best_logit = logits[i];
      best = i;
    }
  }
  if (any_nan) throw_nan(logits);
  return best;  // all -inf (every token masked): token 0, as argmax gives
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

  if (params_.temperature <= 0.0f && !penalties_active(params_)) return first_maximum(logits);

  candidates_.resize(n_vocab);
  for (size_t id = 0; id < n_vocab; ++id) {
    if (std::isnan(logits[id])) throw_nan(logits);
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
