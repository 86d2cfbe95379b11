// What the per-instruction-set files (dot_scalar.cpp, x86/dot_avx2.cpp, x86/dot_avx512.cpp)
// hand to the dispatcher (dispatch.cpp): a table of row kernels indexed by GGML type id, and
// the activation quantizers.
//
// The 256-value formats (K-quants, i-quants, TQ1_0, TQ2_0) sum each super-block in integers
// and then add its contribution in f32 with the same scalar expression in every file, so their
// results are bit-identical across instruction sets (x86/super_blocks.h evaluates it for four
// super-blocks at once, with the same roundings in the same order). The 32-value formats (and
// NVFP4's 64) and the float formats accumulate in vector lanes, so their sums are ordered
// differently per set (equal within float rounding; AVX512_BF16's kernel also flushes
// subnormal inputs and results to zero).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <vector>

#include "quant/fast/fast_dot.h"

namespace sluice::quant::fast::detail {

// A std::vector for the instruction-set files, whose allocator names the group of files
// compiled with the same target flags (CMakeLists.txt). A vector's out-of-line members (resize's
// _M_default_append) are weak symbols of which the linker keeps one copy for the whole program:
// a plain std::vector<float> resized in a file built for AVX-512 can be the copy that baseline
// code calls, and an AVX2-only CPU then dies on an AVX-512 instruction in vector<float>::resize
// (seen in the sanitizer build). A vector of FilesVector<T, Avx512Files> is a type only the
// AVX-512 files use, so its members run only where they do.
struct Avx2Files {};
struct Avx512Files {};  // also x86/tile_unpack_avx512.cpp, whose flags differ only in BMI2
struct AmxFiles {};

template <class T, class Files>
struct FilesAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = FilesAllocator<U, Files>;
  };
  FilesAllocator() = default;
  template <class U>
  FilesAllocator(const FilesAllocator<U, Files>&) noexcept {}  // NOLINT: rebinding converts
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)})); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, std::align_val_t{alignof(T)}); }
  friend bool operator==(const FilesAllocator&, const FilesAllocator&) noexcept { return true; }
};

template <class T, class Files>
using FilesVector = std::vector<T, FilesAllocator<T, Files>>;

inline constexpr uint32_t kTypeSlots = 41;  // GGML type ids 0..40

// Quantizes one row of n_cols activations into a kQ8x32 or kQ8x256 row (layout in
// fast_dot.h). Every set's version gives the same bytes as the scalar one.
using QuantizeRowFn = void (*)(const float* x, int64_t n_cols, std::byte* out);

struct KernelTable {
  RowDotFn dot[kTypeSlots] = {};
  GroupDotFn group_dot[kTypeSlots] = {};  // rows in groups of 8 (group_dot in fast_dot.h)
  // Per type, whether the store groups rows unless told (groups_rows): the set that gives a
  // type its group kernel decides.
  bool groups_rows_by_default[kTypeSlots] = {};
  QuantizeRowFn quantize_q8x32 = nullptr;
  QuantizeRowFn quantize_q8x256 = nullptr;
};

// Each fills in the kernels its instruction set has. The x86 ones exist only when
// SLUICE_X86_KERNELS is defined. Each set's kernels are split by format family over several
// files; add_<set>_kernels (in the set's main file) calls the family ones.
void add_scalar_kernels(KernelTable& table);
void add_avx2_kernels(KernelTable& table);
// AVX-512 extensions with kernels of their own, which replace some of the AVX-512 file's.
struct Avx512Extensions {
  bool vbmi = false;  // VBMI: x86/dot_avx512_vbmi.cpp (with BMI2, which kAvx512 includes)
  bool bf16 = false;  // AVX512_BF16: x86/dot_avx512_bf16.cpp
  bool gfni = false;  // GFNI: x86/dot_avx512_gfni.cpp
};
void add_avx512_kernels(KernelTable& table, Avx512Extensions extensions);

