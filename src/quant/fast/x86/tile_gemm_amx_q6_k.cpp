// Q6_K on AMX tiles (tile_gemm.h), 16 rows x 16 tokens per step.
//
// A super-block's integer sum is sum_j s_j * sum_{k in j} w_k y_k over 16 sub-blocks of 16,
// with signed 8-bit scales s_j and weights w_k = q_k - 32 in -32..31. Written in base 4,
// s = 64 d3 + 16 d2 + 4 d1 + d0 with d0..d2 in 0..3 and d3 in -2..1, every product d w fits a
// signed byte, so the 16-row tile is unpacked once into four byte matrices d_i(s_j) w_k and
// TDPBSSD sums whole super-blocks for each; the sum is 64 C3 + 16 C2 + 4 C1 + C0 (exact int32),
// the row kernels' integer, and the f32 step is theirs: bit-identical results.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "quant/blocks_k.h"
#include "quant/fast/kernels.h"
#include "quant/fast/x86/amx_tiles.h"
#include "quant/fast/x86/avx512_common.h"

namespace sluice::quant::fast::detail {
namespace {

// 16 Q6_K rows unpacked: per digit i the products d_i(s_j) w_k, tile by tile
// ([block][chunk][row][64]); per super-block and row the f32 scale.
struct UnpackedQ6K {
  FilesVector<int8_t, AmxFiles> digit[4];
  FilesVector<float, AmxFiles> d;  // [block][row]
};

void unpack_q6_k_rows(const std::byte* w_rows, size_t w_row_bytes, int64_t n_cols, UnpackedQ6K& u) {
  const int64_t nb = n_cols / 256;
  for (auto& digit : u.digit) digit.resize(static_cast<size_t>(16 * n_cols));
  u.d.resize(static_cast<size_t>(nb * 16));
  for (int64_t r = 0; r < 16; ++r) {
    const auto* blocks = blocks_of<BlockQ6_K>(w_rows + static_cast<size_t>(r) * w_row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_K& x = blocks[b];
      __m512i w[4];  // the weights q - 32
      q6_k_quants(x.ql, x.qh, w);
      for (__m512i& v : w) v = _mm512_sub_epi8(v, _mm512_set1_epi8(32));
      const __m512i scales = _mm512_broadcast_i32x4(load128(x.scales));
      for (int c = 0; c < 4; ++c) {  // values 64c .. 64c + 63: sub-blocks 4c .. 4c + 3
        // Each value's scale, as a byte: byte i takes scale 4c + i / 16.
        const __m512i which = _mm512_add_epi8(
            _mm512_set1_epi8(static_cast<char>(4 * c)),
            _mm512_set_epi64(0x0303030303030303, 0x0303030303030303, 0x0202020202020202, 0x0202020202020202,
                             0x0101010101010101, 0x0101010101010101, 0, 0));
        const __m512i s = _mm512_permutexvar_epi8(which, scales);
        const __m512i twice = _mm512_add_epi8(w[c], w[c]);
        const size_t at = static_cast<size_t>(((b * 4 + c) * 16 + r) * 64);
        for (int i = 0; i < 4; ++i) {
          // d_i w = bit0 * w + bit1 * 2w, except that the top digit's bit 1 weighs -2.
          const __mmask64 bit0 = _mm512_test_epi8_mask(s, _mm512_set1_epi8(static_cast<char>(1 << (2 * i))));
          const __mmask64 bit1 = _mm512_test_epi8_mask(s, _mm512_set1_epi8(static_cast<char>(2 << (2 * i))));
          const __m512i ones = _mm512_maskz_mov_epi8(bit0, w[c]);
          const __m512i product = i < 3 ? _mm512_mask_add_epi8(ones, bit1, ones, twice)
                                        : _mm512_mask_sub_epi8(ones, bit1, ones, twice);
          _mm512_storeu_si512(u.digit[i].data() + at, product);
        }
      }
      u.d[b * 16 + r] = f16(x.d);
    }
  }
}

// One 16-row tile times one token tile over every super-block. Tiles 0-3: the sums of the
// four digits; 4, 5: two digits' weights of 64 values; 6: those values' activations.
void q6_k_tile(const UnpackedQ6K& u, const PackedQ8x256* acts, int64_t n_cols, float (&sums)[16][16]) {
  alignas(64) int32_t part[4][16][16];
  std::memset(sums, 0, sizeof(sums));
  for (int64_t b = 0; b < n_cols / 256; ++b) {
    const size_t at = static_cast<size_t>(16 * 256 * b);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int c = 0; c < 4; ++c) {
      _tile_loadd(6, acts[b].sub_block[2 * c], 64);
      _tile_loadd(4, u.digit[0].data() + at + 1024 * c, 64);
      _tile_loadd(5, u.digit[1].data() + at + 1024 * c, 64);
      _tile_dpbssd(0, 4, 6);
      _tile_dpbssd(1, 5, 6);
      _tile_loadd(4, u.digit[2].data() + at + 1024 * c, 64);
      _tile_loadd(5, u.digit[3].data() + at + 1024 * c, 64);
      _tile_dpbssd(2, 4, 6);
      _tile_dpbssd(3, 5, 6);
    }
    _tile_stored(0, part[0], 64);
    _tile_stored(1, part[1], 64);
    _tile_stored(2, part[2], 64);
    _tile_stored(3, part[3], 64);
    // The row kernels' `sum += d * isum` per (row, token), d the block's scale times the
    // token's.
    const __m512 y_d = _mm512_loadu_ps(acts[b].d);
    for (int r = 0; r < 16; ++r) {
      const __m512i isum = _mm512_add_epi32(
          _mm512_add_epi32(_mm512_slli_epi32(load512(part[3][r]), 6), _mm512_slli_epi32(load512(part[2][r]), 4)),
          _mm512_add_epi32(_mm512_slli_epi32(load512(part[1][r]), 2), load512(part[0][r])));
      const __m512 d = _mm512_mul_ps(_mm512_set1_ps(u.d[b * 16 + r]), y_d);
      const __m512 block = _mm512_mul_ps(d, _mm512_cvtepi32_ps(isum));
      _mm512_storeu_ps(sums[r], _mm512_add_ps(_mm512_loadu_ps(sums[r]), block));
    }
  }
}

}  // namespace

void q6_k_tile_rows(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const TileActivations& activations,
                    int64_t n_cols, float* out, size_t out_stride) {
  _tile_loadconfig(&kTileConfig);
  thread_local UnpackedQ6K unpacked;
  const auto* acts = reinterpret_cast<const PackedQ8x256*>(activations.packed);
  const int64_t n_tokens = activations.n_tokens;
  const int64_t nb = n_cols / 256;
  for (int64_t r0 = 0; r0 < n_rows; r0 += 16) {
    unpack_q6_k_rows(w + static_cast<size_t>(r0) * w_row_bytes, w_row_bytes, n_cols, unpacked);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTileTokens) {
      alignas(64) float sums[16][16];
      q6_k_tile(unpacked, acts + (t0 / kTileTokens) * nb, n_cols, sums);
      store_transposed(sums, t0, n_tokens, out + r0, out_stride);
    }
  }
  _tile_release();
}

}  // namespace sluice::quant::fast::detail
