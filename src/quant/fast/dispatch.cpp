// Chooses the instruction set once (CPU features, SLUICE_ISA), builds its kernel table with
// fallbacks to lower sets, and quantizes activations with the chosen set's quantizers.
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "quant/fast/fast_dot.h"
#include "quant/fast/kernels.h"
#include "quant/float_formats.h"
#include "util/error.h"

namespace sluice::quant::fast {
namespace {

using detail::KernelTable;

RowDotFn kernel_of(const KernelTable& table, GgmlType type) {
  const auto id = static_cast<uint32_t>(type);
  return id < detail::kTypeSlots ? table.dot[id] : nullptr;
}

// The AVX-512 extensions this CPU has kernels for (x86/dot_avx512_vbmi.cpp: byte permutes and
// pext; x86/dot_avx512_bf16.cpp: bf16 dot products; x86/dot_avx512_gfni.cpp: bit-matrix
// multiplies), which replace some AVX-512 kernels.
detail::Avx512Extensions cpu_avx512_extensions() {
#if defined(SLUICE_X86_KERNELS)
  if (!cpu_supports(Isa::kAvx512)) return {};
  return {.vbmi = static_cast<bool>(__builtin_cpu_supports("avx512vbmi")),  // BMI2 is part of kAvx512
          .bf16 = static_cast<bool>(__builtin_cpu_supports("avx512bf16")),
          .gfni = static_cast<bool>(__builtin_cpu_supports("gfni"))};
#else
  return {};
#endif
}

// The kernels `isa` adds itself, with those of the extensions in `extensions`.
KernelTable own_kernels(Isa isa, detail::Avx512Extensions extensions) {
  KernelTable table;
  switch (isa) {
    case Isa::kScalar: detail::add_scalar_kernels(table); break;
#if defined(SLUICE_X86_KERNELS)
    case Isa::kAvx2: detail::add_avx2_kernels(table); break;
    case Isa::kAvx512: detail::add_avx512_kernels(table, extensions); break;
#else
    default: break;
#endif
  }
  return table;
}

// The table of `isa` with every missing entry taken from the next lower set.
KernelTable build_table(Isa isa) {
  KernelTable table = own_kernels(Isa::kScalar, {});
  const auto add = [&table](const KernelTable& more) {
    for (uint32_t id = 0; id < detail::kTypeSlots; ++id) {
      // A group kernel gives its own set's row kernel's bits: a set that brings a row kernel
      // brings its group kernel, or none.
      if (more.dot[id]) {
        table.dot[id] = more.dot[id];
        table.group_dot[id] = nullptr;
        table.groups_rows_by_default[id] = false;
      }
      if (more.group_dot[id]) {
        table.group_dot[id] = more.group_dot[id];
        table.groups_rows_by_default[id] = more.groups_rows_by_default[id];
      }
    }
    if (more.quantize_q8x32) table.quantize_q8x32 = more.quantize_q8x32;
    if (more.quantize_q8x256) table.quantize_q8x256 = more.quantize_q8x256;
  };
  if (isa == Isa::kAvx2 || isa == Isa::kAvx512) add(own_kernels(Isa::kAvx2, {}));
  if (isa == Isa::kAvx512) add(own_kernels(Isa::kAvx512, cpu_avx512_extensions()));
  return table;
}

// One table per set, built on its first use (each is a few hundred bytes) and only for a set
// the CPU has: building one runs code compiled for that set.
const KernelTable& table_of(Isa isa) {
  SLUICE_ASSERT(cpu_supports(isa));
  switch (isa) {
    case Isa::kScalar: {
      static const KernelTable scalar = build_table(Isa::kScalar);
      return scalar;
    }
    case Isa::kAvx2: {
      static const KernelTable avx2 = build_table(Isa::kAvx2);
      return avx2;
    }
    case Isa::kAvx512: {
      static const KernelTable avx512 = build_table(Isa::kAvx512);
      return avx512;
    }
  }
  __builtin_unreachable();  // every Isa is a case above
}

// Only the kernels a set adds itself, for tests; the same conditions as table_of. Without
// with_extensions, AVX-512's without those of its extensions.
const KernelTable& own_table_of(Isa isa, bool with_extensions) {
  SLUICE_ASSERT(cpu_supports(isa));
  switch (isa) {
    case Isa::kScalar: {
      static const KernelTable scalar = own_kernels(Isa::kScalar, {});
      return scalar;
    }
    case Isa::kAvx2: {
      static const KernelTable avx2 = own_kernels(Isa::kAvx2, {});
      return avx2;
    }
    case Isa::kAvx512: {
      if (!with_extensions) {
        static const KernelTable avx512_base = own_kernels(Isa::kAvx512, {});
        return avx512_base;
      }
      static const KernelTable avx512 = own_kernels(Isa::kAvx512, cpu_avx512_extensions());
      return avx512;
    }
  }
  __builtin_unreachable();  // every Isa is a case above
}

Isa best_supported_isa() {
  if (cpu_supports(Isa::kAvx512)) return Isa::kAvx512;
  if (cpu_supports(Isa::kAvx2)) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa initial_isa() {
  const Isa best = best_supported_isa();
  const char* env = std::getenv("SLUICE_ISA");
  if (env == nullptr || *env == '\0') return best;
  const std::optional<Isa> wanted = parse_isa(env);
  if (!wanted) {
    fmt::print(stderr, "sluice: ignoring SLUICE_ISA='{}' (scalar, avx2, avx512); using {}\n", env,
               isa_name(best));
    return best;
  }
  if (!cpu_supports(*wanted)) {
    fmt::print(stderr, "sluice: this CPU cannot run SLUICE_ISA={}; using {}\n", env, isa_name(best));
    return best;
  }
  return *wanted;
}

// The chosen set and its table, settled on first use.
struct Active {
  Active() : isa(initial_isa()), table(&table_of(isa.load())) {}
  std::atomic<Isa> isa;
  std::atomic<const KernelTable*> table;
};

Active& active() {
  static Active state;
  return state;
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

std::optional<Isa> parse_isa(std::string_view name) {
  if (name == "scalar") return Isa::kScalar;
  if (name == "avx2") return Isa::kAvx2;
  if (name == "avx512") return Isa::kAvx512;
  return std::nullopt;
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
#if defined(SLUICE_X86_KERNELS)
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case Isa::kAvx512:
      return cpu_supports(Isa::kAvx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni") &&
             __builtin_cpu_supports("bmi2");  // pdep in dot_avx512_iq.cpp; every AVX-512 CPU has it
#else
    case Isa::kAvx2:
    case Isa::kAvx512: return false;
#endif
  }
  return false;
}

Isa active_isa() { return active().isa.load(std::memory_order_relaxed); }

void set_isa(Isa isa) {
  SLUICE_ASSERT(cpu_supports(isa));
  active().isa.store(isa, std::memory_order_relaxed);
  active().table.store(&table_of(isa), std::memory_order_release);
}

ActivationFormat activation_format(GgmlType weight_type) {
  switch (weight_type) {
    case GgmlType::F32:
    case GgmlType::F16: return ActivationFormat::kF32;
    case GgmlType::BF16: return ActivationFormat::kBf16;
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q8_0:
    case GgmlType::IQ4_NL:
    case GgmlType::MXFP4:
    case GgmlType::NVFP4: return ActivationFormat::kQ8x32;
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
    case GgmlType::IQ4_XS:
    case GgmlType::TQ1_0:
    case GgmlType::TQ2_0: return ActivationFormat::kQ8x256;
    default: return ActivationFormat::kNone;
  }
}

size_t activation_row_bytes(GgmlType weight_type, int64_t n_cols) {
  const auto n = static_cast<size_t>(n_cols);
  const auto padded = [](size_t bytes) {
    return (bytes + kActivationAlignment - 1) / kActivationAlignment * kActivationAlignment;
  };
  switch (activation_format(weight_type)) {
    case ActivationFormat::kF32: return n * sizeof(float);
    case ActivationFormat::kBf16: return padded(n * sizeof(uint16_t));
    case ActivationFormat::kQ8x32: return padded(n + n / 32 * (sizeof(int32_t) + sizeof(float)));
    case ActivationFormat::kQ8x256: return padded(n + n / 16 * sizeof(int16_t) + n / 256 * sizeof(float));
    case ActivationFormat::kNone: break;
  }
  SLUICE_ASSERT(!"activation_row_bytes of a type without fast kernels");
  return 0;
}

void quantize_activations(GgmlType weight_type, const float* x, int64_t n_cols, std::byte* out) {
  switch (activation_format(weight_type)) {
    case ActivationFormat::kF32:
      if (n_cols > 0) std::memcpy(out, x, static_cast<size_t>(n_cols) * sizeof(float));
      return;
    case ActivationFormat::kBf16: {
      auto* bf16 = reinterpret_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n_cols; ++i) bf16[i] = f32_to_bf16(x[i]);
      return;
    }
    case ActivationFormat::kQ8x32:
      SLUICE_ASSERT(n_cols % 32 == 0);
      active().table.load(std::memory_order_acquire)->quantize_q8x32(x, n_cols, out);
      return;
    case ActivationFormat::kQ8x256:
      SLUICE_ASSERT(n_cols % 256 == 0);
      active().table.load(std::memory_order_acquire)->quantize_q8x256(x, n_cols, out);
      return;
    case ActivationFormat::kNone: break;
  }
  SLUICE_ASSERT(!"quantize_activations of a type without fast kernels");
}

RowDotFn row_dot(GgmlType weight_type) {
  return kernel_of(*active().table.load(std::memory_order_acquire), weight_type);
}

GroupDotFn group_dot(GgmlType weight_type) {
  const auto id = static_cast<uint32_t>(weight_type);
  return id < detail::kTypeSlots ? active().table.load(std::memory_order_acquire)->group_dot[id] : nullptr;
}

namespace {

// SLUICE_GROUP_ROWS: 0 off, anything else on; unset, the instruction set's default.
std::atomic<RowGrouping>& grouping() {
  static std::atomic<RowGrouping> mode{[] {
    const char* env = std::getenv("SLUICE_GROUP_ROWS");
    if (env == nullptr) return RowGrouping::kDefault;
    return std::strcmp(env, "0") == 0 ? RowGrouping::kOff : RowGrouping::kOn;
  }()};
  return mode;
}

}  // namespace

bool groups_rows(GgmlType weight_type) {
  if (group_dot(weight_type) == nullptr) return false;
  switch (row_grouping()) {
    case RowGrouping::kOn: return true;
    case RowGrouping::kOff: return false;
    case RowGrouping::kDefault:
      return active().table.load(std::memory_order_acquire)->groups_rows_by_default[static_cast<uint32_t>(weight_type)];
  }
  __builtin_unreachable();  // every RowGrouping is a case above
}

void set_row_grouping(RowGrouping mode) { grouping().store(mode, std::memory_order_relaxed); }

RowGrouping row_grouping() { return grouping().load(std::memory_order_relaxed); }

namespace {

// SLUICE_TWO_STREAMS: 0 or 1 fixes the setting, which set_two_streams then leaves alone.
const char* two_streams_env() {
  static const char* env = std::getenv("SLUICE_TWO_STREAMS");
  return env;
}

std::atomic<bool>& two_streams_setting() {
  static std::atomic<bool> on{two_streams_env() != nullptr && std::strcmp(two_streams_env(), "0") != 0};
  return on;
}

}  // namespace

void set_two_streams(bool on) {
  if (two_streams_env() == nullptr) two_streams_setting().store(on, std::memory_order_relaxed);
}

bool two_streams() { return two_streams_setting().load(std::memory_order_relaxed); }

RowDotFn row_dot_of(Isa isa, GgmlType weight_type) { return kernel_of(own_table_of(isa, true), weight_type); }

RowDotFn row_dot_of_avx512_base(GgmlType weight_type) {
  return kernel_of(own_table_of(Isa::kAvx512, false), weight_type);
}

}  // namespace sluice::quant::fast
