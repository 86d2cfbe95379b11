#include "store/bandwidth.h"

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "util/error.h"

namespace sluice::store {

BandwidthMeasurement measure_read_bandwidth(const gguf::GgufFile& file, const ModelLayout& layout,
                                            IoEngineKind kind, double seconds, uint64_t max_bytes) {
  BandwidthMeasurement result;
  if (layout.expert_layers.empty()) return result;
  // One read per expert slice, aligned as the cache aligns them, from the file part holding it.
  struct Slice {
    uint64_t offset, length;
    uint32_t part;
  };
  std::vector<Slice> slices;
  uint64_t largest = 0;
  for (const ExpertLayerLayout& layer : layout.expert_layers) {
    for (const gguf::TensorInfo* t : layer.tensors) {
      const uint64_t bytes = t->n_bytes / t->dims[2];
      const uint64_t file_end = (file.part_size(t->part) + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
      for (uint64_t e = 0; e < t->dims[2]; ++e) {
        const uint64_t start = (t->offset + e * bytes) / kDirectIoAlignment * kDirectIoAlignment;
        const uint64_t end = (t->offset + (e + 1) * bytes + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
        slices.push_back({start, std::min(end, file_end) - start, t->part});
        largest = std::max(largest, slices.back().length);
      }
    }
  }
  const uint64_t n_buffers = std::max<uint64_t>(1, std::min<uint64_t>(32, (32ull << 20) / largest));
  auto* memory = static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, n_buffers * largest));
  if (!memory) throw Error("cannot allocate the bandwidth probe's buffers");
  std::vector<std::unique_ptr<IoEngine>> io(file.n_parts());  // one per part holding experts
  for (const Slice& s : slices) {
    if (!io[s.part]) io[s.part] = make_io_engine(file.path(s.part), kind, static_cast<unsigned>(n_buffers));
  }
  auto in_flight = [&] {
    size_t n = 0;
    for (const auto& engine : io) n += engine ? engine->in_flight() : 0;
    return n;
  };
  std::mt19937_64 rng(12345);
  std::vector<ReadCompletion> done;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  auto issue = [&](uint64_t buffer) {
    const Slice& s = slices[rng() % slices.size()];
    ReadRequest r{s.offset, s.length, 0, memory + buffer * largest, buffer};
    io[s.part]->submit({&r, 1});
    result.bytes += s.length;
  };
  for (uint64_t b = 0; b < n_buffers; ++b) issue(b);
  while (in_flight() > 0) {
    done.clear();
    for (const auto& engine : io) {
      if (engine) engine->reap(done, false);
    }
    if (done.empty()) {
      for (const auto& engine : io) {
        if (engine && engine->in_flight() > 0) {
          engine->reap(done, true);
          break;
        }
      }
    }
    for (const ReadCompletion& c : done) {
      if (elapsed() < seconds && result.bytes < max_bytes) issue(c.tag);
    }
  }
  result.seconds = elapsed();
  io.clear();
  std::free(memory);
  result.bytes_per_second = static_cast<double>(result.bytes) / result.seconds;
  return result;
}

}  // namespace sluice::store
