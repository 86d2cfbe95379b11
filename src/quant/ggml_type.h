// GGML tensor types as GGUF files number them, with their block geometry.
//
// The table covers every type id a GGUF may carry so that files can be validated and
// inspected even where sluice cannot compute with a type; `is_supported_for_compute` says
// which ones quant/ can decode.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::quant {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40,
};

struct TypeTraits {
  std::string_view name;
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
};

// Geometry of a type id read from a file; nullopt for ids no GGUF writer uses.
std::optional<TypeTraits> type_traits(uint32_t type_id);

// Same, for a type known to be valid.
TypeTraits traits_of(GgmlType type);

std::string_view type_name(GgmlType type);

// Bytes taken by `n_elements` values of `type` (n_elements a multiple of the block size).
uint64_t row_bytes(GgmlType type, uint64_t n_elements);

// Whether quant/ can decode (and so compute with) this type.
bool is_supported_for_compute(GgmlType type);

}  // namespace sluice::quant