void add_scalar_iq_kernels(KernelTable& table);            // dot_scalar_iq.cpp
void add_scalar_ternary_fp4_kernels(KernelTable& table);   // dot_scalar_ternary_fp4.cpp
void add_avx2_iq_kernels(KernelTable& table);              // x86/dot_avx2_iq.cpp
void add_avx2_ternary_fp4_kernels(KernelTable& table);     // x86/dot_avx2_ternary_fp4.cpp
void add_avx2_group_kernels(KernelTable& table);           // x86/dot_avx2_groups.cpp
void add_avx2_blocks32_group_kernels(KernelTable& table);  // x86/dot_avx2_groups32.cpp
void add_avx2_iq4_xs_group_kernel(KernelTable& table);     // x86/dot_avx2_groups_iq4_xs.cpp
void add_avx2_q5_k_group_kernel(KernelTable& table);       // x86/dot_avx2_groups_q5_k.cpp
void add_avx2_nvfp4_kernels(KernelTable& table);           // x86/dot_avx2_nvfp4.cpp
void add_avx512_iq_kernels(KernelTable& table);            // x86/dot_avx512_iq.cpp
void add_avx512_ternary_fp4_kernels(KernelTable& table);   // x86/dot_avx512_ternary_fp4.cpp
void add_avx512_vbmi_kernels(KernelTable& table);          // x86/dot_avx512_vbmi.cpp (CPUs with VBMI)
void add_avx512_bf16_kernels(KernelTable& table);          // x86/dot_avx512_bf16.cpp (CPUs with AVX512_BF16)
void add_avx512_gfni_kernels(KernelTable& table);          // x86/dot_avx512_gfni.cpp (CPUs with GFNI)
void add_scalar_activation_quantizers(KernelTable& table);  // activations_scalar.cpp
void add_avx2_activation_quantizers(KernelTable& table);    // x86/activations_avx2.cpp
void add_avx512_activation_quantizers(KernelTable& table);  // x86/activations_avx512.cpp
void add_avx512_group_kernels(KernelTable& table);          // x86/dot_avx512_groups.cpp

// The 16 IQ4_NL / IQ4_XS levels as integers (quant_tables.h's kValuesIq4nl holds them as
// floats).
inline constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Helpers for the kernel files, in an unnamed namespace so that each instruction set's file
// compiles its own copy (an inline function shared across files could be linked in its AVX-512
// build and then run on a CPU without AVX-512).
namespace {

inline void set_kernel(KernelTable& table, GgmlType type, RowDotFn fn) {
  table.dot[static_cast<uint32_t>(type)] = fn;
}

// Views of one row of quantized activations (layout in fast_dot.h).

struct Q8x32View {
  const int8_t* qs;
  const int32_t* sum;
  const float* d;
};

struct Q8x256View {
  const int8_t* qs;
  const int16_t* bsums;
  const float* d;
};

inline Q8x32View view_q8x32(const std::byte* row, int64_t n) {
  const auto* qs = reinterpret_cast<const int8_t*>(row);
  const auto* sum = reinterpret_cast<const int32_t*>(row + n);
  return {qs, sum, reinterpret_cast<const float*>(sum + n / 32)};
}

inline Q8x256View view_q8x256(const std::byte* row, int64_t n) {
  const auto* qs = reinterpret_cast<const int8_t*>(row);
  const auto* bsums = reinterpret_cast<const int16_t*>(row + n);
  return {qs, bsums, reinterpret_cast<const float*>(bsums + n / 16)};
}

// The same fields of a row being written (the activation quantizers').
struct Q8x32Fields {
  int8_t* qs;
  int32_t* sum;
  float* d;
};

struct Q8x256Fields {
  int8_t* qs;
  int16_t* bsums;
  float* d;
};

inline Q8x32Fields fields_q8x32(std::byte* row, int64_t n) {
  auto* sum = reinterpret_cast<int32_t*>(row + n);
  return {reinterpret_cast<int8_t*>(row), sum, reinterpret_cast<float*>(sum + n / 32)};
}

inline Q8x256Fields fields_q8x256(std::byte* row, int64_t n) {
  auto* bsums = reinterpret_cast<int16_t*>(row + n);
  return {reinterpret_cast<int8_t*>(row), bsums, reinterpret_cast<float*>(bsums + n / 16)};
}

// The scale of a group of activations quantized to 8 bits, value = d * q with
// q = round(x * inv_d) in [-127, 127] and d = max |x| / 127, from max |x| as float bits (for
// non-negative floats integer order is float order, and infinities and NaNs lie above every
// finite value). Non-finite input gives d = NaN, so that every product with the group is NaN;
// values too small for 1/d to be finite (max |x| below about 4e-37) give d = 0, as all zeros
// do. In those cases inv_d is 0 and the group's quants are written as zeros (not computed:
// NaN * 0 is NaN). Every set computes it with this code, so their quants agree to the bit.
struct ActivationGroupScale {
  float d;
  float inv_d;
  bool quants_are_zero() const { return inv_d == 0.0f; }
};

inline ActivationGroupScale activation_group_scale(uint32_t max_abs_bits) {
  if (max_abs_bits >= 0x7f800000u) return {std::numeric_limits<float>::quiet_NaN(), 0.0f};
  const float d = std::bit_cast<float>(max_abs_bits) / 127.0f;
  const float inv_d = d > 0.0f ? 1.0f / d : 0.0f;
  if (inv_d > std::numeric_limits<float>::max()) return {0.0f, 0.0f};
  return {d, inv_d};
}

}  // namespace

