#include "ops/conv1d.h"

#include "util/error.h"

namespace sluice::ops {

void causal_conv1d(ThreadPool& pool, const Conv1dShape& shape, const float* weight,
                   const float* x, int64_t n_tokens, float* state, float* out) {
  const int64_t n_ch = shape.channels;
  const int64_t n_state = shape.kernel - 1;
  SLUICE_ASSERT(shape.kernel >= 1 && n_ch >= 0 && n_tokens >= 0);
  if (n_tokens == 0) return;
  // Row r of the window: state rows first, then the tokens.
  const auto window = [&](int64_t r, int64_t c) {
    return r < n_state ? state[r * n_ch + c] : x[(r - n_state) * n_ch + c];
  };
  pool.parallel_for(n_ch, [&](int64_t begin, int64_t end, int) {
    for (int64_t c = begin; c < end; ++c) {
      const float* w = weight + c * shape.kernel;
      for (int64_t t = 0; t < n_tokens; ++t) {
        float sum = 0.0f;
        for (int64_t j = 0; j < shape.kernel; ++j) sum += w[j] * window(t + j, c);
        out[t * n_ch + c] = sum;
      }
      // The new state is window rows n_tokens .. n_tokens + n_state - 1. Reading in increasing
      // order is safe in place: the source row is always after the destination row.
      for (int64_t r = 0; r < n_state; ++r) state[r * n_ch + c] = window(n_tokens + r, c);
    }
  });
}

}  // namespace sluice::ops
