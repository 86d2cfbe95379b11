// The streaming expert provider: a fixed byte budget of slots holding the experts the
// routers chose recently, filled from the GGUF file by the I/O engine.
//
// Each expert is three slices (gate, up, down) of the stacked `*_exps` tensors. A slot holds
// the 4 KiB-aligned ranges that cover them, read with O_DIRECT; views point at the slices
// inside. All calls come from the thread running the model; only the I/O engines have threads.
// A model split into several files gets one I/O engine per file that holds experts; each
// slice is read from the file holding its tensor.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "store/cache_policy.h"
#include "store/expert_provider.h"
#include "store/io_engine.h"
#include "store/model_layout.h"
#include "util/large_buffer.h"

namespace sluice::store {

struct LayerCacheStats {
  uint64_t accesses = 0;       // experts the layer asked for
  uint64_t hits = 0;           // already in memory (or on its way) when asked for
  uint64_t predicted = 0;      // accesses for which a prediction had been made
  uint64_t predicted_right = 0;
  uint64_t bytes_read = 0;
};

struct CacheStats {
  std::vector<LayerCacheStats> layers;
  std::vector<uint64_t> expert_accesses;  // per layer * n_expert + expert: the usage profile
  uint64_t pinned = 0;
  uint64_t reads = 0;
  uint64_t bytes_read = 0;
  uint64_t prefetch_reads = 0;   // experts read ahead of being asked for
  double io_wait_seconds = 0.0;  // the model thread blocked on reads
  double io_busy_seconds = 0.0;  // wall time with at least one read outstanding
  LayerCacheStats total() const;
};

// Bytes of one slot: room for the aligned reads of the largest expert of any layer.
uint64_t expert_slot_bytes(std::span<const ExpertLayerLayout> layers);

class ExpertCache : public ExpertProvider {
 public:
  ExpertCache(const gguf::GgufFile& file, std::span<const ExpertTensorNames> layers,
              int32_t n_expert, const StoreConfig& config);
  ~ExpertCache() override;

  void prefetch(int32_t layer, std::span<const int32_t> experts) override;
  void predict(int32_t layer, std::span<const int32_t> experts) override;
  bool wants_predictions() const override { return true; }
  bool is_ready(int32_t layer, int32_t expert) const override;
  ExpertWeights acquire(int32_t layer, int32_t expert) override;
  void release(int32_t layer, int32_t expert) override;

  size_t n_slots() const { return slots_.size(); }
  uint64_t slot_bytes() const { return slot_bytes_; }
  const CacheStats& stats() const { return stats_; }
  std::string io_description() const;
  std::string_view policy_name() const { return policy_->name(); }
  // Test hook: see ReadFaultHook.
  void set_fault_hook(const ReadFaultHook& hook);

 private:
  enum class SlotState { kEmpty, kLoading, kReady, kFailed };
  struct Slot {
    SlotState state = SlotState::kEmpty;
    ExpertKey key = -1;
    int pins = 0;              // in use by the model (or held for good by pinning)
    bool reserved = false;     // chosen for the layer being run; not evictable until used
    int reads_pending = 0;
    int read_error = 0;        // first errno of a failed read, or -1 for a short read
    int failed_slice = 0;       // gate, up or down: the slice whose read failed
    uint64_t failed_offset = 0;
    uint64_t failed_length = 0;
    std::byte* memory = nullptr;
  };
  // Where one of an expert's three slices lies in the file and in its slot.
  struct SlicePlacement {
    uint64_t read_offset;   // aligned start in the file
    uint64_t read_length;   // aligned length
    uint64_t required;      // bytes of the read that hold the slice
    uint64_t slot_offset;   // where the read lands in the slot
    uint64_t view_offset;   // where the slice starts in the slot
  };
  struct LayerTensors {
    const gguf::TensorInfo* parts[3] = {};  // gate, up, down
    quant::MatrixView shapes[3];            // per-expert geometry (data unset)
  };

  SlicePlacement place(const LayerTensors& layer, int part, int32_t expert) const;
  int find_slot(ExpertKey key) const;
  void pin_experts(std::span<const int32_t> keys);
  void read_every_expert();  // if each has a slot
  void finish_loads();       // waits for every read in flight; throws on a failed one
  int claim_slot(bool allow_reserved);  // a free or evictable slot, or -1
  void start_load(int slot, ExpertKey key);
  void flush_requests();  // submits the reads start_load queued, all at once
  void pump(bool wait);    // reap completions; block for at least one when `wait`
  size_t in_flight() const;  // reads outstanding on all engines
  void discard_failed(int slot);
  [[noreturn]] void throw_read_error(int slot);
  void count_access(ExpertKey key, bool hit);

  const gguf::GgufFile& file_;
  int32_t n_expert_;
  std::vector<LayerTensors> layers_;
  uint64_t slot_bytes_ = 0;
  LargeBuffer arena_;  // the slots, back to back
  std::vector<Slot> slots_;
  std::vector<int> free_slots_;
  std::vector<int> reserved_slots_;
  std::vector<ExpertKey> candidates_;
  std::vector<ExpertKey> counted_keys_;
  std::vector<std::vector<ReadRequest>> pending_requests_;  // per file part
  std::vector<char> has_prediction_;  // layer -> a prediction awaits its next prefetch
  std::vector<int> slot_of_key_;  // ExpertKey -> slot, or -1
  std::unique_ptr<CachePolicy> policy_;
  std::vector<std::unique_ptr<IoEngine>> io_;  // per file part; null where a part holds no experts
  std::vector<ReadCompletion> completions_;
  std::vector<char> predicted_;   // ExpertKey -> predicted for the next visit of its layer
  std::vector<char> counted_;     // ExpertKey -> access counted by prefetch, not yet acquired
  CacheStats stats_;
  std::chrono::steady_clock::time_point busy_since_;
};

}  // namespace sluice::store
