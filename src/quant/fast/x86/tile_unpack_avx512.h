// Weight rows unpacked for the AVX-512 tile kernels (tile_gemm_avx512.cpp): 16 rows of one
// block format turned into bytes laid out for dpbusd with one int32 lane per row, plus the
// integers and floats each super-block's sum needs. One unpacker per format
// (tile_unpack_avx512.cpp); the products are the same for all of them.
//
// A super-block's integer sum, for every format here, is
//     isum = sum_j scale_j * sum_{k in sub-block j} q_k y_k  +  sum_i coef_i * bsum_i
// with q_k the stored quants (unsigned bytes), y the activations' quants and bsum_i the sums
// of their 16-value groups. The bsums term either corrects an offset added to q to make it
// unsigned (coef_i = -offset * scale of group i; it joins isum), or is the minimums' sum of
// the formats with minimums (Q2_K, Q4_K, Q5_K: msum, kept apart for `d isum - dmin msum`).
//
// Include only from files compiled with the AVX-512 flags.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "quant/fast/kernels.h"

namespace sluice::quant::fast::detail {

inline constexpr int kTileLanes = 16;       // int32 lanes: one weight row each
inline constexpr int kGroupsPerBlock = 64;  // groups of 4 values in a 256-value super-block

// 4 values of each of 16 rows, one row per 4 bytes: what one dpbusd multiplies.
struct alignas(64) ValueGroup {
  uint8_t bytes[kTileLanes * 4];
};

inline constexpr int kBsumPairs = 8;  // the 16 bsums of a super-block, in int16 pairs

struct UnpackedRows {
  int sub_blocks = 0;                            // 8 of 32 values or 16 of 16
  FilesVector<ValueGroup, Avx512Files> q;        // [block][group]: the quants, one per byte
  FilesVector<int32_t, Avx512Files> scales;      // [block][sub-block][row]
  FilesVector<int32_t, Avx512Files> bsum_coefs;  // [block][pair p][row]: int16 coef of bsums 2p | 2p + 1 << 16
  FilesVector<float, Avx512Files> d, dmin;       // [block][row]: the f32 factors of isum and msum

  void resize(int64_t n_blocks, int n_sub_blocks) {
    sub_blocks = n_sub_blocks;
    q.resize(static_cast<size_t>(n_blocks * kGroupsPerBlock));
    scales.resize(static_cast<size_t>(n_blocks * sub_blocks * kTileLanes));
    bsum_coefs.resize(static_cast<size_t>(n_blocks * kBsumPairs * kTileLanes));
    d.resize(static_cast<size_t>(n_blocks * kTileLanes));
    dmin.resize(static_cast<size_t>(n_blocks * kTileLanes));
  }
  void* group(int64_t block, int g) { return q.data() + block * kGroupsPerBlock + g; }
  int32_t* scales_of(int64_t block, int j) { return scales.data() + (block * sub_blocks + j) * kTileLanes; }
  int32_t* coefs_of(int64_t block, int pair) { return bsum_coefs.data() + (block * kBsumPairs + pair) * kTileLanes; }
};

// Unpacks 16 rows (w_row_bytes apart) of n_blocks super-blocks each.
using UnpackFn = void (*)(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);

void unpack_q2_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_q3_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_q4_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_q5_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_q6_k(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq1_s(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq1_m(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq2_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq2_xs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq2_s(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq3_xxs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq3_s(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_tq1_0(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_tq2_0(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);
void unpack_iq4_xs(const std::byte* w, size_t w_row_bytes, int64_t n_blocks, UnpackedRows& u);

}  // namespace sluice::quant::fast::detail
