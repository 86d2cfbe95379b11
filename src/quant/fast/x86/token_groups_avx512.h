// Prompt kernels of the AVX-512 set (x86/token_groups_avx512.cpp): several tokens per pass
// over a weight row (kernels.h, in_token_groups). Called only through the AVX-512 kernel
// table, so only on CPUs that have the set.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::quant::fast::detail {

inline constexpr int kAvx512TokenGroup = 4;

// Each computes 1..kAvx512TokenGroup tokens (a TokenGroupFn), bit-identical per token to the
// format's one-token kernel in dot_avx512.cpp.
void q4_k_token_group_avx512(const std::byte* w_row, const std::byte* act, size_t act_stride,
                             int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride);
void q5_k_token_group_avx512(const std::byte* w_row, const std::byte* act, size_t act_stride,
                             int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride);
void q6_k_token_group_avx512(const std::byte* w_row, const std::byte* act, size_t act_stride,
                             int64_t n_tokens, int64_t n_cols, float* out, size_t out_stride);

}  // namespace sluice::quant::fast::detail
