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

// A block as its fields before its 32-bit words, the words, and fields after, the values it
// holds, and the bytes of a field (16-bit fields; MXFP4's exponent byte).
struct GroupShape {
  int halves_before;
  int words;
  int halves_after;
  int64_t values;
  int field_bytes = 2;

  size_t block_bytes() const { return static_cast<size_t>(field_bytes * (halves_before + halves_after) + 4 * words); }
};

GroupShape group_shape(GgmlType type) {
  switch (type) {
    case GgmlType::Q2_K:
      return {0, 20, 2, 256};
    case GgmlType::Q3_K:
      return {0, 27, 1, 256};
    case GgmlType::Q4_K:
      return {2, 35, 0, 256};
    case GgmlType::Q5_K:
      return {2, 43, 0, 256};
    case GgmlType::Q6_K:
      return {0, 52, 1, 256};
    case GgmlType::IQ4_XS:
      return {2, 33, 0, 256};
    case GgmlType::Q8_0:
      return {1, 8, 0, 32};
    case GgmlType::Q4_0:
    case GgmlType::IQ4_NL:
      return {1, 4, 0, 32};
    case GgmlType::Q4_1:
      return {2, 4, 0, 32};
    case GgmlType::Q5_0:
      return {1, 5, 0, 32};
    case GgmlType::Q5_1:
      return {2, 5, 0, 32};
    case GgmlType::MXFP4:
      return {1, 4, 0, 32, 1};
    case GgmlType::NVFP4:
      return {0, 9, 0, 64};
    default:
      break;
  }
  return {};  // no group layout: values 0
}

// Where a super-block's pieces lie in a plain row block and in a group block (row r).
struct Offsets {
  GroupShape shape;

  size_t half_in_row(int f) const { return field_bytes() * f + (f < shape.halves_before ? 0 : 4 * shape.words); }
  size_t half_in_group(int f, int r) const {
    return kGroupRows * field_bytes() * f + (f < shape.halves_before ? 0 : 32 * shape.words) + field_bytes() * r;
  }
  size_t word_in_row(int k) const { return field_bytes() * shape.halves_before + 4 * k; }
  size_t word_in_group(int k, int r) const { return kGroupRows * field_bytes() * shape.halves_before + 32 * k + 4 * r; }
  size_t field_bytes() const { return static_cast<size_t>(shape.field_bytes); }
  int halves() const { return shape.halves_before + shape.halves_after; }
};

// The super-blocks of 8 rows (row r's at rows + r * row_bytes) into one group block, and back.
// The words go as 4 x 4 transposes, the rest one at a time.
void into_group(const Offsets& at, const std::byte* rows, size_t row_bytes, std::byte* group) {
  for (int r = 0; r < kGroupRows; ++r) {
    const std::byte* row = rows + r * row_bytes;
    for (int f = 0; f < at.halves(); ++f)
      std::memcpy(group + at.half_in_group(f, r), row + at.half_in_row(f), at.field_bytes());
  }
  const int whole = at.shape.words / 4 * 4;
  for (int r = 0; r < kGroupRows; r += 4) {
    for (int k = 0; k < whole; k += 4) {
      transpose_4x4_words(rows + r * row_bytes + at.word_in_row(k), row_bytes, group + at.word_in_group(k, r), 32);
    }
  }
  for (int r = 0; r < kGroupRows; ++r) {
    for (int k = whole; k < at.shape.words; ++k) {
      std::memcpy(group + at.word_in_group(k, r), rows + r * row_bytes + at.word_in_row(k), 4);
    }
  }
}

void out_of_group(const Offsets& at, const std::byte* group, std::byte* rows, size_t row_bytes) {
  for (int r = 0; r < kGroupRows; ++r) {
    std::byte* row = rows + r * row_bytes;
    for (int f = 0; f < at.halves(); ++f)
      std::memcpy(row + at.half_in_row(f), group + at.half_in_group(f, r), at.field_bytes());
  }
  const int whole = at.shape.words / 4 * 4;
  for (int r = 0; r < kGroupRows; r += 4) {
    for (int k = 0; k < whole; k += 4) {
      transpose_4x4_words(group + at.word_in_group(k, r), 32, rows + r * row_bytes + at.word_in_row(k), row_bytes);
    }
  }
  for (int r = 0; r < kGroupRows; ++r) {
    for (int k = whole; k < at.shape.words; ++k) {
      std::memcpy(rows + r * row_bytes + at.word_in_row(k), group + at.word_in_group(k, r), 4);
    }
  }
}

