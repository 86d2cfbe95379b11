// Matrix products over a batch of tokens, as prompt processing runs them, per weight format:
// the shapes of a Qwen3-30B-A3B layer during a 512-token prompt, an attention projection
// (2048 x 4096, all 512 tokens) and an expert's gate and down projections (2048 x 768 and
// 768 x 2048, 32 tokens each: 512 tokens x 8 of 128 experts), and the gate projection of an
// expert that a short prompt gives 4 tokens (39 tokens x 8 of 128 experts: 2.4 on average).
// Weights are hot (they are read once per batch and then reused from cache, so compute decides
// the speed), laid out as the engine's store lays out resident matrices: in groups of 8 rows
// where the instruction set groups the format (SLUICE_GROUP_ROWS=0 keeps plain rows).
//
// Reports GMAC/s (multiply-adds of weights by activations per second) and, for comparison
// with llama-bench, the prompt tokens per second this shape alone would allow. Threads: 1 and
// 2 (per-core speed without interference, and the machine's).
//
//   build/bin/matmul_bench [--benchmark_filter='Q4_K/.*']
#include <benchmark/benchmark.h>

#include <random>
#include <span>
#include <string>
#include <vector>

#include "ops/matmul.h"
#include "quant/fast/fast_dot.h"
#include "quant/interleaved_rows.h"
#include "quant/matrix_view.h"
#include "quant/random_blocks.h"

namespace {

using sluice::quant::GgmlType;
namespace fast = sluice::quant::fast;

struct Shape {
  const char* name;
  int64_t n_cols;
  int64_t n_rows;
  int64_t n_tokens;
};

void run_matmul(benchmark::State& state, GgmlType type, Shape shape, int threads, fast::Isa isa) {
  const size_t matrix_bytes = sluice::quant::row_bytes(type, static_cast<uint64_t>(shape.n_cols)) *
                              static_cast<size_t>(shape.n_rows);
  std::vector<std::byte> weights(matrix_bytes);
  sluice::quant::fill_random_blocks(type, std::span(weights), 1, 0.05f);
  std::vector<float> x(static_cast<size_t>(shape.n_cols * shape.n_tokens));
  std::vector<float> y(static_cast<size_t>(shape.n_rows * shape.n_tokens));
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);

  fast::set_isa(isa);
  sluice::ops::ThreadPool pool(threads);
  auto w = sluice::quant::make_matrix_view(type, weights.data(), shape.n_cols, shape.n_rows);
  if (fast::groups_rows(type) && sluice::quant::can_group_rows(type, shape.n_cols, shape.n_rows)) {
    sluice::quant::group_rows(w, weights.data());
    w.order = sluice::quant::RowOrder::kGroupsOf8;
  }
  for (auto _ : state) {
    sluice::ops::matmul(pool, w, x.data(), shape.n_tokens, y.data(), sluice::ops::ComputePath::kFast);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double macs = static_cast<double>(shape.n_cols * shape.n_rows * shape.n_tokens);
  state.counters["GMAC/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * macs / 1e9, benchmark::Counter::kIsRate);
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(state.iterations() * shape.n_tokens),
                                                  benchmark::Counter::kIsRate);
}

void register_all() {
  const GgmlType types[] = {GgmlType::Q4_K,   GgmlType::Q5_K,   GgmlType::Q6_K,    GgmlType::Q2_K,  GgmlType::Q3_K,
                            GgmlType::Q8_0,   GgmlType::Q4_0,   GgmlType::IQ4_XS,  GgmlType::MXFP4, GgmlType::IQ2_XXS,
                            GgmlType::IQ2_XS, GgmlType::IQ2_S,  GgmlType::IQ3_XXS, GgmlType::IQ3_S, GgmlType::IQ1_S,
                            GgmlType::IQ1_M,  GgmlType::TQ1_0,  GgmlType::TQ2_0,   GgmlType::Q4_1,  GgmlType::Q5_0,
                            GgmlType::Q5_1,   GgmlType::IQ4_NL, GgmlType::NVFP4,   GgmlType::BF16,  GgmlType::F16};
  const Shape shapes[] = {{"attn_q", 2048, 4096, 512},
                          {"expert_gate", 2048, 768, 32},
                          {"expert_down", 768, 2048, 32},
                          {"expert_gate_4", 2048, 768, 4}};
  for (GgmlType type : types) {
    if (!sluice::quant::can_fill_random(type)) continue;
    for (const Shape& shape : shapes) {
      if (shape.n_cols % sluice::quant::traits_of(type).block_size != 0) continue;
      for (int threads : {1, 2}) {
        for (fast::Isa isa : {fast::Isa::kAvx512, fast::Isa::kAvx2}) {
          if (!fast::cpu_supports(isa)) continue;
          const std::string name = std::string(sluice::quant::type_name(type)) + "/" + shape.name + "/t" +
                                   std::to_string(threads) + "/" + std::string(fast::isa_name(isa));
          benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_matmul(s, type, shape, threads, isa); })
              ->UseRealTime()
              ->MinTime(0.3);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
