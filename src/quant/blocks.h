// Block layouts of the GGUF formats quant/ decodes, one struct per format, sized as the
// format defines them.
#pragma once

#include <cstdint>

namespace sluice::quant {

// Q8_0: 32 int8 values sharing one f16 scale. value = d * qs[i].
struct BlockQ8_0 {
  uint16_t d;  // f16
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34);

}  // namespace sluice::quant
