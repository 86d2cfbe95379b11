#include "quant/ggml_type.h"

#include <array>

#include "util/error.h"

namespace sluice::quant {
namespace {

struct TypeEntry {
  uint32_t id;
  TypeTraits traits;
};

// Block geometry from the GGUF format (ggml type ids, elements and bytes per block).
constexpr std::array kTypes = {
    TypeEntry{0, {"F32", 1, 4}},        TypeEntry{1, {"F16", 1, 2}},
    TypeEntry{2, {"Q4_0", 32, 18}},     TypeEntry{3, {"Q4_1", 32, 20}},
    TypeEntry{6, {"Q5_0", 32, 22}},     TypeEntry{7, {"Q5_1", 32, 24}},
    TypeEntry{8, {"Q8_0", 32, 34}},     TypeEntry{9, {"Q8_1", 32, 36}},
    TypeEntry{10, {"Q2_K", 256, 84}},   TypeEntry{11, {"Q3_K", 256, 110}},
    TypeEntry{12, {"Q4_K", 256, 144}},  TypeEntry{13, {"Q5_K", 256, 176}},
    TypeEntry{14, {"Q6_K", 256, 210}},  TypeEntry{15, {"Q8_K", 256, 292}},
    TypeEntry{16, {"IQ2_XXS", 256, 66}}, TypeEntry{17, {"IQ2_XS", 256, 74}},
    TypeEntry{18, {"IQ3_XXS", 256, 98}}, TypeEntry{19, {"IQ1_S", 256, 50}},
    TypeEntry{20, {"IQ4_NL", 32, 18}},  TypeEntry{21, {"IQ3_S", 256, 110}},
    TypeEntry{22, {"IQ2_S", 256, 82}},  TypeEntry{23, {"IQ4_XS", 256, 136}},
    TypeEntry{24, {"I8", 1, 1}},        TypeEntry{25, {"I16", 1, 2}},
    TypeEntry{26, {"I32", 1, 4}},       TypeEntry{27, {"I64", 1, 8}},
    TypeEntry{28, {"F64", 1, 8}},       TypeEntry{29, {"IQ1_M", 256, 56}},
    TypeEntry{30, {"BF16", 1, 2}},      TypeEntry{34, {"TQ1_0", 256, 54}},
    TypeEntry{35, {"TQ2_0", 256, 66}},  TypeEntry{39, {"MXFP4", 32, 17}},
    TypeEntry{40, {"NVFP4", 64, 36}},
};

}  // namespace

std::optional<TypeTraits> type_traits(uint32_t type_id) {
  for (const auto& entry : kTypes) {
    if (entry.id == type_id) return entry.traits;
  }
  return std::nullopt;
}

TypeTraits traits_of(GgmlType type) {
  auto traits = type_traits(static_cast<uint32_t>(type));
  SLUICE_ASSERT(traits.has_value());
  return *traits;
}

std::string_view type_name(GgmlType type) { return traits_of(type).name; }

uint64_t row_bytes(GgmlType type, uint64_t n_elements) {
  const TypeTraits t = traits_of(type);
  SLUICE_ASSERT(n_elements % t.block_size == 0);
  return n_elements / t.block_size * t.type_size;
}

bool is_supported_for_compute(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q8_0:
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
    case GgmlType::IQ2_XXS:
    case GgmlType::IQ2_XS:
    case GgmlType::IQ2_S:
    case GgmlType::IQ3_XXS:
    case GgmlType::IQ3_S:
    case GgmlType::IQ1_S:
    case GgmlType::IQ1_M:
    case GgmlType::IQ4_NL:
    case GgmlType::IQ4_XS:
    case GgmlType::TQ1_0:
    case GgmlType::TQ2_0:
    case GgmlType::MXFP4:
    case GgmlType::NVFP4:
      return true;
    default:
      return false;
  }
}

}  // namespace sluice::quant
