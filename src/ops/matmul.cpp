#include "ops/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "quant/decode.h"
#include "quant/fast/fast_dot.h"
#include "quant/fast/tile_gemm.h"
#include "quant/interleaved_rows.h"
#include "util/error.h"

namespace sluice::ops {
namespace {

std::atomic<ComputePath> g_compute_path{ComputePath::kExact};

// A batch is cut into tiles of rows x tokens, small enough that the tile's weight rows and
// its tokens' quantized activations (about 37 KiB for 16 tokens of 2048 values) are read
// from L1 and L2 rather than memory: the kernels of prompt formats read every activation
// once per row, so larger token tiles made Q4_K prompt products ~20% slower (matmul_bench).
constexpr int64_t kRowTile = 16;
constexpr int64_t kTokenTile = 16;

// Rows in groups of 8 go through the group kernel for batches of up to this many tokens; larger
// batches copy them out of their groups for the tile kernels.
constexpr int64_t kGroupKernelTokens = 8;

// Where the instruction set has a group kernel for a format but no tile kernel (AVX2), batches
// of at least this many tokens go through the group kernel whatever the layout: plain rows are
// laid out in groups a piece at a time (regrouped_rows), as the group kernel loads and unpacks
// each weight word once for up to 4 tokens. One token over plain rows keeps the row kernel:
// regrouping it would cost more than the product.
constexpr int64_t kRegroupTokens = 2;

// Rows moved between the layouts at a time (regrouped_rows, ungrouped_fast_rows): a multiple of
// kTileRows and of the group size; 74 KiB of Q4_K at 2048 columns, which stays in L2 while
// every token of the batch passes over it.
constexpr int64_t kPieceRows = 64;

// Below this many weight bytes times tokens, products run on the calling thread: handing work
// to the pool's workers costs more than the work.
constexpr uint64_t kInlineWorkBytes = 64 * 1024;

// One product of a matmul_many call, prepared: its kernel (fast path) and its activations in
// the kernel's format.
struct PreparedTask {
  const quant::MatrixView* w = nullptr;
  const float* x = nullptr;
  int64_t n_tokens = 0;
  float* y = nullptr;
  quant::fast::RowDotFn dot = nullptr;  // nullptr: the exact path
  quant::fast::GroupDotFn groups = nullptr;  // small batches against rows in groups of 8
  const std::byte* act = nullptr;
  size_t act_bytes = 0;  // per token
  const quant::fast::TileKernel* tiles = nullptr;  // prompt batches: tile kernels
  const std::byte* packed = nullptr;               // act repacked for `tiles`
};

// Row r of w as plain bytes: where it lies, or copied out of its group into `scratch`.
const std::byte* plain_row(const quant::MatrixView& w, int64_t r, std::vector<std::byte>& scratch) {
  if (w.order == quant::RowOrder::kRows) return w.row(r);
  if (scratch.size() < w.row_bytes) scratch.resize(w.row_bytes);
  quant::copy_rows(w, r, 1, scratch.data());
  return scratch.data();
}

// Rows [begin, end) of an exact-path product: each row decoded to f32 once, dotted with
// every token.
void exact_rows(const PreparedTask& task, int64_t begin, int64_t end) {
  const quant::MatrixView& w = *task.w;
  const int64_t n_cols = w.n_cols;
  // One decoded row per thread; thread_local keeps the hot loop free of allocation.
  thread_local std::vector<float> decoded;
  thread_local std::vector<std::byte> ungrouped;
  if (decoded.size() < static_cast<size_t>(n_cols)) decoded.resize(static_cast<size_t>(n_cols));
  for (int64_t r = begin; r < end; ++r) {
    const std::byte* bytes = plain_row(w, r, ungrouped);
    const float* row = w.type == quant::GgmlType::F32
                           ? reinterpret_cast<const float*>(bytes)
                           : (quant::decode_row(w.type, bytes, decoded.data(), n_cols), decoded.data());
    for (int64_t t = 0; t < task.n_tokens; ++t) {
      task.y[t * w.n_rows + r] = quant::dot_f32(row, task.x + t * n_cols, n_cols);
    }
  }
}

// Rows [begin, end) of a fast-path product through the row kernel, in tiles of rows x tokens.
// One token reads each row once however the rows are cut, so it takes them in one call: cut
// into tiles, each call restarted the kernel's pipeline of super-block groups (one token,
// 2 threads, 768 x 2048, paired runs: Q2_K 22.5 -> 20.9 and 18.8 -> 18.1 us; no change at
// 2048 x 768).
// `rows` holds rows [begin, end) as plain rows.
void row_kernel_rows(const PreparedTask& task, const std::byte* rows, int64_t begin, int64_t end) {
  const quant::MatrixView& w = *task.w;
  const int64_t row_tile = task.n_tokens == 1 ? end - begin : kRowTile;
  for (int64_t r0 = begin; r0 < end; r0 += row_tile) {
    const int64_t r1 = std::min(end, r0 + row_tile);
    for (int64_t t0 = 0; t0 < task.n_tokens; t0 += kTokenTile) {
      const int64_t n_tile = std::min(kTokenTile, task.n_tokens - t0);
      const std::byte* act = task.act + static_cast<size_t>(t0) * task.act_bytes;
      float* out = task.y + t0 * w.n_rows;
      task.dot(rows + static_cast<size_t>(r0 - begin) * w.row_bytes, w.row_bytes, r1 - r0, act, task.act_bytes, n_tile,
               w.n_cols, out + r0, static_cast<size_t>(w.n_rows));
    }
  }
}

// Rows [begin, end) of a fast-path product, held as plain rows in `rows`, through the group
// kernel: whole groups of 8 rows laid out in groups a piece at a time, the rest through the
// row kernel.
void regrouped_rows(const PreparedTask& task, const std::byte* rows, int64_t begin, int64_t end) {
  constexpr int64_t kGroup = quant::kGroupRows;
  const quant::MatrixView& w = *task.w;
  const int64_t end_groups = begin + (end - begin) / kGroup * kGroup;
  thread_local std::vector<std::byte> piece;
  for (int64_t r0 = begin; r0 < end_groups; r0 += kPieceRows) {
    const int64_t r1 = std::min(end_groups, r0 + kPieceRows);
    const size_t bytes = static_cast<size_t>(r1 - r0) * w.row_bytes;
    if (piece.size() < bytes) piece.resize(bytes);
    quant::group_rows_to(
        quant::make_matrix_view(w.type, rows + static_cast<size_t>(r0 - begin) * w.row_bytes, w.n_cols, r1 - r0),
        piece.data());
    task.groups(piece.data(), kGroup * w.row_bytes, (r1 - r0) / kGroup, task.act, task.act_bytes, task.n_tokens,
                w.n_cols, task.y + r0, static_cast<size_t>(w.n_rows));
  }
  row_kernel_rows(task, rows + static_cast<size_t>(end_groups - begin) * w.row_bytes, end_groups, end);
}

// Rows [begin, end) of a fast-path product, held as plain rows in `rows`: through the group
// kernel where the task has one (regrouped_rows); else whole tiles of kTileRows rows through
// the task's tile kernel where it has one, the rest (and everything else) through the row
// kernel. All give the same bits.
void fast_rows(const PreparedTask& task, const std::byte* rows, int64_t begin, int64_t end) {
  if (task.groups != nullptr) {
    regrouped_rows(task, rows, begin, end);
    return;
  }
  constexpr int64_t kTile = quant::fast::kTileRows;
  const int64_t first_tile = (begin + kTile - 1) / kTile * kTile;
  const int64_t end_tiles = end / kTile * kTile;
  if (task.tiles == nullptr || first_tile >= end_tiles) {
    row_kernel_rows(task, rows, begin, end);
    return;
  }
  const quant::MatrixView& w = *task.w;
  const auto at = [&](int64_t r) { return rows + static_cast<size_t>(r - begin) * w.row_bytes; };
  row_kernel_rows(task, rows, begin, first_tile);
  const quant::fast::TileActivations acts{task.act, task.act_bytes, task.packed, task.n_tokens};
  task.tiles->rows(at(first_tile), w.row_bytes, end_tiles - first_tile, acts, w.n_cols, task.y + first_tile,
                   static_cast<size_t>(w.n_rows));
  row_kernel_rows(task, at(end_tiles), end_tiles, end);
}

// Rows [begin, end) of a fast-path product over rows in groups of 8, copied out of their
// groups a piece at a time (prompt batches, and the rows of groups a chunk cuts).
void ungrouped_fast_rows(const PreparedTask& task, int64_t begin, int64_t end) {
  const quant::MatrixView& w = *task.w;
  thread_local std::vector<std::byte> rows;
  for (int64_t r0 = begin, r1 = 0; r0 < end; r0 = r1) {
    r1 = std::min(end, (r0 / kPieceRows + 1) * kPieceRows);
    const size_t bytes = static_cast<size_t>(r1 - r0) * w.row_bytes;
    if (rows.size() < bytes) rows.resize(bytes);
    quant::copy_rows(w, r0, r1 - r0, rows.data());
    fast_rows(task, rows.data(), r0, r1);
  }
}

// Rows [begin, end) of a fast-path product: plain rows as they lie; rows in groups through
// the group kernel where the task has one (group_kernel_for), except rows of groups the range
// cuts, which are copied out of their groups, as are all rows of tasks without one.
void fast_path_rows(const PreparedTask& task, int64_t begin, int64_t end) {
  const quant::MatrixView& w = *task.w;
  if (w.order == quant::RowOrder::kRows) {
    fast_rows(task, w.row(begin), begin, end);
    return;
  }
  constexpr int64_t kGroup = quant::kGroupRows;
  const int64_t first_group = (begin + kGroup - 1) / kGroup * kGroup;
  const int64_t end_groups = end / kGroup * kGroup;
  if (task.groups == nullptr || first_group >= end_groups) {
    ungrouped_fast_rows(task, begin, end);
    return;
  }
  ungrouped_fast_rows(task, begin, first_group);
  task.groups(w.row(first_group), kGroup * w.row_bytes, (end_groups - first_group) / kGroup, task.act, task.act_bytes,
              task.n_tokens, w.n_cols, task.y + first_group, static_cast<size_t>(w.n_rows));
  ungrouped_fast_rows(task, end_groups, end);
}

// The group kernel of a fast-path product, or nullptr: batches of up to kGroupKernelTokens
// over rows in groups, and where the set has no tile kernel for the format, batches of at
// least kRegroupTokens over either layout.
quant::fast::GroupDotFn group_kernel_for(const quant::MatrixView& w, int64_t n_tokens, bool has_tiles) {
  const quant::fast::GroupDotFn groups = quant::fast::group_dot(w.type);
  if (groups == nullptr || !quant::can_group_rows(w.type, w.n_cols, quant::kGroupRows)) return nullptr;
  if (!has_tiles && n_tokens >= kRegroupTokens) return groups;
  return n_tokens <= kGroupKernelTokens && w.order == quant::RowOrder::kGroupsOf8 ? groups : nullptr;
}

// Repacks a task's quantized activations for its tile kernel, if it has one, at `next`
// (aligned, advanced past them).
void pack_for_tiles(PreparedTask& p, std::byte*& next) {
  if (p.tiles == nullptr || p.tiles->pack == nullptr) return;
  constexpr size_t kAlign = quant::fast::kActivationAlignment;
  const auto address = reinterpret_cast<uintptr_t>(next);
  next += (kAlign - address % kAlign) % kAlign;
  p.tiles->pack(p.act, p.act_bytes, p.n_tokens, p.w->n_cols, next);
  p.packed = next;
  next += p.tiles->packed_bytes(p.w->n_cols, p.n_tokens);
}

// Picks each task's kernel (tasks without rows or tokens are dropped) and quantizes its
// activations into `buffer` (the calling thread's, reused across calls), repacked for the
// task's tile kernel if it has one. Tasks reading the same x in the same activation format
// (the gate and up projections of an expert) share one quantized copy, and one packed copy
// when their tile kernels pack alike.
void prepare(ThreadPool& pool, std::span<const MatmulTask> tasks, ComputePath path,
             std::vector<PreparedTask>& prepared, std::vector<std::byte>& buffer) {
  namespace fast = quant::fast;
  constexpr size_t kAlign = fast::kActivationAlignment;
  prepared.clear();
  size_t needed = kAlign;
  for (const MatmulTask& t : tasks) {
    if (t.n_tokens <= 0 || t.w->n_rows <= 0) continue;
    PreparedTask p{t.w, t.x, t.n_tokens, t.y};
    if (path == ComputePath::kFast) p.dot = fast::row_dot(t.w->type);
    if (p.dot) {
      p.act_bytes = fast::activation_row_bytes(t.w->type, t.w->n_cols);
      if (fast::activation_format(t.w->type) != fast::ActivationFormat::kF32) {
        needed += p.act_bytes * static_cast<size_t>(t.n_tokens);
      }
      p.tiles = fast::tile_kernel(t.w->type);
      p.groups = group_kernel_for(*t.w, t.n_tokens, p.tiles != nullptr);
      if (p.groups) p.tiles = nullptr;
      if (p.tiles && t.n_tokens < p.tiles->min_tokens) p.tiles = nullptr;
      if (p.tiles && p.tiles->pack) needed += kAlign + p.tiles->packed_bytes(t.w->n_cols, t.n_tokens);
    } else {
      SLUICE_ASSERT(quant::is_supported_for_compute(t.w->type));
    }
    prepared.push_back(p);
  }
  if (buffer.size() < needed) buffer.resize(needed);
  const auto address = reinterpret_cast<uintptr_t>(buffer.data());
  std::byte* next = buffer.data() + ((kAlign - address % kAlign) % kAlign);

  for (size_t i = 0; i < prepared.size(); ++i) {
    PreparedTask& p = prepared[i];
    if (!p.dot) continue;
    const fast::ActivationFormat format = fast::activation_format(p.w->type);
    if (format == fast::ActivationFormat::kF32) {
      p.act = reinterpret_cast<const std::byte*>(p.x);
      continue;
    }
    const auto same_input = [&](const PreparedTask& q) {
      return q.dot && q.act && q.x == p.x && q.n_tokens == p.n_tokens &&
             q.w->n_cols == p.w->n_cols && fast::activation_format(q.w->type) == format;
    };
    const auto shared = std::find_if(prepared.begin(), prepared.begin() + static_cast<ptrdiff_t>(i), same_input);
    if (shared != prepared.begin() + static_cast<ptrdiff_t>(i)) {
      p.act = shared->act;
      if (p.tiles && shared->tiles && p.tiles->pack == shared->tiles->pack) {
        p.packed = shared->packed;  // the same activations in the same tile layout
      } else {
        pack_for_tiles(p, next);
      }
      continue;
    }
    std::byte* out = next;
    next += p.act_bytes * static_cast<size_t>(p.n_tokens);
    p.act = out;
    const auto quantize = [&p, out](int64_t begin, int64_t end, int) {
      for (int64_t t = begin; t < end; ++t) {
        fast::quantize_activations(p.w->type, p.x + t * p.w->n_cols, p.w->n_cols,
                                   out + static_cast<size_t>(t) * p.act_bytes);
      }
    };
    if (p.n_tokens >= 4 * static_cast<int64_t>(pool.size())) {
      pool.parallel_for(p.n_tokens, quantize);
    } else {
      quantize(0, p.n_tokens, 0);
    }
    pack_for_tiles(p, next);
  }
}

// Rows [begin, end) of the tasks' rows laid end to end.
void run_rows(std::span<const PreparedTask> tasks, int64_t begin, int64_t end) {
  int64_t first = 0;  // global index of the current task's row 0
  for (const PreparedTask& task : tasks) {
    const int64_t n_rows = task.w->n_rows;
    const int64_t lo = std::max(begin, first) - first;
    const int64_t hi = std::min(end, first + n_rows) - first;
    if (lo < hi) {
      if (task.dot) {
        fast_path_rows(task, lo, hi);
      } else {
        exact_rows(task, lo, hi);
      }
    }
    first += n_rows;
    if (first >= end) break;
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
  const MatmulTask task{&w, x, n_tokens, y};
  matmul_many(pool, std::span(&task, 1), path);
}

void matmul_many(ThreadPool& pool, std::span<const MatmulTask> tasks) {
  matmul_many(pool, tasks, compute_path());
}

void matmul_many(ThreadPool& pool, std::span<const MatmulTask> tasks, ComputePath path) {
  // The calling thread's buffers, grown to the largest call seen and then reused.
  thread_local std::vector<PreparedTask> prepared;
  thread_local std::vector<std::byte> quantized;
  prepare(pool, tasks, path, prepared, quantized);
  if (prepared.empty()) return;

  int64_t total_rows = 0;
  uint64_t work_bytes = 0;
  for (const PreparedTask& t : prepared) {
    total_rows += t.w->n_rows;
    work_bytes += t.w->row_bytes * static_cast<uint64_t>(t.w->n_rows) * static_cast<uint64_t>(t.n_tokens);
  }
  const std::span<const PreparedTask> ready(prepared);
  if (work_bytes < kInlineWorkBytes) {
    run_rows(ready, 0, total_rows);
  } else {
    // About eight chunks per thread: fewer and one thread that fell behind holds the rest at
    // the end; many more and each row stream is too short for the prefetchers. Whole tiles,
    // so that tile kernels are not cut into row-kernel remnants at chunk edges.
    constexpr int64_t kTile = quant::fast::kTileRows;
    const int64_t per_chunk = (total_rows + 8 * pool.size() - 1) / (8 * pool.size());
    const int64_t chunk = (per_chunk + kTile - 1) / kTile * kTile;
    pool.parallel_chunks(total_rows, chunk, [ready](int64_t begin, int64_t end, int) { run_rows(ready, begin, end); });
  }
}

void decode_matrix_row(const quant::MatrixView& w, int64_t row, float* dst) {
  SLUICE_ASSERT(row >= 0 && row < w.n_rows);
  thread_local std::vector<std::byte> ungrouped;
  quant::decode_row(w.type, plain_row(w, row, ungrouped), dst, w.n_cols);
}

}  // namespace sluice::ops
