// Causal grouped-query attention, one code path for prompts and for decoding.
//
// The work is cut into jobs of up to kMaxJobRows (token, query head) rows that read the same
// KV head: all query heads of a GQA group and, in a prompt, several consecutive tokens. Each
// key and value row loaded then serves every row of its job, and scores and weighted sums
// become small register-tiled matrix products instead of one dot product per (token, head,
// key).
//
// Keys are visited in blocks of kKeyBlock at fixed absolute positions (0-63, 64-127, ...)
// with an online softmax (Milakov & Gimelshein 2018, "Online normalizer calculation for
// softmax", as FlashAttention does, Dao et al. 2022), so a job's working set stays in cache
// however long the context.
//
// A row's arithmetic depends only on its own position and keys, never on the other rows of
// its job: every score is a dot product summed in one fixed order, keys a row cannot see get
// a weight of exactly 0 (adding 0 * v to a sum leaves it unchanged), and blocks start at
// absolute positions. Decoding token by token therefore gives results bit-identical to a
// batched prompt, which the engine relies on.
#include "ops/attention.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <vector>

#include "ops/vec16.h"
#include "util/error.h"

namespace sluice::ops {
namespace {

constexpr int64_t kKeyBlock = 64;    // keys per online-softmax step, a multiple of kLanes
constexpr int64_t kBlockVecs = kKeyBlock / kLanes;
constexpr int64_t kRowTile = 4;      // query rows per register tile
constexpr int64_t kKeyTile = 4;      // keys per register tile of the score kernel
constexpr int64_t kMaxJobRows = 128;  // a job's rows, scores and sums stay within L2
// Jobs of up to this many rows (decoding) read values in place: each is read at most twice,
// and copying costs more than the cache conflicts it avoids (see head_rows).
constexpr int64_t kInPlaceRows = 2 * kRowTile;
// block_scores prefetches the keys this many tiles ahead to L1: one token from caches 24
// layers deep (from memory), 2 threads, 300 and 4000 positions: 100 -> 93 and 1446 -> 1291 us
// per layer; one thread 2875 -> 2320 at 4000. Four tiles ahead did no better.
constexpr int64_t kPrefetchTiles = 2;

inline int64_t round_up(int64_t n, int64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

// Sum of the lanes, pairwise (lane l + lane l+8, then l+4, l+2, l+1).
inline float reduce_add(Vec16 v) {
  using Vec8 = float __attribute__((vector_size(32)));
  using Vec4 = float __attribute__((vector_size(16)));
  const Vec8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Vec4 b =
      __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

inline float reduce_max(Vec16 v) {
  using Vec8 = float __attribute__((vector_size(32)));
  using Vec4 = float __attribute__((vector_size(16)));
  const Vec8 lo8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  const Vec8 hi8 = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Vec8 a = lo8 > hi8 ? lo8 : hi8;
  const Vec4 lo4 = __builtin_shufflevector(a, a, 0, 1, 2, 3);
  const Vec4 hi4 = __builtin_shufflevector(a, a, 4, 5, 6, 7);
  const Vec4 b = lo4 > hi4 ? lo4 : hi4;
  return std::max(std::max(b[0], b[2]), std::max(b[1], b[3]));
}

// The steps of reduce_dots. foldN: a and b each hold 16 / N groups of N lanes, the partial
// sums of one dot product each; adds the halves of every group, so that the result holds a's
// groups and then b's, N / 2 lanes each.
inline Vec16 fold16(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
         __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}
inline Vec16 fold8(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
         __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}
inline Vec16 fold4(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
         __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}
inline Vec16 fold2(Vec16 a, Vec16 b) {
  return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// Lane i of the result: the sum of the lanes of acc[i], in reduce_add's order. Transposing
// while adding takes 30 shuffles and 15 additions for all 16, against 64 of each for 16
// separate horizontal sums. Folds in place so that acc stays in registers.
inline Vec16 reduce_dots(Vec16 (&acc)[16]) {
  for (int i = 0; i < 8; ++i) acc[i] = fold16(acc[2 * i], acc[2 * i + 1]);
  for (int i = 0; i < 4; ++i) acc[i] = fold8(acc[2 * i], acc[2 * i + 1]);
  for (int i = 0; i < 2; ++i) acc[i] = fold4(acc[2 * i], acc[2 * i + 1]);
  return fold2(acc[0], acc[1]);
}

// scores[r * kKeyBlock + u] = scale * (query row r . keys[u]) for kRowTile query rows (stride
// q_stride) and kKeyTile keys, heads of n_vecs vectors. Each dot product keeps kLanes
// partial sums (lane l: elements l, l + 16, ... in order) and adds them up in reduce_add's
// order.
#if defined(__AVX512F__)
void score_tile(const float* q, int64_t q_stride, const float* const (&keys)[kKeyTile],
                int64_t n_vecs, float scale, float* scores) {
  static_assert(kRowTile * kKeyTile == kLanes);
  Vec16 acc[kRowTile * kKeyTile] = {};
  for (int64_t c = 0; c < n_vecs; ++c) {
    Vec16 key[kKeyTile];
    for (int64_t u = 0; u < kKeyTile; ++u) {
      key[u] = load(keys[u] + c * kLanes);
      keep_in_register(key[u]);
    }
    for (int64_t r = 0; r < kRowTile; ++r) {
      Vec16 query = load(q + r * q_stride + c * kLanes);
      keep_in_register(query);  // one load for the kKeyTile keys, as value_tile's values
      for (int64_t u = 0; u < kKeyTile; ++u) acc[r * kKeyTile + u] += query * key[u];
    }
  }
  float dots[kLanes];
  store(dots, reduce_dots(acc) * scale);
  for (int64_t r = 0; r < kRowTile; ++r) {
    for (int64_t u = 0; u < kKeyTile; ++u) scores[r * kKeyBlock + u] = dots[r * kKeyTile + u];
  }
}

// acc[r][0 .. kVecs * kLanes) += sum over keys j of weights[r * kKeyBlock + j] * values row j,
// for kRowTile rows, keys in order.
template <int64_t kVecs>
void value_tile(const float* weights, int64_t n_keys, const float* values, int64_t value_stride,
                float* acc, int64_t acc_stride) {
  Vec16 sum[kRowTile][kVecs];
  for (int64_t r = 0; r < kRowTile; ++r) {
    for (int64_t c = 0; c < kVecs; ++c) sum[r][c] = load(acc + r * acc_stride + c * kLanes);
  }
  for (int64_t j = 0; j < n_keys; ++j) {
    Vec16 value[kVecs];
    for (int64_t c = 0; c < kVecs; ++c) {
      value[c] = load(values + j * value_stride + c * kLanes);
      keep_in_register(value[c]);  // one load for the kRowTile rows (one token after 4000: -15%)
    }
    for (int64_t r = 0; r < kRowTile; ++r) {
      const float w = weights[r * kKeyBlock + j];
      for (int64_t c = 0; c < kVecs; ++c) sum[r][c] += w * value[c];
    }
  }
  for (int64_t r = 0; r < kRowTile; ++r) {
    for (int64_t c = 0; c < kVecs; ++c) store(acc + r * acc_stride + c * kLanes, sum[r][c]);
  }
}

// Value vectors per register tile of the weighted sum: kRowTile x kValueVecs sums and
// kValueVecs values in registers.
constexpr int64_t kValueVecs = 4;

// acc[r][0 .. n_vecs * kLanes) += weights x values (value_tile) for kRowTile rows.
void value_tiles(const float* weights, int64_t n_keys, const float* values, int64_t value_stride, float* acc,
                 int64_t acc_stride, int64_t n_vecs) {
  for (int64_t c = 0; c < n_vecs; c += kValueVecs) {
    const float* v = values + c * kLanes;
    float* a = acc + c * kLanes;
    switch (std::min(kValueVecs, n_vecs - c)) {
      case 4: value_tile<4>(weights, n_keys, v, value_stride, a, acc_stride); break;
      case 3: value_tile<3>(weights, n_keys, v, value_stride, a, acc_stride); break;
      case 2: value_tile<2>(weights, n_keys, v, value_stride, a, acc_stride); break;
      default: value_tile<1>(weights, n_keys, v, value_stride, a, acc_stride); break;
    }
  }
}
#else
// Without AVX-512 a Vec16 is two registers, and GCC moves Vec16 values that do not fit in
// registers through memory and general registers, 8 bytes at a time: a 512-token prompt ran
// attention at 1.6 multiply-adds per cycle. These tiles work on halves of 8 lanes (Vec8), the
// registers AVX2 has, and add exactly what the AVX-512 tiles add, in the same order.
using Vec8 = float __attribute__((vector_size(32)));
constexpr int64_t kHalf = kLanes / 2;

inline Vec8 load8(const float* p) {
  Vec8 v;
  __builtin_memcpy(&v, p, sizeof(v));
  return v;
}

inline void store8(float* p, Vec8 v) { __builtin_memcpy(p, &v, sizeof(v)); }

// Scores as the AVX-512 score_tile computes them. Half h of dot product i's lanes (Vec16
// lanes 8h .. 8h + 7) goes in half[h][i], two query rows by kKeyTile keys at a time (8 sums,
// kKeyTile keys and a query row in registers). reduce_add's steps then run on whole vectors:
// lane l + lane l + 8 (the halves), + 4 (the 128-bit halves), + 2, + 1.
void score_tile(const float* q, int64_t q_stride, const float* const (&keys)[kKeyTile], int64_t n_vecs, float scale,
                float* scores) {
  constexpr int kDots = kRowTile * kKeyTile;
  static_assert(kDots == kLanes && kRowTile % 2 == 0);  // the reduction below makes 16 dots of row pairs
  Vec8 half[2][kDots];
  for (int64_t h = 0; h < 2; ++h) {
    for (int64_t r0 = 0; r0 < kRowTile; r0 += 2) {
      Vec8 acc[2][kKeyTile] = {};
      for (int64_t c = 0; c < n_vecs; ++c) {
        const int64_t at = c * kLanes + h * kHalf;
        Vec8 key[kKeyTile];
        for (int64_t u = 0; u < kKeyTile; ++u) key[u] = load8(keys[u] + at);
        for (int64_t r = 0; r < 2; ++r) {
          const Vec8 query = load8(q + (r0 + r) * q_stride + at);
          for (int64_t u = 0; u < kKeyTile; ++u) acc[r][u] += query * key[u];
        }
      }
      for (int64_t r = 0; r < 2; ++r) {
        for (int64_t u = 0; u < kKeyTile; ++u) half[h][(r0 + r) * kKeyTile + u] = acc[r][u];
      }
    }
  }
  // x[i]: dot products 2i and 2i + 1, four lanes each (l + l + 4).
  Vec8 x[kDots / 2];
  for (int i = 0; i < kDots / 2; ++i) {
    const Vec8 a = half[0][2 * i] + half[1][2 * i], b = half[0][2 * i + 1] + half[1][2 * i + 1];
    x[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);
  }
  // y[i]: two lanes (l + l + 2) of dot products 4i, 4i + 2 | 4i + 1, 4i + 3.
  Vec8 y[kDots / 4];
  for (int i = 0; i < kDots / 4; ++i) {
    y[i] = __builtin_shufflevector(x[2 * i], x[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
           __builtin_shufflevector(x[2 * i], x[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  // z[i]: dot products 8i, 8i + 2, 8i + 4, 8i + 6 | 8i + 1, 8i + 3, 8i + 5, 8i + 7.
  for (int i = 0; i < kDots / 8; ++i) {
    const Vec8 z = (__builtin_shufflevector(y[2 * i], y[2 * i + 1], 0, 2, 8, 10, 4, 6, 12, 14) +
                    __builtin_shufflevector(y[2 * i], y[2 * i + 1], 1, 3, 9, 11, 5, 7, 13, 15)) *
                   scale;
    for (int k = 0; k < 8; ++k) {
      const int dot = 8 * i + (k < 4 ? 2 * k : 2 * (k - 4) + 1);
      scores[dot / kKeyTile * kKeyBlock + dot % kKeyTile] = z[k];
    }
  }
}

// acc[r][0 .. n_vecs * kLanes) += sum over keys j of weights[r * kKeyBlock + j] * values row
// j, for kRowTile rows, keys in order: kRowTile x 2 sums, 2 values and a weight in registers.
void value_tiles(const float* weights, int64_t n_keys, const float* values, int64_t value_stride, float* acc,
                 int64_t acc_stride, int64_t n_vecs) {
  for (int64_t c = 0; c < 2 * n_vecs; c += 2) {
    Vec8 sum[kRowTile][2];
    for (int64_t r = 0; r < kRowTile; ++r) {
      for (int64_t k = 0; k < 2; ++k) sum[r][k] = load8(acc + r * acc_stride + (c + k) * kHalf);
    }
    for (int64_t j = 0; j < n_keys; ++j) {
      const Vec8 value[2] = {load8(values + j * value_stride + c * kHalf),
                             load8(values + j * value_stride + (c + 1) * kHalf)};
      for (int64_t r = 0; r < kRowTile; ++r) {
        const float w = weights[r * kKeyBlock + j];
        for (int64_t k = 0; k < 2; ++k) sum[r][k] += w * value[k];
      }
    }
    for (int64_t r = 0; r < kRowTile; ++r) {
      for (int64_t k = 0; k < 2; ++k) store8(acc + r * acc_stride + (c + k) * kHalf, sum[r][k]);
    }
  }
}
#endif

// What every job of one call shares.
struct Problem {
  const AttentionShape& shape;
  int64_t group;             // query heads per KV head
  int64_t first_pos;
  const float* q;
  const float* k_cache;
  const float* v_cache;
  float* out;
  int64_t k_stride, v_stride;  // floats from one position to the next in the caches
  int64_t dk_pad, dv_pad;      // head dims rounded up to whole vectors
};

// One KV head's keys or values for positions from `first`, as the kernels read them: the
// row of position p at base + (p - first) * stride.
struct HeadRows {
  const float* base;
  int64_t stride;
};

// The rows of positions first .. first + count - 1 in place, or copied into a dense tile of
// dim_pad floats a row. In the cache a head's rows lie n_head_kv * dim floats apart, a power
// of two in most models, so a block of values maps onto a few L1 sets and evicts itself while
// it is reread for every row tile of a large job; the tile does not. (Keys need no copy:
// block_scores uses each tile of keys for all row tiles at once.) Heads that are not a whole
// number of vectors are always copied: the tile's zero padding adds 0 * 0 to each sum, which
// leaves the sum unchanged.
HeadRows head_rows(const float* cache, int64_t cache_stride, int64_t head_offset, int64_t dim,
                   int64_t dim_pad, int64_t first, int64_t count, bool copy,
                   std::vector<float>& tile) {
  const float* rows = cache + first * cache_stride + head_offset;
  if (!copy && dim == dim_pad) return {rows, cache_stride};
  for (int64_t i = 0; i < count; ++i) {
    float* dst = tile.data() + i * dim_pad;
    std::copy(rows + i * cache_stride, rows + i * cache_stride + dim, dst);
    std::fill(dst + dim, dst + dim_pad, 0.0f);
  }
  return {tile.data(), dim_pad};
}

// A job's rows and running softmax state, reused by a thread from job to job.
struct Scratch {
  std::vector<float> q;          // [rows][dk_pad], zero-padded
  std::vector<float> scores;     // [rows][kKeyBlock]: scores, then weights, of one key block
  std::vector<float> acc;        // [rows][dv_pad]: weighted sums of values
  std::vector<float> max, sum;   // [rows]: running maximum score and sum of weights
  std::vector<int64_t> key_begin, key_end;  // [rows]: the positions a row sees
  std::vector<float> k_tile, v_tile;        // one block of keys / values, when copied
};

// The keys a tile of kRowTile rows sees within [lo, hi); empty if none.
struct KeyRange {
  int64_t begin, end;
};

KeyRange tile_keys(const Scratch& s, int64_t first_row, int64_t lo, int64_t hi) {
  KeyRange range{hi, lo};
  for (int64_t r = first_row; r < first_row + kRowTile; ++r) {
    if (s.key_begin[r] >= s.key_end[r]) continue;
    range.begin = std::min(range.begin, std::max(lo, s.key_begin[r]));
    range.end = std::max(range.end, std::min(hi, s.key_end[r]));
  }
  return range;
}

// Scores of every row tile against the keys it sees among the block's [lo, hi), into
// s.scores at offset key - block. Keys are taken kKeyTile at a time from a multiple of
// kKeyTile (positions outside [lo, hi) read a neighbour's key and are masked later), each
// tile of keys for all row tiles in turn while it is in L1.
void block_scores(const Problem& pb, Scratch& s, int64_t n_rows, int64_t block, int64_t lo,
                  int64_t hi, HeadRows keys) {
  KeyRange ranges[kMaxJobRows / kRowTile];  // n_rows <= kMaxJobRows
  for (int64_t row = 0; row < n_rows; row += kRowTile) {
    ranges[row / kRowTile] = tile_keys(s, row, lo, hi);
  }
  for (int64_t j = (lo - block) / kKeyTile * kKeyTile; block + j < hi; j += kKeyTile) {
    const float* key_rows[kKeyTile];
    for (int64_t u = 0; u < kKeyTile; ++u) {
      const int64_t pos = std::clamp(block + j + u, lo, hi - 1);
      key_rows[u] = keys.base + (pos - lo) * keys.stride;
      // A head's rows lie n_head_kv * head_dim floats apart (2 KiB for Qwen3-30B-A3B): two
      // to a 4 KiB page, too few for the hardware prefetchers to follow.
      const int64_t ahead = block + j + kPrefetchTiles * kKeyTile + u;
      if (ahead < hi) {
        const auto* row = reinterpret_cast<const char*>(keys.base + (ahead - lo) * keys.stride);
        for (int64_t b = 0; b < pb.shape.head_dim_k * static_cast<int64_t>(sizeof(float)); b += 64) {
          __builtin_prefetch(row + b, 0, 3);
        }
      }
    }
    for (int64_t row = 0; row < n_rows; row += kRowTile) {
      const KeyRange range = ranges[row / kRowTile];
      const bool any_seen =
          range.begin < range.end && block + j < range.end && block + j + kKeyTile > range.begin;
      if (!any_seen) continue;
      score_tile(s.q.data() + row * pb.dk_pad, pb.dk_pad, key_rows, pb.dk_pad / kLanes,
                 pb.shape.scale, s.scores.data() + row * kKeyBlock + j);
    }
  }
}

// Online softmax for one row and one key block: turns its scores into weights e^(score - max)
// (0 for keys it does not see) and rescales its sums to the new maximum.
void softmax_step(const Problem& pb, Scratch& s, int64_t row, int64_t block) {
  float* weights = s.scores.data() + row * kKeyBlock;
  const int64_t begin = std::max(block, s.key_begin[row]);
  const int64_t end = std::min(block + kKeyBlock, s.key_end[row]);
  if (begin >= end) {
    std::fill(weights, weights + kKeyBlock, 0.0f);
    return;
  }
  const Int16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  Vec16 x[kBlockVecs];
  Vec16 block_max = splat(-INFINITY);
  for (int64_t v = 0; v < kBlockVecs; ++v) {
    const Int16 offset = lane + static_cast<int32_t>(block + v * kLanes - begin);
    const Int16 seen = (offset >= 0) & (offset < static_cast<int32_t>(end - begin));
    x[v] = seen ? load(weights + v * kLanes) : splat(-INFINITY);
    block_max = x[v] > block_max ? x[v] : block_max;
  }
  const float new_max = std::max(s.max[row], reduce_max(block_max));
  const float rescale = new_max == s.max[row] ? 1.0f : std::exp(s.max[row] - new_max);
  Vec16 total = {};
  for (int64_t v = 0; v < kBlockVecs; ++v) {
    const Vec16 w = exp_vec(x[v] - new_max);
    store(weights + v * kLanes, w);
    total += w;
  }
  s.sum[row] = s.sum[row] * rescale + reduce_add(total);
  s.max[row] = new_max;
  if (rescale != 1.0f) {
    float* acc = s.acc.data() + row * pb.dv_pad;
    for (int64_t d = 0; d < pb.dv_pad; d += kLanes) store(acc + d, load(acc + d) * rescale);
  }
}

// acc += weights x values for every row tile, over the keys it sees among [lo, hi).
void block_values(const Problem& pb, Scratch& s, int64_t n_rows, int64_t block, int64_t lo,
                  int64_t hi, HeadRows values) {
  const int64_t n_vecs = pb.dv_pad / kLanes;
  for (int64_t row = 0; row < n_rows; row += kRowTile) {
    const KeyRange range = tile_keys(s, row, lo, hi);
    if (range.begin >= range.end) continue;
    const float* weights = s.scores.data() + row * kKeyBlock + (range.begin - block);
    value_tiles(weights, range.end - range.begin, values.base + (range.begin - lo) * values.stride, values.stride,
                s.acc.data() + row * pb.dv_pad, pb.dv_pad, n_vecs);
  }
}

// Rows [row_begin, row_end) of KV head kv_head; row i is token i / group, query head
// kv_head * group + i % group. Rows are padded to whole tiles with rows that see nothing.
void run_job(const Problem& pb, int64_t kv_head, int64_t row_begin, int64_t row_end, Scratch& s) {
  const AttentionShape& shape = pb.shape;
  const int64_t n_real = row_end - row_begin;
  const int64_t n_rows = round_up(n_real, kRowTile);
  s.q.assign(static_cast<size_t>(n_rows * pb.dk_pad), 0.0f);
  s.scores.resize(static_cast<size_t>(n_rows * kKeyBlock));
  s.acc.assign(static_cast<size_t>(n_rows * pb.dv_pad), 0.0f);
  s.max.assign(static_cast<size_t>(n_rows), -INFINITY);
  s.sum.assign(static_cast<size_t>(n_rows), 0.0f);
  s.key_begin.assign(static_cast<size_t>(n_rows), 0);
  s.key_end.assign(static_cast<size_t>(n_rows), 0);
  s.k_tile.resize(static_cast<size_t>(kKeyBlock * pb.dk_pad));
  s.v_tile.resize(static_cast<size_t>(kKeyBlock * pb.dv_pad));

  int64_t job_begin = INT64_MAX, job_end = 0;
  for (int64_t r = 0; r < n_real; ++r) {
    const int64_t t = (row_begin + r) / pb.group;
    const int64_t h = kv_head * pb.group + (row_begin + r) % pb.group;
    const int64_t pos = pb.first_pos + t;
    s.key_begin[r] =
        shape.sliding_window > 0 ? std::max<int64_t>(0, pos - shape.sliding_window + 1) : 0;
    s.key_end[r] = pos + 1;
    job_begin = std::min(job_begin, s.key_begin[r]);
    job_end = std::max(job_end, s.key_end[r]);
    const float* q_row = pb.q + (t * shape.n_head + h) * shape.head_dim_k;
    std::copy(q_row, q_row + shape.head_dim_k, s.q.data() + r * pb.dk_pad);
    // A sink is a key of score sinks[h] with a zero value: it starts the running softmax.
    if (shape.sinks) {
      s.max[r] = shape.sinks[h];
      s.sum[r] = 1.0f;
    }
  }

  const bool copy_values = n_rows > kInPlaceRows;
  for (int64_t block = job_begin / kKeyBlock * kKeyBlock; block < job_end; block += kKeyBlock) {
    const int64_t lo = std::max(job_begin, block);
    const int64_t hi = std::min(job_end, block + kKeyBlock);
    const HeadRows keys = head_rows(pb.k_cache, pb.k_stride, kv_head * shape.head_dim_k,
                                    shape.head_dim_k, pb.dk_pad, lo, hi - lo, false, s.k_tile);
    const HeadRows values =
        head_rows(pb.v_cache, pb.v_stride, kv_head * shape.head_dim_v, shape.head_dim_v, pb.dv_pad,
                  lo, hi - lo, copy_values, s.v_tile);
    block_scores(pb, s, n_rows, block, lo, hi, keys);
    for (int64_t r = 0; r < n_rows; ++r) softmax_step(pb, s, r, block);
    block_values(pb, s, n_rows, block, lo, hi, values);
  }

  for (int64_t r = 0; r < n_real; ++r) {
    const int64_t t = (row_begin + r) / pb.group;
    const int64_t h = kv_head * pb.group + (row_begin + r) % pb.group;
    const float inv_sum = 1.0f / s.sum[r];
    const float* acc = s.acc.data() + r * pb.dv_pad;
    float* out = pb.out + (t * shape.n_head + h) * shape.head_dim_v;
    for (int64_t d = 0; d < shape.head_dim_v; ++d) out[d] = acc[d] * inv_sum;
  }
}

// Rows per job: at most kMaxJobRows, but few enough that decoding one token still gives
// every thread a couple of jobs.
int64_t rows_per_job(int64_t total_rows, int n_threads) {
  const int64_t share = (total_rows + 2 * n_threads - 1) / (2 * n_threads);
  return std::clamp(round_up(share, kRowTile), kRowTile, kMaxJobRows);
}

}  // namespace

void causal_attention(ThreadPool& pool, const AttentionShape& shape, const float* q,
                      int64_t n_tokens, int64_t first_pos, const float* k_cache,
                      const float* v_cache, float* out) {
  if (n_tokens <= 0) return;
  SLUICE_ASSERT(shape.n_head_kv > 0 && shape.n_head % shape.n_head_kv == 0);
  const int64_t group = shape.n_head / shape.n_head_kv;
  const Problem pb{shape,
                   group,
                   first_pos,
                   q,
                   k_cache,
                   v_cache,
                   out,
                   shape.n_head_kv * shape.head_dim_k,
                   shape.n_head_kv * shape.head_dim_v,
                   round_up(shape.head_dim_k, kLanes),
                   round_up(shape.head_dim_v, kLanes)};
  const int64_t rows_per_head = n_tokens * group;
  const int64_t job_rows = rows_per_job(rows_per_head * shape.n_head_kv, pool.size());
  const int64_t jobs_per_head = (rows_per_head + job_rows - 1) / job_rows;
  const int64_t n_jobs = jobs_per_head * shape.n_head_kv;
  std::atomic<int64_t> next_job{0};
  pool.parallel_for(pool.size(), [&](int64_t, int64_t, int) {
    thread_local Scratch scratch;
    for (int64_t job = next_job++; job < n_jobs; job = next_job++) {
      // Later tokens see more keys: handing them out first keeps the last jobs short.
      const int64_t tile = jobs_per_head - 1 - job / shape.n_head_kv;
      const int64_t begin = tile * job_rows;
      run_job(pb, job % shape.n_head_kv, begin, std::min(rows_per_head, begin + job_rows), scratch);
    }
  });
}

}  // namespace sluice::ops
