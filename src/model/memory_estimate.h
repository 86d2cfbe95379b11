// How much memory a model needs besides its weights, computed from GGUF metadata before the
// model is loaded, so that the memory budget can be divided (and refused) up front.
#pragma once

#include <cstdint>

#include "gguf/gguf_file.h"

namespace sluice::model {

struct MemoryEstimate {
  uint64_t state_bytes = 0;   // KV cache (and recurrent state) for n_ctx positions
  uint64_t buffer_bytes = 0;  // activations of one forward pass of n_batch tokens
};

// An upper bound for every architecture sluice runs: attention layers are counted as if
// every layer had a full KV cache. `n_logit_rows` is how many rows of logits a caller keeps
// (1 for generation, n_ctx for perplexity).
MemoryEstimate estimate_memory(const gguf::GgufFile& file, int64_t n_ctx, int64_t n_batch,
                               int64_t n_logit_rows);

}  // namespace sluice::model
