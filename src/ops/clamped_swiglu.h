// gpt-oss's expert activation (transformers' GptOssExperts; llama.cpp's swiglu_oai): a SwiGLU
// whose inputs are clamped, whose gate uses a sharpened sigmoid, and whose linear half is
// offset by one.
#pragma once

#include <cstdint>

namespace sluice::ops {

struct ClampedSwigluParams {
  float alpha = 1.702f;  // sigmoid sharpness: x * sigmoid(1.702 x) approximates GELU
  float limit = 7.0f;    // gate clamped to <= limit, up to [-limit, limit]
};

// gate[i] = (clamp(up[i], -limit, limit) + 1) * g * sigmoid(alpha * g), g = min(gate[i], limit).
void clamped_swiglu(const ClampedSwigluParams& params, float* gate, const float* up, int64_t n);

}  // namespace sluice::ops
