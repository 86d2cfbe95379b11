// Helpers shared by the sampler tests: parameter presets, a reference softmax written
// independently of sample/, and a chi-square statistic for comparing draws with it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "sample/sampler.h"

namespace sluice::sample::testing {

// Every filter and penalty off, fixed seed: draws follow softmax(logits / temperature).
inline SamplingParams plain_params(float temperature, uint64_t seed = 1234) {
  SamplingParams params;
  params.temperature = temperature;
  params.top_k = 0;
  params.top_p = 1.0f;
  params.min_p = 0.0f;
  params.seed = seed;
  return params;
}

inline SamplingParams greedy_params() { return plain_params(0.0f); }

// softmax(logits / temperature) in double.
inline std::vector<double> reference_softmax(std::span<const float> logits, double temperature) {
  double max_logit = -INFINITY;
  for (float logit : logits) max_logit = std::max(max_logit, static_cast<double>(logit));
  std::vector<double> probs;
  double sum = 0.0;
  for (float logit : logits) {
    probs.push_back(std::exp((logit - max_logit) / temperature));
    sum += probs.back();
  }
  for (double& p : probs) p /= sum;
  return probs;
}

// Logits whose softmax is proportional to `weights`.
inline std::vector<float> logits_from_weights(std::initializer_list<double> weights) {
  std::vector<float> logits;
  for (double w : weights) logits.push_back(static_cast<float>(std::log(w)));
  return logits;
}

// How often each token comes out of `n_draws` calls.
inline std::vector<int> draw_counts(Sampler& sampler, std::span<const float> logits, int n_draws,
                                    std::span<const int32_t> history = {}) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < n_draws; ++i) {
    ++counts.at(static_cast<size_t>(sampler.sample(logits, history)));
  }
  return counts;
}

// Pearson's chi-square of observed counts against expected probabilities.
inline double chi_square(std::span<const int> counts, std::span<const double> probs) {
  double n = 0.0;
  for (int c : counts) n += c;
  double statistic = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double expected = n * probs[i];
    statistic += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return statistic;
}

// Upper 0.1% points of the chi-square distribution for 1..9 degrees of freedom
// (NIST/SEMATECH e-Handbook of Statistical Methods, table 1.3.6.7.4).
inline double chi_square_critical_999(size_t degrees_of_freedom) {
  static constexpr double kTable[] = {10.828, 13.816, 16.266, 18.467, 20.515,
                                      22.458, 24.322, 26.124, 27.877};
  return kTable[degrees_of_freedom - 1];
}

}  // namespace sluice::sample::testing
