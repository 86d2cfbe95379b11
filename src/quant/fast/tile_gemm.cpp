// Which tile kernels run: none where SLUICE_TILES is 0 or the active instruction set is scalar;
// AVX2's own (a few formats) where it is AVX2; on AVX-512, AMX where the CPU has it (tile and
// int8, and AVX-512 VBMI), Linux grants the process its tile state and SLUICE_AMX is not 0,
// AVX-512 VNNI otherwise.
#include "quant/fast/tile_gemm.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "quant/fast/fast_dot.h"

#if defined(SLUICE_X86_KERNELS) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define SLUICE_AMX_KERNELS 1
#endif

namespace sluice::quant::fast {

namespace detail {
#if defined(SLUICE_AMX_KERNELS)
const TileKernel* amx_tile_kernel(GgmlType type);  // x86/tile_gemm_amx.cpp
#endif
#if defined(SLUICE_X86_KERNELS)
const TileKernel* avx512_tile_kernel(GgmlType type);  // x86/tile_gemm_avx512.cpp
const TileKernel* avx2_tile_kernel(GgmlType type);    // x86/tile_gemm_avx2.cpp
#endif
}  // namespace detail

namespace {

bool amx_usable() {
#if defined(SLUICE_AMX_KERNELS)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool tile = (edx >> 24) & 1, int8 = (edx >> 25) & 1;
  // The kernels also use AVX-512 VBMI's byte permutes (every CPU with AMX has them).
  if (!tile || !int8 || !cpu_supports(Isa::kAvx512) || !__builtin_cpu_supports("avx512vbmi")) return false;
  // Linux hands out the 8 KiB tile state only to processes that ask for it.
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

// Whether the environment variable `name` leaves a switch on (unset, or anything but "0").
bool switched_on(const char* name) {
  const char* env = std::getenv(name);
  return env == nullptr || std::strcmp(env, "0") != 0;
}

std::atomic<bool> g_enabled{switched_on("SLUICE_TILES")};

}  // namespace

bool matrix_unit_usable() {
  static const bool usable = amx_usable();
  return usable;
}

void set_tile_kernels(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

const TileKernel* tile_kernel_of(TileUnit unit, GgmlType weight_type) {
  switch (unit) {
    case TileUnit::kAmx:
#if defined(SLUICE_AMX_KERNELS)
      if (matrix_unit_usable()) return detail::amx_tile_kernel(weight_type);
#endif
      return nullptr;
    case TileUnit::kAvx512:
#if defined(SLUICE_X86_KERNELS)
      if (cpu_supports(Isa::kAvx512)) return detail::avx512_tile_kernel(weight_type);
#endif
      return nullptr;
    case TileUnit::kAvx2:
#if defined(SLUICE_X86_KERNELS)
      if (cpu_supports(Isa::kAvx2)) return detail::avx2_tile_kernel(weight_type);
#endif
      return nullptr;
  }
  (void)weight_type;
  return nullptr;
}

const TileKernel* tile_kernel(GgmlType weight_type) {
  if (!g_enabled.load(std::memory_order_relaxed)) return nullptr;
  if (active_isa() == Isa::kAvx2) return tile_kernel_of(TileUnit::kAvx2, weight_type);
  if (active_isa() != Isa::kAvx512) return nullptr;
  static const bool amx = switched_on("SLUICE_AMX");
  if (amx) {
    if (const TileKernel* kernel = tile_kernel_of(TileUnit::kAmx, weight_type)) return kernel;
  }
  return tile_kernel_of(TileUnit::kAvx512, weight_type);
}

}  // namespace sluice::quant::fast
