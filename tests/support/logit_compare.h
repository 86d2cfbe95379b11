// Comparisons of logits [positions, n_vocab] with references, shared by the model tests, and
// a guard that restores the library's compute path when a test ends.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/matmul.h"

namespace sluice::testing {

inline int32_t argmax(const float* logits, int64_t n) {
  return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
}

// The largest |got - expected| and where it is; NaN counts as the largest.
struct MaxDiff {
  float value = 0.0f;
  size_t index = 0;
};

inline MaxDiff max_abs_diff(const std::vector<float>& got, const std::vector<float>& expected) {
  MaxDiff worst;
  for (size_t i = 0; i < got.size() && i < expected.size(); ++i) {
    const float diff = std::fabs(got[i] - expected[i]);
    if (!(diff <= worst.value)) worst = {diff, i};
  }
  return worst;
}

// How an approximate computation (the fast path) follows an exact reference.
struct Agreement {
  double rms_over_std = 0.0;  // RMS difference divided by the reference's standard deviation
  double same_argmax = 0.0;   // share of positions with the same top token
};

inline Agreement compare_logits(const std::vector<float>& got, const std::vector<float>& reference,
                                int64_t n_vocab) {
  double sum = 0.0, sum_sq = 0.0, diff_sq = 0.0;
  for (size_t i = 0; i < reference.size(); ++i) {
    sum += reference[i];
    sum_sq += double{reference[i]} * reference[i];
    diff_sq += (double{got[i]} - reference[i]) * (double{got[i]} - reference[i]);
  }
  const auto n = static_cast<double>(reference.size());
  const double std_dev = std::sqrt(sum_sq / n - (sum / n) * (sum / n));
  int64_t same = 0;
  const auto positions = static_cast<int64_t>(reference.size()) / n_vocab;
  for (int64_t p = 0; p < positions; ++p) {
    same += argmax(got.data() + p * n_vocab, n_vocab) == argmax(reference.data() + p * n_vocab, n_vocab);
  }
  return {std::sqrt(diff_sq / n) / std_dev,
          static_cast<double>(same) / static_cast<double>(positions)};
}

// Sets the library's compute path for a scope and restores the previous one after.
class ComputePathScope {
 public:
  explicit ComputePathScope(ops::ComputePath path) : saved_(ops::compute_path()) {
    ops::set_compute_path(path);
  }
  ~ComputePathScope() { ops::set_compute_path(saved_); }
  ComputePathScope(const ComputePathScope&) = delete;
  ComputePathScope& operator=(const ComputePathScope&) = delete;

 private:
  ops::ComputePath saved_;
};

}  // namespace sluice::testing
