#include "quant/interleaved_rows.h"

#include <cstddef>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "util/error.h"

namespace sluice::quant {
namespace {

// Words [0, 4) of 4 rows of 32-bit words at `src` (rows src_stride bytes apart) to words
// [0, 4) of 4 rows at `dst` (dst_stride apart), transposed: dst row i word j = src row j word i.
void transpose_4x4_words(const std::byte* src, size_t src_stride, std::byte* dst, size_t dst_stride) {
#if defined(__SSE2__)
  const auto load = [&](int i) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i * src_stride)); };
  const auto store = [&](int i, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i * dst_stride), v); };
  const __m128i r0 = load(0), r1 = load(1), r2 = load(2), r3 = load(3);
  const __m128i low01 = _mm_unpacklo_epi32(r0, r1), high01 = _mm_unpackhi_epi32(r0, r1);  // r0[0] r1[0] r0[1] r1[1]
  const __m128i low23 = _mm_unpacklo_epi32(r2, r3), high23 = _mm_unpackhi_epi32(r2, r3);
  store(0, _mm_unpacklo_epi64(low01, low23));
  store(1, _mm_unpackhi_epi64(low01, low23));
  store(2, _mm_unpacklo_epi64(high01, high23));
  store(3, _mm_unpackhi_epi64(high01, high23));
#else
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) std::memcpy(dst + i * dst_stride + 4 * j, src + j * src_stride + 4 * i, 4);
  }
#endif
}

// The super-blocks of 8 rows (row r's at rows + r * row_bytes) into one group block, and back.
// The quant words go as 4 x 4 transposes; the scales one word at a time.
void into_group(const std::byte* rows, size_t row_bytes, Q4KGroupBlock& group) {
  for (int r = 0; r < kGroupRows; ++r) {
    const auto& x = *reinterpret_cast<const BlockQ4_K*>(rows + r * row_bytes);
    group.d[r] = x.d;
    group.dmin[r] = x.dmin;
    for (int k = 0; k < 3; ++k) std::memcpy(&group.scales[k][r], x.scales + 4 * k, sizeof(uint32_t));
  }
  auto* qs = reinterpret_cast<std::byte*>(group.qs);
  for (int r = 0; r < kGroupRows; r += 4) {
    for (int k = 0; k < 32; k += 4) {
      transpose_4x4_words(rows + r * row_bytes + offsetof(BlockQ4_K, qs) + 4 * k, row_bytes,
                          qs + sizeof(group.qs[0]) * k + 4 * r, sizeof(group.qs[0]));
    }
  }
}

void out_of_group(const Q4KGroupBlock& group, std::byte* rows, size_t row_bytes) {
  for (int r = 0; r < kGroupRows; ++r) {
    auto& x = *reinterpret_cast<BlockQ4_K*>(rows + r * row_bytes);
    x.d = group.d[r];
    x.dmin = group.dmin[r];
    for (int k = 0; k < 3; ++k) std::memcpy(x.scales + 4 * k, &group.scales[k][r], sizeof(uint32_t));
  }
  const auto* qs = reinterpret_cast<const std::byte*>(group.qs);
  for (int r = 0; r < kGroupRows; r += 4) {
    for (int k = 0; k < 32; k += 4) {
      transpose_4x4_words(qs + sizeof(group.qs[0]) * k + 4 * r, sizeof(group.qs[0]),
                          rows + r * row_bytes + offsetof(BlockQ4_K, qs) + 4 * k, row_bytes);
    }
  }
}

// Row r (< 8) of a group's block alone.
void row_out_of_group(const Q4KGroupBlock& group, int r, BlockQ4_K& x) {
  x.d = group.d[r];
  x.dmin = group.dmin[r];
  for (int k = 0; k < 3; ++k) std::memcpy(x.scales + 4 * k, &group.scales[k][r], sizeof(uint32_t));
  for (int k = 0; k < 32; ++k) std::memcpy(x.qs + 4 * k, &group.qs[k][r], sizeof(uint32_t));
}

}  // namespace

bool can_group_rows(GgmlType type, int64_t n_cols, int64_t n_rows) {
  return type == GgmlType::Q4_K && n_cols > 0 && n_cols % 256 == 0 && n_rows > 0 && n_rows % kGroupRows == 0;
}

void group_rows(const MatrixView& w, std::byte* data) {
  SLUICE_ASSERT(w.order == RowOrder::kRows && w.data == data && can_group_rows(w.type, w.n_cols, w.n_rows));
  const int64_t n_blocks = w.n_cols / 256;
  const size_t group_bytes = kGroupRows * w.row_bytes;
  std::vector<std::byte> rows(group_bytes);
  for (int64_t g = 0; g < w.n_rows / kGroupRows; ++g) {
    std::byte* group = data + static_cast<size_t>(g) * group_bytes;
    std::memcpy(rows.data(), group, group_bytes);
    auto* blocks = reinterpret_cast<Q4KGroupBlock*>(group);
    for (int64_t b = 0; b < n_blocks; ++b) into_group(rows.data() + b * sizeof(BlockQ4_K), w.row_bytes, blocks[b]);
  }
}

void copy_rows(const MatrixView& w, int64_t first, int64_t count, std::byte* out) {
  SLUICE_ASSERT(first >= 0 && count >= 0 && first + count <= w.n_rows);
  if (w.order == RowOrder::kRows) {
    std::memcpy(out, w.row(first), static_cast<size_t>(count) * w.row_bytes);
    return;
  }
  const int64_t n_blocks = w.n_cols / 256;
  const auto group_of = [&](int64_t r) {
    return reinterpret_cast<const Q4KGroupBlock*>(w.row(r / kGroupRows * kGroupRows));
  };
  const auto out_row = [&](int64_t r) { return out + static_cast<size_t>(r - first) * w.row_bytes; };
  for (int64_t r = first; r < first + count;) {
    if (r % kGroupRows == 0 && r + kGroupRows <= first + count) {  // a whole group
      for (int64_t b = 0; b < n_blocks; ++b)
        out_of_group(group_of(r)[b], out_row(r) + b * sizeof(BlockQ4_K), w.row_bytes);
      r += kGroupRows;
    } else {
      auto* blocks = reinterpret_cast<BlockQ4_K*>(out_row(r));
      for (int64_t b = 0; b < n_blocks; ++b)
        row_out_of_group(group_of(r)[b], static_cast<int>(r % kGroupRows), blocks[b]);
      ++r;
    }
  }
}

}  // namespace sluice::quant
