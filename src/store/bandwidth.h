// Measures the storage ceiling: O_DIRECT read bandwidth at expert-sized reads on the model's
// own file, with the I/O engine and queue depth the cache uses.
#pragma once

#include "gguf/gguf_file.h"
#include "store/io_engine.h"
#include "store/model_layout.h"

namespace sluice::store {

struct BandwidthMeasurement {
  double bytes_per_second = 0.0;
  uint64_t bytes = 0;
  double seconds = 0.0;
};

// Reads randomly chosen experts for about `seconds` (at most `max_bytes`) through buffers
// totalling at most 32 MiB, freed before returning.
BandwidthMeasurement measure_read_bandwidth(const gguf::GgufFile& file, const ModelLayout& layout,
                                            IoEngineKind kind, double seconds, uint64_t max_bytes);

}  // namespace sluice::store
