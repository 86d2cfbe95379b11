// SamplingParams::validate: the boundary check for sampling settings from the CLI or HTTP.
//
// Ranges follow llama.cpp's meaning of each knob; values that would silently do nothing useful
// (a top_p of 0, a NaN) are rejected rather than clamped.
#include <fmt/format.h>

#include <cmath>

#include "sample/sampler.h"
#include "util/error.h"

namespace sluice::sample {
namespace {

[[noreturn]] void reject(const char* name, double value, const char* rule) {
  throw Error(fmt::format("invalid sampling parameter {} = {}: {}", name, value, rule));
}

void require_finite(const char* name, float value) {
  if (!std::isfinite(value)) reject(name, value, "must be a finite number");
}

}  // namespace

void SamplingParams::validate() const {
  require_finite("temperature", temperature);  // any finite value: <= 0 means greedy
  require_finite("top_p", top_p);
  if (!(top_p > 0.0f && top_p <= 1.0f)) reject("top_p", top_p, "must be in (0, 1]");
  require_finite("min_p", min_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) reject("min_p", min_p, "must be in [0, 1]");
  require_finite("repeat_penalty", repeat_penalty);
  if (!(repeat_penalty > 0.0f)) reject("repeat_penalty", repeat_penalty, "must be > 0");
  if (repeat_last_n < -1) {
    reject("repeat_last_n", repeat_last_n, "must be >= -1 (-1 = whole history, 0 = off)");
  }
  require_finite("presence_penalty", presence_penalty);
  require_finite("frequency_penalty", frequency_penalty);
}

}  // namespace sluice::sample
