// Short causal depthwise convolution over time with a rolling state, the input mixer of
// Mamba-style and Gated DeltaNet layers (transformers' causal_conv1d_fn /
// torch_causal_conv1d_update; llama.cpp's ggml_ssm_conv).
#pragma once

#include <cstdint>

#include "ops/thread_pool.h"

namespace sluice::ops {

struct Conv1dShape {
  int64_t channels = 0;
  int64_t kernel = 0;  // taps per channel (d_conv)
};

// For each channel c and token t of x ([n_tokens, channels]):
//   out[t][c] = sum_{j < kernel} weight[c][j] * w(t + j)[c],
// where w is the window `state` ([kernel - 1, channels], oldest row first) followed by the rows
// of x: a causal convolution whose left padding is the previous tokens' inputs (zeros at the
// start of a session, as PyTorch's Conv1d with padding kernel - 1). weight is
// [channels, kernel] (GGUF ssm_conv1d: ne0 = kernel). Afterwards `state` holds the last
// kernel - 1 rows of the window, so calling this token by token equals one call over all of
// them, bit for bit. No activation is applied. `out` must not alias x or state.
void causal_conv1d(ThreadPool& pool, const Conv1dShape& shape, const float* weight,
                   const float* x, int64_t n_tokens, float* state, float* out);

}  // namespace sluice::ops
