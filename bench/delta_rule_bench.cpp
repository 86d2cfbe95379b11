// The two forms of the gated delta rule over a prompt, at Qwen3.5-397B-A17B's head shapes (16
// key heads, 64 value heads, 128 x 128 state per head): the recurrence (what decoding runs)
// against the chunked form (what prompts run). Time per layer for the whole prompt.
//
//   build/bin/delta_rule_bench --benchmark_filter=512
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "ops/gated_delta_rule.h"

namespace {

using sluice::ops::GatedDeltaInputs;
using sluice::ops::GatedDeltaShape;

using DeltaForm = void (*)(sluice::ops::ThreadPool&, const GatedDeltaShape&,
                           const GatedDeltaInputs&, float*, float*);

void run_form(benchmark::State& state, DeltaForm form) {
  GatedDeltaShape shape;
  shape.n_k_heads = 16;
  shape.n_v_heads = 64;
  shape.head_k_dim = 128;
  shape.head_v_dim = 128;
  shape.sharing = sluice::ops::DeltaHeadSharing::kTiled;
  const int64_t n_tokens = state.range(0);
  const int64_t key_dim = shape.n_k_heads * shape.head_k_dim;
  const int64_t stride = 2 * key_dim + shape.n_v_heads * shape.head_v_dim;

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> any(-1.0f, 1.0f), decay(-1.5f, -0.01f), gate(0.0f, 1.0f);
  std::vector<float> qkv(static_cast<size_t>(n_tokens * stride));
  std::vector<float> g(static_cast<size_t>(n_tokens * shape.n_v_heads)), beta(g.size());
  for (float& x : qkv) x = any(rng);
  for (float& x : g) x = decay(rng);
  for (float& x : beta) x = gate(rng);
  std::vector<float> state_buf(static_cast<size_t>(sluice::ops::gated_delta_state_floats(shape)));
  std::vector<float> out(static_cast<size_t>(n_tokens * shape.n_v_heads * shape.head_v_dim));
  const GatedDeltaInputs in{qkv.data(), qkv.data() + key_dim, qkv.data() + 2 * key_dim, stride,
                            g.data(), beta.data(), n_tokens};
  sluice::ops::ThreadPool pool(2);
  for (auto _ : state) {
    form(pool, shape, in, state_buf.data(), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n_tokens), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(run_form, recurrent, &sluice::ops::gated_delta_rule_recurrent)
    ->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(run_form, chunked, &sluice::ops::gated_delta_rule_chunked)
    ->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
