#include "ops/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "quant/decode.h"
#include "quant/fast/fast_dot.h"
#include "util/error.h"

namespace sluice::ops {
namespace {

std::atomic<ComputePath> g_compute_path{ComputePath::kExact};

void matmul_exact(ThreadPool& pool, const quant::MatrixView& w, const float* x, int64_t n_tokens,
                  float* y) {
  SLUICE_ASSERT(quant::is_supported_for_compute(w.type));
  const int64_t n_cols = w.n_cols;
  const int64_t n_rows = w.n_rows;
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end, int) {
    // One decoded row per thread; thread_local keeps the hot loop free of allocation.
    thread_local std::vector<float> decoded;
    if (decoded.size() < static_cast<size_t>(n_cols)) decoded.resize(static_cast<size_t>(n_cols));
    for (int64_t r = begin; r < end; ++r) {
      const float* row = w.type == quant::GgmlType::F32
                             ? reinterpret_cast<const float*>(w.row(r))
                             : (quant::decode_row(w.type, w.row(r), decoded.data(), n_cols),
                                decoded.data());
      for (int64_t t = 0; t < n_tokens; ++t) {
        y[t * n_rows + r] = quant::dot_f32(row, x + t * n_cols, n_cols);
      }
    }
  });
}

// A batch is cut into tiles of rows x tokens: the tile's weight rows stay in L1 while its
// tokens' activations (kTokenTile rows, a few hundred KiB at most) stay in L2.
constexpr int64_t kRowTile = 16;
constexpr int64_t kTokenTile = 64;

// Below this many weight bytes times tokens, a product runs on the calling thread: waking the
// pool's workers (~30 us measured) costs more than the work.
constexpr uint64_t kInlineWorkBytes = 64 * 1024;

// Everything the workers need, captured by one reference so that the std::function of
// parallel_for stores it in place instead of allocating.
struct FastJob {
  const quant::MatrixView& w;
  quant::fast::RowDotFn dot;
  const float* x;
  int64_t n_tokens;
  float* y;
  const std::byte* act = nullptr;
  size_t act_bytes = 0;  // per token
  std::byte* quantized = nullptr;
};

void matmul_fast(ThreadPool& pool, const quant::MatrixView& w, quant::fast::RowDotFn dot,
                 const float* x, int64_t n_tokens, float* y) {
  namespace fast = quant::fast;
  FastJob job{w, dot, x, n_tokens, y};
  job.act_bytes = fast::activation_row_bytes(w.type, w.n_cols);
  if (fast::activation_format(w.type) == fast::ActivationFormat::kF32) {
    job.act = reinterpret_cast<const std::byte*>(x);
  } else {
    // The calling thread's buffer, grown to the largest batch seen and then reused; aligned
    // so that the kernels' loads of activation quants are (fast_dot.h).
    constexpr size_t kAlign = quant::fast::kActivationAlignment;
    thread_local std::vector<std::byte> quantized;
    const size_t needed = job.act_bytes * static_cast<size_t>(n_tokens) + kAlign;
    if (quantized.size() < needed) quantized.resize(needed);
    const auto address = reinterpret_cast<uintptr_t>(quantized.data());
    job.quantized = quantized.data() + ((kAlign - address % kAlign) % kAlign);
    job.act = job.quantized;
    const auto quantize = [&job](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        fast::quantize_activations(job.w.type, job.x + t * job.w.n_cols, job.w.n_cols,
                                   job.quantized + static_cast<size_t>(t) * job.act_bytes);
      }
    };
    if (n_tokens >= 4 * static_cast<int64_t>(pool.size())) {
      pool.parallel_for(n_tokens, quantize);
    } else {
      quantize(0, n_tokens, 0);
    }
  }
  const auto rows = [&job](int64_t begin, int64_t end, int) {
    const int64_t n_rows = job.w.n_rows;
    for (int64_t r0 = begin; r0 < end; r0 += kRowTile) {
      const int64_t r1 = std::min(end, r0 + kRowTile);
      for (int64_t t0 = 0; t0 < job.n_tokens; t0 += kTokenTile) {
        const int64_t n_tile = std::min(kTokenTile, job.n_tokens - t0);
        const std::byte* act = job.act + static_cast<size_t>(t0) * job.act_bytes;
        float* out = job.y + t0 * n_rows;
        for (int64_t r = r0; r < r1; ++r) {
          job.dot(job.w.row(r), act, job.act_bytes, n_tile, job.w.n_cols, out + r,
                  static_cast<size_t>(n_rows));
        }
      }
    }
  };
  const uint64_t work_bytes = w.row_bytes * static_cast<uint64_t>(w.n_rows) * static_cast<uint64_t>(n_tokens);
  if (work_bytes < kInlineWorkBytes) {
    rows(0, w.n_rows, 0);
  } else {
    pool.parallel_for(w.n_rows, rows);
  }
}

}  // namespace

void set_compute_path(ComputePath path) { g_compute_path.store(path, std::memory_order_relaxed); }

ComputePath compute_path() { return g_compute_path.load(std::memory_order_relaxed); }

void matmul(ThreadPool& pool, const quant::MatrixView& w, const float* x, int64_t n_tokens,
            float* y) {
  matmul(pool, w, x, n_tokens, y, compute_path());
}

void matmul(ThreadPool& pool, const quant::MatrixView& w, const float* x, int64_t n_tokens,
            float* y, ComputePath path) {
  if (n_tokens <= 0 || w.n_rows <= 0) return;
  if (path == ComputePath::kFast) {
    if (const quant::fast::RowDotFn dot = quant::fast::row_dot(w.type)) {
      matmul_fast(pool, w, dot, x, n_tokens, y);
      return;
    }
  }
  matmul_exact(pool, w, x, n_tokens, y);
}

void decode_matrix_row(const quant::MatrixView& w, int64_t row, float* dst) {
  SLUICE_ASSERT(row >= 0 && row < w.n_rows);
  quant::decode_row(w.type, w.row(row), dst, w.n_cols);
}

}  // namespace sluice::ops
