// The AVX512_BF16 kernel of BF16 weights: vdpbf16ps multiplies 32 bf16 weights by 32 bf16
// activations (the kBf16 activation format, fast_dot.h) and adds each adjacent pair of products
// to an f32 lane, as llama.cpp computes this product. It replaces dot_avx512.cpp's BF16 kernel,
// which widens both operands to f32, on CPUs with AVX512_BF16 (Zen 4, Cooper Lake, Sapphire
// Rapids and later). Half the bytes per multiply-add: the widening kernel is limited by loads
// once the weights are cache-resident.
//
// vdpbf16ps adds a lane's two products one after the other (rounding to nearest even after
// each, whatever MXCSR says) and flushes subnormal inputs and results to zero, so its results
// equal the scalar kernel's within float rounding (the tests' tolerance), not bit for bit.
//
// Compiled with the AVX-512 flags plus -mavx512bf16 and called only on CPUs that have them
// (dispatch.cpp). Internal linkage and intrinsics only, as in dot_avx512.cpp.
#include <immintrin.h>

#include "quant/fast/kernels.h"
#include "quant/fast/x86/avx512_common.h"

namespace sluice::quant::fast::detail {
namespace {

inline __m512bh load32_bf16(const uint16_t* p) { return reinterpret_cast<__m512bh>(load512(p)); }

inline __m512bh load32_bf16(const uint16_t* p, __mmask32 m) {
  return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, p));
}

// Four accumulators of 16 lanes (32 products each per step); the tail through masked loads.
// No software prefetch, as dot_avx512.cpp's float kernel.
float dot_bf16(const std::byte* w, const std::byte* act, int64_t n) {
  const auto* wq = reinterpret_cast<const uint16_t*>(w);
  const auto* x = reinterpret_cast<const uint16_t*>(act);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 128 <= n; i += 128) {
    acc0 = _mm512_dpbf16_ps(acc0, load32_bf16(wq + i), load32_bf16(x + i));
    acc1 = _mm512_dpbf16_ps(acc1, load32_bf16(wq + i + 32), load32_bf16(x + i + 32));
    acc2 = _mm512_dpbf16_ps(acc2, load32_bf16(wq + i + 64), load32_bf16(x + i + 64));
    acc3 = _mm512_dpbf16_ps(acc3, load32_bf16(wq + i + 96), load32_bf16(x + i + 96));
  }
  for (; i + 32 <= n; i += 32) acc0 = _mm512_dpbf16_ps(acc0, load32_bf16(wq + i), load32_bf16(x + i));
  if (i < n) {
    const auto m = static_cast<__mmask32>((1u << (n - i)) - 1);
    acc1 = _mm512_dpbf16_ps(acc1, load32_bf16(wq + i, m), load32_bf16(x + i, m));
  }
  return hsum_f32(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

}  // namespace

void add_avx512_bf16_kernels(KernelTable& table) { set_kernel(table, GgmlType::BF16, for_each_token<dot_bf16>); }

}  // namespace sluice::quant::fast::detail