// A one-token dot product of one weight row.
using DotFn = float (*)(const std::byte* w_row, const std::byte* act, int64_t n_cols);

// A RowDotFn from a one-token dot product: the same arithmetic for every row and token.
template <DotFn Dot>
void for_each_token(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act,
                    size_t act_stride, int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const std::byte* w_row = w + static_cast<size_t>(r) * w_row_bytes;
    for (int64_t t = 0; t < n_tokens; ++t) {
      out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] =
          Dot(w_row, act + static_cast<size_t>(t) * act_stride, n_cols);
    }
  }
}

// One token against several weight rows: out[r] = dot(row r, act) for r < n_rows. Kernels
// that carry work from one row into the next (x86/super_blocks.h) take this form.
using RowsDotFn = void (*)(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, int64_t n_cols,
                           float* out);

// A RowDotFn from a RowsDotFn: all rows at once, token by token.
template <RowsDotFn Rows>
void rows_for_each_token(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act,
                         size_t act_stride, int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride) {
  for (int64_t t = 0; t < n_tokens; ++t) {
    Rows(w, w_row_bytes, n_rows, act + static_cast<size_t>(t) * act_stride, n_cols,
         out + static_cast<size_t>(t) * out_stride);
  }
}

// Prompt kernels compute a group of up to kGroup tokens per pass over a weight row: each block
// is unpacked once and its scales applied to all of the group's tokens, where a one-token
// kernel repeats that work for every token. The arithmetic per token is the one-token
// kernel's (the same integer sums per block, the same f32 expression), so results stay
// bit-identical and do not depend on how tokens fall into groups. A TokenGroupFn takes one
// weight row and 1..kGroup tokens (fewer cost as much as a full group):
// out[t * out_stride] = dot(w_row, activation row t).
using TokenGroupFn = void (*)(const std::byte* w_row, const std::byte* act, size_t act_stride, int64_t n_tokens,
                              int64_t n_cols, float* out, size_t out_stride);

// A RowDotFn running each row's tokens through Group, kGroup at a time, except a last single
// token (decoding's case), which goes through Single.
template <int kGroup, TokenGroupFn Group, RowsDotFn Single>
void in_token_groups(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act, size_t act_stride,
                     int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride) {
  if (n_tokens == 1) {
    Single(w, w_row_bytes, n_rows, act, n_cols, out);
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const std::byte* w_row = w + static_cast<size_t>(r) * w_row_bytes;
    for (int64_t t = 0; t < n_tokens; t += kGroup) {
      const int64_t n = std::min<int64_t>(kGroup, n_tokens - t);
      float* row_out = out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(r);
      const std::byte* group_act = act + static_cast<size_t>(t) * act_stride;
      if (n == 1) {
        Single(w_row, w_row_bytes, 1, group_act, n_cols, row_out);
      } else {
        Group(w_row, group_act, act_stride, n, n_cols, row_out, out_stride);
      }
    }
  }
}

}  // namespace sluice::quant::fast::detail
