// Matrix-vector products (one token, as in decoding) per weight format and instruction set,
// reported as GB/s of weight bytes and as a fraction of the machine's measured memory read
// bandwidth: ops::matmul on 2 threads (THREADS=N for another count) over three shapes (n_cols x n_rows), 4096 x 14336
// (a dense FFN up projection) and one Qwen3-30B-A3B expert, 2048 x 768 (gate, up) and 768 x 2048 (down).
//
// "cold" cycles through enough copies of the matrix (>= 1 GiB) that every call reads its
// weights from memory, as decoding does; "hot" repeats one matrix (cache-resident when it
// fits). Cold cases read groups of rows as two streams, hot ones as one unless the matrix is
// larger than the caches, as the engine does for models larger and smaller than the caches
// (quant::fast::two_streams). Paths: the fast path on each instruction set the CPU has, and
// the exact path.
//
// "moe_layer/TYPE/cold" runs the expert products of one decoded token in one MoE layer as the
// engine groups them (moe_block): the gate and up products of 8 Qwen3-30B-A3B experts in one
// matmul_many call, then their 8 down products in another, each call over matrices no other
// call of the last ~1 GiB read.
//
// Memory bandwidth (the same threads summing a 1 GiB buffer, best of 5) is measured once at
// start-up and printed, and again by every cold case over its own weights, just before and
// just after its timed loop: this machine's bandwidth drifts by a third from minute to minute.
// Cold cases report `mem_bw`, the larger of their two figures, and `of_mem_bw`, their GB/s
// over it (above 1 when the bandwidth was higher during the case than at either end); hot
// cases report `of_mem_bw` against the start-up figure, and `read_bw`, the same threads
// reading the matrix's bytes again and again and doing nothing else (measure_read_bandwidth),
// with `of_read`, their GB/s over it.
//
//   build/bin/matvec_bench [--benchmark_filter='Q4_K/.*/cold/fast_avx512']
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ops/matmul.h"
#include "quant/fast/fast_dot.h"
#include "quant/interleaved_rows.h"
#include "quant/matrix_view.h"
#include "quant/random_blocks.h"
#include "util/large_buffer.h"

namespace {

using sluice::ops::ComputePath;
using sluice::quant::GgmlType;
namespace fast = sluice::quant::fast;

// Threads of every matvec: 2, or THREADS from the environment.
int bench_threads() {
  static const int n = [] {
    const char* env = std::getenv("THREADS");
    return env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 2;
  }();
  return n;
}
constexpr size_t kColdBytes = size_t{1} << 30;
// A matrix above this is read from memory even when repeated (this machine's two cores have
// 1 MiB of second-level cache and 16 MiB of third-level cache each at most), so its hot case
// reads two streams, as the engine reads any model made of such matrices. Q8_0 4096 x 14336
// (62 MB) is above it, the 4.5-bit formats at that shape (33 MB) below.
constexpr size_t kBeyondCachesBytes = size_t{48} << 20;

struct Shape {
  int64_t n_cols;
  int64_t n_rows;
};

// Plain reads with the widest vectors the CPU has: a read of cache-resident bytes with narrower
// loads (the compiler's own vectorization here is SSE2) tops out below what the kernels reach.
[[gnu::target("avx512f")]] uint64_t sum_words_avx512(const uint64_t* p, size_t n) {
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    for (int k = 0; k < 4; ++k) acc[k] = _mm512_add_epi64(acc[k], _mm512_loadu_si512(p + i + 8 * k));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(acc[0], acc[1]), _mm512_add_epi64(acc[2], acc[3])));
  uint64_t sum = 0;
  for (const uint64_t lane : lanes) sum += lane;
  for (; i < n; ++i) sum += p[i];
  return sum;
}
[[gnu::target("avx2")]] uint64_t sum_words_avx2(const uint64_t* p, size_t n) {
  __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 4; ++k) {
      acc[k] = _mm256_add_epi64(acc[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4 * k)));
    }
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])));
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) sum += p[i];
  return sum;
}
uint64_t sum_words(const uint64_t* p, size_t n) {
  static const auto sum = __builtin_cpu_supports("avx512f") ? sum_words_avx512
                          : __builtin_cpu_supports("avx2")  ? sum_words_avx2
                                                            : [](const uint64_t* q, size_t m) {
                                                               uint64_t total = 0;
                                                               for (size_t i = 0; i < m; ++i) total += q[i];
                                                               return total;
                                                             };
  return sum(p, n);
}