// Row r (< 8) of a group's block alone.
void row_out_of_group(const Offsets& at, const std::byte* group, int r, std::byte* row) {
  for (int f = 0; f < at.halves(); ++f)
    std::memcpy(row + at.half_in_row(f), group + at.half_in_group(f, r), at.field_bytes());
  for (int k = 0; k < at.shape.words; ++k) std::memcpy(row + at.word_in_row(k), group + at.word_in_group(k, r), 4);
}

}  // namespace

bool can_group_rows(GgmlType type, int64_t n_cols, int64_t n_rows) {
  const int64_t values = group_shape(type).values;
  return values > 0 && n_cols > 0 && n_cols % values == 0 && n_rows > 0 && n_rows % kGroupRows == 0;
}

namespace {

// The 8 plain rows at `rows` (w's row length) as one group at `group`.
void group_of(const MatrixView& w, const Offsets& at, const std::byte* rows, std::byte* group) {
  const size_t block_bytes = at.shape.block_bytes();
  for (int64_t b = 0; b < w.n_cols / at.shape.values; ++b) {
    const size_t offset = static_cast<size_t>(b) * block_bytes;
    into_group(at, rows + offset, w.row_bytes, group + kGroupRows * offset);
  }
}

}  // namespace

void group_rows(const MatrixView& w, std::byte* data) {
  SLUICE_ASSERT(w.order == RowOrder::kRows && w.data == data && can_group_rows(w.type, w.n_cols, w.n_rows));
  const Offsets at{group_shape(w.type)};
  const size_t group_bytes = kGroupRows * w.row_bytes;
  std::vector<std::byte> rows(group_bytes);
  for (int64_t g = 0; g < w.n_rows / kGroupRows; ++g) {
    std::byte* group = data + static_cast<size_t>(g) * group_bytes;
    std::memcpy(rows.data(), group, group_bytes);
    group_of(w, at, rows.data(), group);
  }
}

void group_rows_to(const MatrixView& w, std::byte* out) {
  SLUICE_ASSERT(w.order == RowOrder::kRows && can_group_rows(w.type, w.n_cols, w.n_rows));
  const Offsets at{group_shape(w.type)};
  const size_t group_bytes = kGroupRows * w.row_bytes;
  for (int64_t g = 0; g < w.n_rows / kGroupRows; ++g) {
    const size_t offset = static_cast<size_t>(g) * group_bytes;
    group_of(w, at, w.data + offset, out + offset);
  }
}

void copy_rows(const MatrixView& w, int64_t first, int64_t count, std::byte* out) {
  SLUICE_ASSERT(first >= 0 && count >= 0 && first + count <= w.n_rows);
  if (w.order == RowOrder::kRows) {
    std::memcpy(out, w.row(first), static_cast<size_t>(count) * w.row_bytes);
    return;
  }
  const Offsets at{group_shape(w.type)};
  const size_t block_bytes = at.shape.block_bytes();
  const int64_t n_blocks = w.n_cols / at.shape.values;
  // Super-block b of the group that holds row r, and of row r where it is copied to.
  const auto group_block = [&](int64_t r, int64_t b) {
    return w.row(r / kGroupRows * kGroupRows) + kGroupRows * static_cast<size_t>(b) * block_bytes;
  };
  const auto out_block = [&](int64_t r, int64_t b) {
    return out + static_cast<size_t>(r - first) * w.row_bytes + static_cast<size_t>(b) * block_bytes;
  };
  for (int64_t r = first; r < first + count;) {
    if (r % kGroupRows == 0 && r + kGroupRows <= first + count) {  // a whole group
      for (int64_t b = 0; b < n_blocks; ++b) out_of_group(at, group_block(r, b), out_block(r, b), w.row_bytes);
      r += kGroupRows;
    } else {
      for (int64_t b = 0; b < n_blocks; ++b) {
        row_out_of_group(at, group_block(r, b), static_cast<int>(r % kGroupRows), out_block(r, b));
      }
      ++r;
    }
  }
}

}  // namespace sluice::quant
