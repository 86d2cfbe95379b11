// How much memory a model needs besides its weights, computed from GGUF metadata before the
// model is loaded, so that the memory budget can be divided (and refused) up front.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"

namespace sluice::model {

struct MemoryEstimate {
  uint64_t state_bytes = 0;   // KV cache (and recurrent state) for n_ctx positions
  uint64_t buffer_bytes = 0;  // activations of one forward pass of n_batch tokens
};

// An upper bound for every architecture sluice runs. Hybrid models (Qwen3-Next, Qwen3.5) get
// their state exactly as KvCache allocates it: keys and values on full-attention layers only,
// (d_conv - 1) * conv_dim + d_state * d_inner floats on each recurrent layer; DeepSeek's MLA
// its kv_lora_rank + rope floats per position and layer. Other
// architectures are counted as if every layer had a full KV cache. `n_logit_rows` is how
// many rows of logits a caller keeps (1 for generation, n_ctx for perplexity).
MemoryEstimate estimate_memory(const gguf::GgufFile& file, int64_t n_ctx, int64_t n_batch,
                               int64_t n_logit_rows);

// Which of the first `n_layer` layers of a hybrid model are Gated DeltaNet layers (recurrent
// state, no KV cache): `<arch>.attention.recurrent_layers` when present, else all but every
// `<arch>.full_attention_interval`-th layer (llama.cpp's rule; interval 4 when absent). The
// model sizes its cache from this and estimate_memory counts it, so the two cannot disagree.
// Throws ModelError for a list shorter than n_layer or an interval of 0.
std::vector<bool> read_recurrent_layers(const gguf::GgufFile& file, const std::string& arch,
                                        int64_t n_layer);

}  // namespace sluice::model