// The threads reading `bytes` with nothing else to do, each its own contiguous part, again and
// again until a pass has read >= 256 MiB (once, for a buffer that large); best of 5 passes,
// one pool job each. Bytes per second. Over a buffer far larger than the caches (in huge
// pages, as the weights) it is the memory's read bandwidth, the most a streaming matvec can
// reach; over one matrix it is a hot case's ceiling, and a hot matvec near it is bound by the
// caches' bandwidth, not by its arithmetic.
double measure_read_bandwidth(sluice::ops::ThreadPool& pool, std::span<const std::byte> bytes) {
  const auto words = std::span(reinterpret_cast<const uint64_t*>(bytes.data()), bytes.size() / sizeof(uint64_t));
  const int64_t rereads = std::max<int64_t>(1, static_cast<int64_t>((size_t{256} << 20) / bytes.size()));
  std::vector<uint64_t> sums(static_cast<size_t>(pool.size()));
  double best = 0.0;
  for (int pass = 0; pass < 5; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(static_cast<int64_t>(words.size()), [&](int64_t begin, int64_t end, int thread) {
      uint64_t sum = 0;  // stored once: the threads' sums share a cache line
      for (int64_t r = 0; r < rereads; ++r) sum += sum_words(words.data() + begin, static_cast<size_t>(end - begin));
      sums[static_cast<size_t>(thread)] += sum;
    });
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    best = std::max(best, static_cast<double>(words.size_bytes()) * static_cast<double>(rereads) / seconds.count());
  }
  benchmark::DoNotOptimize(sums.data());
  return best;
}

double& memory_bandwidth() {
  static double bytes_per_second = 0.0;
  return bytes_per_second;
}

// The memory read bandwidth over a cold case's weights (>= 1 GiB, in huge pages).
double measure_over(sluice::ops::ThreadPool& pool, const sluice::LargeBuffer& weights) {
  return measure_read_bandwidth(pool, std::span(weights.data(), weights.size()));
}

// GB/s of weight bytes read, `bytes_per_iteration` each, and that as a fraction of the memory
// read bandwidth: `bandwidth` (bytes per second) measured around the case, else the start-up
// figure.
void report_weight_throughput(benchmark::State& state, size_t bytes_per_iteration, double bandwidth = 0.0) {
  const auto bytes = static_cast<double>(state.iterations()) * static_cast<double>(bytes_per_iteration);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  if (bandwidth > 0.0) {
    state.counters["mem_bw"] = bandwidth / 1e9;
  } else {
    bandwidth = memory_bandwidth();
  }
  if (bandwidth > 0.0) state.counters["of_mem_bw"] = benchmark::Counter(bytes / bandwidth, benchmark::Counter::kIsRate);
}

// The weights' layout: what the engine's store does for `type` on the active instruction set
// (rows in groups of 8 where groups_rows holds: SLUICE_GROUP_ROWS=1 groups them wherever
// the set has a group kernel), or plain rows.
enum class Layout { kEngine, kPlainRows };

// Lays `count` matrices of n_rows x n_cols at `data` out as the engine would; returns the order.
sluice::quant::RowOrder lay_out(GgmlType type, Layout layout, std::byte* data, int64_t n_cols, int64_t n_rows,
                                size_t count) {
  if (layout == Layout::kPlainRows || !fast::groups_rows(type) ||
      !sluice::quant::can_group_rows(type, n_cols, n_rows)) {
    return sluice::quant::RowOrder::kRows;
  }
  const size_t matrix_bytes =
      sluice::quant::row_bytes(type, static_cast<uint64_t>(n_cols)) * static_cast<size_t>(n_rows);
  for (size_t m = 0; m < count; ++m) {
    std::byte* bytes = data + m * matrix_bytes;
    sluice::quant::group_rows(sluice::quant::make_matrix_view(type, bytes, n_cols, n_rows), bytes);
  }
  return sluice::quant::RowOrder::kGroupsOf8;
}

