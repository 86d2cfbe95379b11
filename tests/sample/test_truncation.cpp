// Top-k, top-p and min-p: draws never leave the allowed set, computed here from the weights the
// logits were built from, and every allowed token does come up.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "sample_test_support.h"

namespace sluice::sample {
namespace {

using testing::draw_counts;
using testing::logits_from_weights;
using testing::plain_params;
using testing::reference_softmax;

// Draws `n_draws` tokens and checks that exactly the tokens of `allowed` come up.
void expect_draws_within(Sampler& sampler, const std::vector<float>& logits,
                         const std::set<int32_t>& allowed, int n_draws) {
  const auto counts = draw_counts(sampler, logits, n_draws);
  for (size_t id = 0; id < counts.size(); ++id) {
    if (allowed.count(static_cast<int32_t>(id))) {
      EXPECT_GT(counts[id], 0) << "allowed token " << id << " never drawn";
    } else {
      EXPECT_EQ(counts[id], 0) << "token " << id << " is outside the allowed set";
    }
  }
}

TEST(TopK, KeepsTheKHighest) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  std::vector<float> logits(50);
  for (float& logit : logits) logit = uniform(rng);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });

  SamplingParams params = plain_params(5.0f);  // hot, so the tail would show up if kept
  params.top_k = 5;
  Sampler sampler(params);
  expect_draws_within(sampler, logits, {order.begin(), order.begin() + 5}, 4000);
}

// Weights by id: 0.05, 0.3, 0.15, 0.5, then 1000 tokens of 1e-6. The nucleus for p = 0.9 is
// {3, 1, 2} (0.5 + 0.3 + 0.15 = 0.95 of 1.001 total).
std::vector<float> nucleus_logits() {
  std::vector<float> logits = logits_from_weights({0.05, 0.3, 0.15, 0.5});
  logits.resize(1004, std::log(1e-6f));
  return logits;
}

TEST(TopP, NeverLeavesTheNucleus) {
  // Temperature comes after top-p: at T = 3 the tail holds most of the mass, and would be
  // drawn if the order were wrong.
  for (float temperature : {1.0f, 3.0f}) {
    SamplingParams params = plain_params(temperature);
    params.top_p = 0.9f;
    Sampler sampler(params);
    SCOPED_TRACE(temperature);
    expect_draws_within(sampler, nucleus_logits(), {1, 2, 3}, 3000);
  }
}

TEST(TopP, AfterTopK) {
  SamplingParams params = plain_params(1.0f);
  params.top_k = 3;  // {3, 1, 2}; renormalised 0.53, 0.32, 0.16: p = 0.8 keeps {3, 1}
  params.top_p = 0.8f;
  Sampler sampler(params);
  expect_draws_within(sampler, nucleus_logits(), {1, 3}, 2000);
}

// A nucleus of 601 tokens, past the 256 that top-p sorts first, in shuffled id order.
TEST(TopP, LargeNucleus) {
  const size_t n_vocab = 1000;
  std::vector<int32_t> rank_to_id(n_vocab);
  std::iota(rank_to_id.begin(), rank_to_id.end(), 0);
  std::mt19937 rng(11);
  for (size_t i = n_vocab - 1; i > 0; --i) std::swap(rank_to_id[i], rank_to_id[rng() % (i + 1)]);
  std::vector<float> logits(n_vocab);
  for (size_t rank = 0; rank < n_vocab; ++rank) logits[rank_to_id[rank]] = -0.002f * rank;

  const auto probs = reference_softmax(logits, 1.0);
  double cumulative = 0.0;
  std::vector<double> cumulative_by_rank;
  for (size_t rank = 0; rank < n_vocab; ++rank) {
    cumulative += probs[rank_to_id[rank]];
    cumulative_by_rank.push_back(cumulative);
  }
  const size_t last_kept_rank = 600;
  SamplingParams params = plain_params(1.0f);
  params.top_p = static_cast<float>(
      (cumulative_by_rank[last_kept_rank - 1] + cumulative_by_rank[last_kept_rank]) / 2);
  Sampler sampler(params);

  const auto counts = draw_counts(sampler, logits, 5000);
  int near_boundary = 0;
  for (size_t rank = 0; rank < n_vocab; ++rank) {
    const int count = counts[rank_to_id[rank]];
    if (rank > last_kept_rank) {
      EXPECT_EQ(count, 0) << "rank " << rank << " is outside the nucleus";
    }
    if (rank >= 550 && rank <= last_kept_rank) near_boundary += count;
  }
  EXPECT_GT(near_boundary, 100) << "the nucleus was cut short";  // about 230 expected
}

// Weights by id: 0.05, 0.4, 0.1, 0.3, 0.07, 0.06. min_p = 0.2 keeps p >= 0.08: {1, 2, 3}.
TEST(MinP, KeepsTokensAboveTheFractionOfTheMax) {
  const auto logits = logits_from_weights({0.05, 0.4, 0.1, 0.3, 0.07, 0.06});
  for (int32_t top_k : {0, 5}) {  // unsorted and sorted paths
    for (float temperature : {1.0f, 3.0f}) {
      SamplingParams params = plain_params(temperature);
      params.top_k = top_k;
      params.min_p = 0.2f;
      Sampler sampler(params);
      SCOPED_TRACE(::testing::Message() << "top_k " << top_k << " temperature " << temperature);
      expect_draws_within(sampler, logits, {1, 2, 3}, 3000);
    }
  }
}

TEST(MinP, OneKeepsOnlyTheMaximum) {
  const auto logits = logits_from_weights({0.2, 0.3, 0.3, 0.2});
  SamplingParams params = plain_params(1.0f);
  params.min_p = 1.0f;
  Sampler sampler(params);
  expect_draws_within(sampler, logits, {1, 2}, 1000);
}

}  // namespace
}  // namespace sluice::sample
