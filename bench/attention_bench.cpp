// Causal attention at Qwen3-30B-A3B's head shapes (32 query heads, 4 KV heads, head_dim 128)
// on one and two threads: a 512-token prompt from position 0, and one decoded token after
// 4000 cached ones. Time per layer.
//
//   build/bin/attention_bench
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/attention.h"

namespace {

void run_attention(benchmark::State& state) {
  const int64_t n_tokens = state.range(0);
  const int64_t first_pos = state.range(1);
  const int n_threads = static_cast<int>(state.range(2));
  sluice::ops::AttentionShape shape;
  shape.n_head = 32;
  shape.n_head_kv = 4;
  shape.head_dim_k = 128;
  shape.head_dim_v = 128;
  shape.scale = 1.0f / std::sqrt(128.0f);
  const int64_t n_pos = first_pos + n_tokens;

  std::mt19937 rng(1);
  std::normal_distribution<float> any(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(n_tokens * shape.n_head * shape.head_dim_k));
  std::vector<float> k(static_cast<size_t>(n_pos * shape.n_head_kv * shape.head_dim_k));
  std::vector<float> v(static_cast<size_t>(n_pos * shape.n_head_kv * shape.head_dim_v));
  for (float& x : q) x = any(rng);
  for (float& x : k) x = any(rng);
  for (float& x : v) x = any(rng);
  std::vector<float> out(static_cast<size_t>(n_tokens * shape.n_head * shape.head_dim_v));
  sluice::ops::ThreadPool pool(n_threads);
  for (auto _ : state) {
    sluice::ops::causal_attention(pool, shape, q.data(), n_tokens, first_pos, k.data(), v.data(),
                                  out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(n_tokens),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(run_attention)
    ->ArgNames({"tokens", "first_pos", "threads"})
    ->ArgsProduct({{512}, {0}, {1, 2}})
    ->ArgsProduct({{1}, {150, 4000}, {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