void run_matvec(benchmark::State& state, GgmlType type, Shape shape, bool cold, bool exact, fast::Isa isa,
                Layout layout) {
  const size_t matrix_bytes = sluice::quant::row_bytes(type, static_cast<uint64_t>(shape.n_cols)) *
                              static_cast<size_t>(shape.n_rows);
  const size_t n_copies = cold ? (kColdBytes + matrix_bytes - 1) / matrix_bytes : 1;
  sluice::LargeBuffer weights(matrix_bytes * n_copies);  // huge pages, as the engine's weights
  sluice::quant::fill_random_blocks(type, std::span(weights.data(), matrix_bytes), 1, 0.05f);
  fast::set_isa(isa);
  fast::set_two_streams(cold || matrix_bytes > kBeyondCachesBytes);
  const sluice::quant::RowOrder order =
      exact ? sluice::quant::RowOrder::kRows : lay_out(type, layout, weights.data(), shape.n_cols, shape.n_rows, 1);
  for (size_t c = 1; c < n_copies; ++c) {
    std::memcpy(weights.data() + c * matrix_bytes, weights.data(), matrix_bytes);
  }
  std::vector<float> x(static_cast<size_t>(shape.n_cols)), y(static_cast<size_t>(shape.n_rows));
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);

  sluice::ops::ThreadPool pool(bench_threads());
  const ComputePath path = exact ? ComputePath::kExact : ComputePath::kFast;
  const double bandwidth_before = cold ? measure_over(pool, weights) : 0.0;
  size_t copy = 0;
  for (auto _ : state) {
    auto w = sluice::quant::make_matrix_view(type, weights.data() + copy * matrix_bytes, shape.n_cols, shape.n_rows);
    w.order = order;
    sluice::ops::matmul(pool, w, x.data(), 1, y.data(), path);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    copy = copy + 1 == n_copies ? 0 : copy + 1;
  }
  report_weight_throughput(state, matrix_bytes, cold ? std::max(bandwidth_before, measure_over(pool, weights)) : 0.0);
  if (!cold) {
    const double ceiling = measure_read_bandwidth(pool, std::span(weights.data(), matrix_bytes));
    state.counters["read_bw"] = ceiling / 1e9;
    state.counters["of_read"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(matrix_bytes) / ceiling,
                           benchmark::Counter::kIsRate);
  }
}

// The 24 expert matrices of a layer (8 gate, 8 up, 8 down), laid one after another and
// repeated over >= 1 GiB of layers; each iteration runs the next layer.
void run_moe_layer(benchmark::State& state, GgmlType type, fast::Isa isa, Layout layout) {
  constexpr int kExperts = 8;
  constexpr int64_t kEmbd = 2048, kFf = 768;
  const size_t matrix_bytes = sluice::quant::row_bytes(type, kEmbd) * kFf;  // the same for down's shape
  const size_t layer_bytes = 3 * kExperts * matrix_bytes;
  const size_t n_layers = (kColdBytes + layer_bytes - 1) / layer_bytes;
  sluice::LargeBuffer weights(layer_bytes * n_layers);
  sluice::quant::fill_random_blocks(type, std::span(weights.data(), layer_bytes), 1, 0.05f);
  fast::set_isa(isa);
  const sluice::quant::RowOrder gate_up_order = lay_out(type, layout, weights.data(), kEmbd, kFf, 2 * kExperts);
  const sluice::quant::RowOrder down_order =
      lay_out(type, layout, weights.data() + 2 * kExperts * matrix_bytes, kFf, kEmbd, kExperts);
  for (size_t c = 1; c < n_layers; ++c) std::memcpy(weights.data() + c * layer_bytes, weights.data(), layer_bytes);
  std::vector<float> x(kEmbd), hidden(kExperts * 2 * kFf), out(kExperts * kEmbd);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  for (float& v : hidden) v = normal(rng);

  fast::set_two_streams(true);
  sluice::ops::ThreadPool pool(bench_threads());
  std::vector<sluice::quant::MatrixView> views(3 * kExperts);
  std::vector<sluice::ops::MatmulTask> gate_up(2 * kExperts), down(kExperts);
  const double bandwidth_before = measure_over(pool, weights);
  size_t layer = 0;
  for (auto _ : state) {
    const std::byte* base = weights.data() + layer * layer_bytes;
    for (int m = 0; m < 3 * kExperts; ++m) {
      const bool is_down = m >= 2 * kExperts;
      views[m] = sluice::quant::make_matrix_view(type, base + m * matrix_bytes, is_down ? kFf : kEmbd,
                                                 is_down ? kEmbd : kFf);
      views[m].order = is_down ? down_order : gate_up_order;
    }
    for (int m = 0; m < 2 * kExperts; ++m) gate_up[m] = {&views[m], x.data(), 1, hidden.data() + m * kFf};
    for (int e = 0; e < kExperts; ++e) {
      down[e] = {&views[2 * kExperts + e], hidden.data() + 2 * e * kFf, 1, out.data() + e * kEmbd};
    }
    sluice::ops::matmul_many(pool, gate_up, ComputePath::kFast);
    sluice::ops::matmul_many(pool, down, ComputePath::kFast);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    layer = layer + 1 == n_layers ? 0 : layer + 1;
  }
  report_weight_throughput(state, layer_bytes, std::max(bandwidth_before, measure_over(pool, weights)));
}

