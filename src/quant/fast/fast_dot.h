// The fast dot products: weight rows in their block format against activations quantized
// on the fly to 8-bit blocks (rounded to bf16 for BF16 weights, kept in f32 for F32 and F16
// weights), as llama.cpp's CPU path computes them.
//
// Unlike quant/decode.h (the exact path), this path rounds the activations: each group of 32
// values (Q8_0-style, for the 32-value formats) or 256 values (Q8_K-style, with sums per 16,
// for K-quants and i-quants) becomes int8 with one f32 scale. Products of quants are summed
// in integers; block scales combine them in f32.
//
// Kernels exist per instruction set, one source file each (dot_scalar.cpp,
// x86/dot_avx2.cpp, x86/dot_avx512.cpp). The set is chosen once at start-up from the CPU's
// features; the environment variable SLUICE_ISA=scalar|avx2|avx512 overrides the choice.
// A format an instruction set has no kernel for uses the next lower set's kernel; a format
// without any fast kernel has none here (row_dot returns nullptr) and callers use the exact
// path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "quant/ggml_type.h"

namespace sluice::quant::fast {

enum class Isa { kScalar, kAvx2, kAvx512 };

std::string_view isa_name(Isa isa);
std::optional<Isa> parse_isa(std::string_view name);

// Whether this CPU can run `isa`'s kernels (scalar always).
bool cpu_supports(Isa isa);

// The instruction set in use: SLUICE_ISA if set and supported, else the best supported.
Isa active_isa();

// Switches the instruction set (tests, benchmarks). `isa` must be supported by the CPU.
void set_isa(Isa isa);

// How a format's kernels take their activations.
enum class ActivationFormat {
  kNone,    // no fast kernel: use the exact path
  kF32,     // the f32 activations as they are (F32, F16 weights)
  kBf16,    // rounded to bf16 (BF16 weights), as llama.cpp multiplies them
  kQ8x32,   // int8 per 32 values (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4, NVFP4)
  kQ8x256,  // int8 per 256 values with sums per 16, ggml's Q8_K (K-quants, i-quants, TQ*)
};

// One row of n quantized activations (n a multiple of the block) is laid out as arrays, so
// that SIMD loads of the quants are aligned:
//   kQ8x32:  int8 qs[n] | int32 sum[n / 32] | float d[n / 32]
//   kQ8x256: int8 qs[n] | int16 bsums[n / 16] | float d[n / 256]
//   kBf16:   uint16 bf16[n] (round to nearest even)
// value i = d[i / block] * qs[i], qs in [-127, 127]; sum and bsums add the quants of each 32
// and 16 values. A row takes a multiple of kActivationAlignment bytes, so the rows of an
// aligned buffer stay aligned (kernels do not require it; it makes them faster).
inline constexpr size_t kActivationAlignment = 64;

ActivationFormat activation_format(GgmlType weight_type);

// Bytes of one row of n_cols activations in the format `weight_type` needs (n_cols floats for
// kF32).
size_t activation_row_bytes(GgmlType weight_type, int64_t n_cols);

// Quantizes one row of n_cols activations for `weight_type` into `out`
// (activation_row_bytes(weight_type, n_cols) bytes; a plain copy for kF32). The same for every
// instruction set, so kernels of different sets see identical inputs.
void quantize_activations(GgmlType weight_type, const float* x, int64_t n_cols, std::byte* out);

// out[t * out_stride + r] = dot(weight row r, activation row t) for r in [0, n_rows) and t in
// [0, n_tokens), where weight row r starts at w + r * w_row_bytes and activation row t at
// act + t * act_stride. n_cols is the row length in values. Allocates nothing; the arithmetic
// per row and token does not depend on n_rows or n_tokens. Taking a range of rows lets a
// kernel keep its constants in registers across rows, which matters for short rows (an
// expert's down projection has 768 values).
using RowDotFn = void (*)(const std::byte* w, size_t w_row_bytes, int64_t n_rows, const std::byte* act,
                          size_t act_stride, int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride);

// The kernel of the active instruction set for `weight_type`, or nullptr (no fast kernel).
RowDotFn row_dot(GgmlType weight_type);

// Tokens against whole groups of 8 rows laid out by quant/interleaved_rows.h, group g starting
// at w + g * group_bytes: out[t * out_stride + 8 g + r] = dot(row r of group g, activation row
// t) for g < n_groups and t < n_tokens, activation row t at act + t * act_stride. Bit-identical
// to the row kernels on the same rows.
using GroupDotFn = void (*)(const std::byte* w, size_t group_bytes, int64_t n_groups, const std::byte* act,
                            size_t act_stride, int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride);

// The active instruction set's group kernel for `weight_type`, or nullptr (none: such rows are
// copied out of their groups and go through row_dot's kernel).
GroupDotFn group_dot(GgmlType weight_type);

// Whether matrices of `weight_type` should be laid out in groups when loaded: the active set
// has a group kernel for it, and grouping is on. By default it is on for the types whose group
// kernels pay for decoding on the active set (AVX-512: Q4_K, Q6_K; AVX2: Q4_K, Q5_K, IQ4_XS,
// NVFP4 and the 32-value formats; bench/MATVEC.md). The environment variable
// SLUICE_GROUP_ROWS=0 turns grouping off, =1 on wherever a group kernel exists;
// set_row_grouping does the same in code.
enum class RowGrouping { kDefault, kOn, kOff };
bool groups_rows(GgmlType weight_type);
void set_row_grouping(RowGrouping grouping);
RowGrouping row_grouping();

// Whether the group kernels read the groups of a one-token call as two streams side by side
// (x86/group_kernels.h: sum_group_blocks). Faster where the rows come from memory, a little
// slower where they sit in the caches: on where a model's weights are far larger than the
// caches (the CLI: loaded_model.cpp), off by default. The environment variable
// SLUICE_TWO_STREAMS=0 or =1 fixes it either way; set_two_streams sets it in code.
void set_two_streams(bool on);
bool two_streams();

// The kernel `isa` itself provides for `weight_type`, without falling back to a lower set;
// nullptr if it has none. For tests comparing instruction sets.
RowDotFn row_dot_of(Isa isa, GgmlType weight_type);

// As row_dot_of(Isa::kAvx512, weight_type) without the kernels that need AVX-512 VBMI or
// AVX512_BF16, which replace some on CPUs that have them: what CPUs without those run. For
// tests; needs AVX-512.
RowDotFn row_dot_of_avx512_base(GgmlType weight_type);

}  // namespace sluice::quant::fast