// Whether `isa` lays `type` out in groups (then "_rows" cases measure plain rows beside it).
bool has_group_kernel(GgmlType type, fast::Isa isa) {
  const fast::Isa active = fast::active_isa();
  fast::set_isa(isa);
  const bool grouped = fast::groups_rows(type);
  fast::set_isa(active);
  return grouped;
}

void register_all() {
  const GgmlType types[] = {
      GgmlType::Q8_0,  GgmlType::Q4_K,   GgmlType::Q6_K,    GgmlType::Q5_K,   GgmlType::Q4_0,  GgmlType::Q2_K,
      GgmlType::Q3_K,  GgmlType::IQ4_XS, GgmlType::IQ2_XXS, GgmlType::MXFP4,  GgmlType::IQ1_S, GgmlType::IQ1_M,
      GgmlType::TQ1_0, GgmlType::IQ3_XXS, GgmlType::IQ3_S,  GgmlType::IQ2_XS, GgmlType::IQ2_S, GgmlType::TQ2_0,
      GgmlType::NVFP4, GgmlType::Q4_1,   GgmlType::Q5_0,    GgmlType::Q5_1,   GgmlType::IQ4_NL, GgmlType::BF16,
      GgmlType::F16,   GgmlType::F32};
  const Shape shapes[] = {{4096, 14336}, {2048, 768}, {768, 2048}};
  std::vector<fast::Isa> isas;
  for (fast::Isa isa : {fast::Isa::kAvx512, fast::Isa::kAvx2, fast::Isa::kScalar}) {
    if (fast::cpu_supports(isa)) isas.push_back(isa);
  }
  for (GgmlType type : types) {
    if (!sluice::quant::can_fill_random(type)) continue;
    if (2048 % sluice::quant::traits_of(type).block_size == 0 && 768 % sluice::quant::traits_of(type).block_size == 0) {
      const std::string base = "moe_layer/" + std::string(sluice::quant::type_name(type)) + "/cold/fast_" +
                               std::string(fast::isa_name(isas.front()));
      benchmark::RegisterBenchmark(base.c_str(),
                                   [=](benchmark::State& s) { run_moe_layer(s, type, isas.front(), Layout::kEngine); })
          ->UseRealTime()
          ->MinTime(0.3);
      if (has_group_kernel(type, isas.front())) {
        benchmark::RegisterBenchmark(
            (base + "_rows").c_str(),
            [=](benchmark::State& s) { run_moe_layer(s, type, isas.front(), Layout::kPlainRows); })
            ->UseRealTime()
            ->MinTime(0.3);
      }
    }
    for (const Shape& shape : shapes) {
      if (shape.n_cols % sluice::quant::traits_of(type).block_size != 0) continue;
      for (bool cold : {true, false}) {
        const std::string base = std::string(sluice::quant::type_name(type)) + "/" + std::to_string(shape.n_cols) +
                                 "x" + std::to_string(shape.n_rows) + (cold ? "/cold" : "/hot");
        for (fast::Isa isa : isas) {
          const std::string name = base + "/fast_" + std::string(fast::isa_name(isa));
          benchmark::RegisterBenchmark(
              name.c_str(), [=](benchmark::State& s) { run_matvec(s, type, shape, cold, false, isa, Layout::kEngine); })
              ->UseRealTime()
              ->MinTime(0.3);
          if (has_group_kernel(type, isa)) {
            benchmark::RegisterBenchmark(
                (name + "_rows").c_str(),
                [=](benchmark::State& s) { run_matvec(s, type, shape, cold, false, isa, Layout::kPlainRows); })
                ->UseRealTime()
                ->MinTime(0.3);
          }
        }
        benchmark::RegisterBenchmark(
            (base + "/exact").c_str(),
            [=](benchmark::State& s) { run_matvec(s, type, shape, cold, true, isas.front(), Layout::kPlainRows); })
            ->UseRealTime()
            ->MinTime(0.3);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  {
    sluice::LargeBuffer buffer(kColdBytes);
    const std::span words(reinterpret_cast<uint64_t*>(buffer.data()), kColdBytes / sizeof(uint64_t));
    std::fill(words.begin(), words.end(), uint64_t{1});
    sluice::ops::ThreadPool pool(bench_threads());
    memory_bandwidth() = measure_read_bandwidth(pool, std::as_bytes(words));
  }
  std::printf("memory read bandwidth (%d threads, best of 5 over 1 GiB): %.2f GB/s\n", bench_threads(),
              memory_bandwidth() / 1e9);
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
