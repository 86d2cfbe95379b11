#include "store/expert_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>

#include "util/error.h"

namespace sluice::store {
namespace {

uint64_t round_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}
uint64_t round_down(uint64_t value, uint64_t alignment) { return value / alignment * alignment; }

// Room one slice of `bytes` may need in a slot: aligned reads can start up to one block
// before the slice and end up to one block after it.
uint64_t slice_capacity(uint64_t bytes) { return round_up(bytes, kDirectIoAlignment) + kDirectIoAlignment; }

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

constexpr std::string_view kPartNames[3] = {"gate", "up", "down"};

}  // namespace

uint64_t expert_slot_bytes(std::span<const ExpertLayerLayout> layers) {
  uint64_t largest = 0;
  for (const ExpertLayerLayout& layer : layers) {
    uint64_t bytes = 0;
    for (const gguf::TensorInfo* t : layer.tensors) bytes += slice_capacity(t->n_bytes / t->dims[2]);
    largest = std::max(largest, bytes);
  }
  return largest;
}

LayerCacheStats CacheStats::total() const {
  LayerCacheStats sum;
  for (const LayerCacheStats& l : layers) {
    sum.accesses += l.accesses;
    sum.hits += l.hits;
    sum.predicted += l.predicted;
    sum.predicted_right += l.predicted_right;
    sum.bytes_read += l.bytes_read;
  }
  return sum;
}

ExpertCache::ExpertCache(const gguf::GgufFile& file, std::span<const ExpertTensorNames> layers,
                         int32_t n_expert, const StoreConfig& config)
    : file_(file), n_expert_(n_expert) {
  const auto n_layer = static_cast<int32_t>(layers.size());
  layers_.resize(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].gate.empty()) continue;
    const std::string* names[3] = {&layers[l].gate, &layers[l].up, &layers[l].down};
    for (int p = 0; p < 3; ++p) {
      const gguf::TensorInfo& t = file.require_tensor(*names[p]);
      if (t.dims.size() != 3 || t.dims[2] != static_cast<uint64_t>(n_expert) ||
          !quant::is_supported_for_compute(t.type)) {
        throw gguf::GgufError(fmt::format("{}: tensor '{}' ({} {}) is not a stack of {} experts "
                                          "sluice can compute with",
                                          file.path(), t.name, quant::type_name(t.type),
                                          t.shape_string(), n_expert));
      }
      layers_[l].parts[p] = &t;
      layers_[l].shapes[p] = quant::make_matrix_view(t.type, nullptr, static_cast<int64_t>(t.dims[0]),
                                                     static_cast<int64_t>(t.dims[1]));
    }
    uint64_t bytes = 0;
    for (const auto* t : layers_[l].parts) bytes += slice_capacity(t->n_bytes / t->dims[2]);
    slot_bytes_ = std::max(slot_bytes_, bytes);
  }
  SLUICE_ASSERT(slot_bytes_ > 0);
  const uint64_t n_slots = config.expert_cache_bytes / slot_bytes_;
  if (n_slots == 0) {
    throw Error(fmt::format("the expert cache ({} bytes) cannot hold one expert ({} bytes)",
                            config.expert_cache_bytes, slot_bytes_));
  }
  static_assert(kDirectIoAlignment <= 4096, "LargeBuffer is page-aligned");
  arena_ = LargeBuffer(n_slots * slot_bytes_);
  slots_.resize(n_slots);
  for (uint64_t s = 0; s < n_slots; ++s) slots_[s].memory = arena_.data() + s * slot_bytes_;
  for (uint64_t s = n_slots; s > 0; --s) free_slots_.push_back(static_cast<int>(s - 1));
  const size_t n_keys = static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert);
  slot_of_key_.assign(n_keys, -1);
  predicted_.assign(n_keys, 0);
  counted_.assign(n_keys, 0);
  has_prediction_.assign(layers.size(), 0);
  stats_.layers.resize(layers.size());
  stats_.expert_accesses.assign(n_keys, 0);
  policy_ = make_cache_policy(config.policy, n_layer, n_expert);
  io_.resize(file.n_parts());
  pending_requests_.resize(file.n_parts());
  for (const LayerTensors& layer : layers_) {
    for (const gguf::TensorInfo* t : layer.parts) {
      if (t && !io_[t->part]) io_[t->part] = make_io_engine(file.path(t->part), config.io_engine, config.queue_depth);
    }
  }
  pin_experts(config.pinned_experts);
  read_every_expert();
}

void ExpertCache::pin_experts(std::span<const int32_t> keys) {
  const size_t limit = std::min(keys.size(), slots_.size() / 2);
  for (size_t i = 0; i < limit; ++i) {
    const ExpertKey key = keys[i];
    if (key < 0 || static_cast<size_t>(key) >= slot_of_key_.size() || layers_[key / n_expert_].parts[0] == nullptr) {
      throw Error(fmt::format("pinned expert {} (layer {}, expert {}) is not a routed expert of this model",
                              key, key / n_expert_, key % n_expert_));
    }
    if (find_slot(key) >= 0) continue;
    const int s = claim_slot(false);
    start_load(s, key);
    slots_[s].pins = 1;  // never released: never evicted
    ++stats_.pinned;
  }
  finish_loads();
}

// A model whose routed experts all fit the budget would otherwise spend its first tokens on
// misses, each layer waiting for its own reads; read in one batch, the experts arrive at the
// disk's full bandwidth and the model then runs as if resident.
void ExpertCache::read_every_expert() {
  std::vector<ExpertKey> routed;
  for (ExpertKey key = 0; static_cast<size_t>(key) < slot_of_key_.size(); ++key) {
    if (layers_[key / n_expert_].parts[0] != nullptr) routed.push_back(key);
  }
  if (routed.size() > slots_.size()) return;
  for (const ExpertKey key : routed) {
    if (find_slot(key) >= 0) continue;
    start_load(claim_slot(false), key);
  }
  finish_loads();
}

void ExpertCache::finish_loads() {
  flush_requests();
  for (const Slot& slot : slots_) {
    while (slot.state == SlotState::kLoading) pump(true);
  }
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].state == SlotState::kFailed) throw_read_error(static_cast<int>(s));
  }
}

ExpertCache::~ExpertCache() {
  io_.clear();  // no read may land in the slots after they are freed (arena_ goes later)
}

std::string ExpertCache::io_description() const {
  size_t n_files = 0;
  std::string description;
  for (const auto& io : io_) {
    if (!io) continue;
    if (n_files++ == 0) description = io->description();
  }
  return n_files > 1 ? fmt::format("{}, {} files", description, n_files) : description;
}

void ExpertCache::set_fault_hook(const ReadFaultHook& hook) {
  for (const auto& io : io_) {
    if (io) io->set_fault_hook(hook);
  }
}

size_t ExpertCache::in_flight() const {
  size_t n = 0;
  for (const auto& io : io_) {
    if (io) n += io->in_flight();
  }
  return n;
}

ExpertCache::SlicePlacement ExpertCache::place(const LayerTensors& layer, int part,
                                               int32_t expert) const {
  uint64_t slot_offset = 0;
  for (int p = 0; p < part; ++p) slot_offset += slice_capacity(layer.parts[p]->n_bytes / layer.parts[p]->dims[2]);
  const gguf::TensorInfo& t = *layer.parts[part];
  const uint64_t bytes = t.n_bytes / t.dims[2];
  const uint64_t slice = t.offset + static_cast<uint64_t>(expert) * bytes;
  const uint64_t start = round_down(slice, kDirectIoAlignment);
  SlicePlacement placement;
  placement.read_offset = start;
  placement.read_length = round_up(slice + bytes, kDirectIoAlignment) - start;
  placement.required = slice + bytes - start;
  placement.slot_offset = slot_offset;
  placement.view_offset = slot_offset + (slice - start);
  return placement;
}

int ExpertCache::find_slot(ExpertKey key) const { return slot_of_key_[static_cast<size_t>(key)]; }

int ExpertCache::claim_slot(bool allow_reserved) {
  if (!free_slots_.empty()) {
    const int s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  candidates_.clear();
  for (const Slot& slot : slots_) {
    if (slot.state == SlotState::kReady && slot.pins == 0 && (allow_reserved || !slot.reserved)) {
      candidates_.push_back(slot.key);
    }
  }
  if (candidates_.empty()) return -1;
  const ExpertKey victim = policy_->choose_victim(candidates_);
  const int s = find_slot(victim);
  SLUICE_ASSERT(s >= 0);
  slot_of_key_[static_cast<size_t>(victim)] = -1;
  policy_->on_evict(victim);
  slots_[s].state = SlotState::kEmpty;
  slots_[s].reserved = false;
  return s;
}

void ExpertCache::start_load(int s, ExpertKey key) {
  Slot& slot = slots_[s];
  slot.state = SlotState::kLoading;
  slot.key = key;
  slot.reads_pending = 3;
  slot.read_error = 0;
  slot_of_key_[static_cast<size_t>(key)] = s;
  policy_->on_insert(key);
  const int32_t layer = key / n_expert_;
  for (int p = 0; p < 3; ++p) {
    const SlicePlacement at = place(layers_[layer], p, key % n_expert_);
    pending_requests_[layers_[layer].parts[p]->part].push_back(
        {at.read_offset, at.read_length, at.required, slot.memory + at.slot_offset, static_cast<uint64_t>(s) * 4 + p});
    stats_.layers[layer].bytes_read += at.read_length;
    stats_.bytes_read += at.read_length;
    ++stats_.reads;
  }
}

void ExpertCache::flush_requests() {
  bool idle = true;
  for (size_t part = 0; part < io_.size(); ++part) {
    if (pending_requests_[part].empty()) continue;
    if (idle && in_flight() == 0) busy_since_ = Clock::now();
    idle = false;
    io_[part]->submit(pending_requests_[part]);
    pending_requests_[part].clear();
  }
}

void ExpertCache::pump(bool wait) {
  completions_.clear();
  for (const auto& io : io_) {
    if (io) io->reap(completions_, false);
  }
  if (wait && completions_.empty()) {
    // Block on one engine with reads outstanding: each of them finishes some read.
    for (const auto& io : io_) {
      if (io && io->in_flight() > 0) {
        io->reap(completions_, true);
        break;
      }
    }
  }
  for (const ReadCompletion& c : completions_) {
    Slot& slot = slots_[c.tag / 4];
    if ((c.error != 0 || c.short_read) && slot.read_error == 0) {
      slot.read_error = c.short_read ? -1 : c.error;
      slot.failed_slice = static_cast<int>(c.tag % 4);
      slot.failed_offset = c.offset;
      slot.failed_length = c.length;
    }
    if (--slot.reads_pending == 0) slot.state = slot.read_error ? SlotState::kFailed : SlotState::kReady;
  }
  if (!completions_.empty() && in_flight() == 0) {
    stats_.io_busy_seconds += seconds_between(busy_since_, Clock::now());
  }
}

void ExpertCache::discard_failed(int s) {
  Slot& slot = slots_[s];
  slot_of_key_[static_cast<size_t>(slot.key)] = -1;
  policy_->on_evict(slot.key);
  slot.state = SlotState::kEmpty;
  slot.reserved = false;
  free_slots_.push_back(s);
}

void ExpertCache::throw_read_error(int s) {
  const Slot slot = slots_[s];
  discard_failed(s);
  const int32_t layer = slot.key / n_expert_;
  const int32_t expert = slot.key % n_expert_;
  const std::string& path = file_.path(layers_[layer].parts[slot.failed_slice]->part);
  if (slot.read_error < 0) {
    throw Error(fmt::format("{}: reading expert {} of layer {} ({} bytes at offset {}) hit the "
                            "end of the file: was the model file truncated after it was loaded?",
                            path, expert, layer, slot.failed_length, slot.failed_offset));
  }
  throw Error(fmt::format("{}: reading expert {} of layer {} ({} bytes at offset {}) failed: {} "
                          "(errno {})",
                          path, expert, layer, slot.failed_length, slot.failed_offset,
                          std::strerror(slot.read_error), slot.read_error));
}

void ExpertCache::count_access(ExpertKey key, bool hit) {
  ++stats_.expert_accesses[static_cast<size_t>(key)];
  LayerCacheStats& layer = stats_.layers[static_cast<size_t>(key / n_expert_)];
  ++layer.accesses;
  if (hit) ++layer.hits;
}

void ExpertCache::prefetch(int32_t layer, std::span<const int32_t> experts) {
  for (int s : reserved_slots_) slots_[s].reserved = false;
  reserved_slots_.clear();
  for (ExpertKey k : counted_keys_) counted_[k] = 0;  // left over if a forward pass failed
  counted_keys_.clear();
  const bool had_prediction = has_prediction_[layer];
  has_prediction_[layer] = 0;
  for (int32_t e : experts) {
    const ExpertKey key = layer * n_expert_ + e;
    if (had_prediction) {
      ++stats_.layers[layer].predicted;
      stats_.layers[layer].predicted_right += predicted_[key];
    }
    if (counted_[key]) continue;  // listed twice
    counted_[key] = 1;
    counted_keys_.push_back(key);
    int s = find_slot(key);
    if (s >= 0 && slots_[s].state == SlotState::kFailed) {
      discard_failed(s);
      s = -1;
    }
    count_access(key, s >= 0);
    if (s < 0) {
      s = claim_slot(false);
      if (s < 0) continue;  // no room now: acquire will read it on demand
      start_load(s, key);
    }
    slots_[s].reserved = true;
    reserved_slots_.push_back(s);
  }
  flush_requests();
}

void ExpertCache::predict(int32_t layer, std::span<const int32_t> experts) {
  for (int32_t e = 0; e < n_expert_; ++e) predicted_[layer * n_expert_ + e] = 0;
  has_prediction_[layer] = 1;
  for (int32_t e : experts) {
    const ExpertKey key = layer * n_expert_ + e;
    predicted_[key] = 1;
    if (find_slot(key) >= 0) continue;
    const int s = claim_slot(false);
    if (s < 0) break;
    start_load(s, key);
    ++stats_.prefetch_reads;
  }
  flush_requests();
}

bool ExpertCache::is_ready(int32_t layer, int32_t expert) const {
  const int s = find_slot(layer * n_expert_ + expert);
  return s >= 0 && slots_[s].state == SlotState::kReady;
}

ExpertWeights ExpertCache::acquire(int32_t layer, int32_t expert) {
  const ExpertKey key = layer * n_expert_ + expert;
  int s = find_slot(key);
  if (counted_[key]) {
    counted_[key] = 0;
  } else {
    count_access(key, s >= 0 && slots_[s].state != SlotState::kFailed);
  }
  if (s >= 0 && slots_[s].state == SlotState::kFailed) throw_read_error(s);
  if (s < 0) {
    while ((s = claim_slot(false)) < 0 && (s = claim_slot(true)) < 0) {
      // Every slot is loading or pinned: wait for a read to land.
      SLUICE_ASSERT(in_flight() > 0);
      const auto start = Clock::now();
      pump(true);
      stats_.io_wait_seconds += seconds_between(start, Clock::now());
      for (size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].state == SlotState::kFailed && slots_[i].pins == 0) discard_failed(static_cast<int>(i));
      }
    }
    start_load(s, key);
    flush_requests();
  }
  if (slots_[s].state == SlotState::kLoading) {
    const auto start = Clock::now();
    while (slots_[s].state == SlotState::kLoading) pump(true);
    stats_.io_wait_seconds += seconds_between(start, Clock::now());
  } else {
    pump(false);  // keep completions flowing while hits are served
  }
  if (slots_[s].state == SlotState::kFailed) throw_read_error(s);
  Slot& slot = slots_[s];
  ++slot.pins;
  policy_->on_access(key);
  const LayerTensors& tensors = layers_[layer];
  ExpertWeights weights;
  quant::MatrixView* views[3] = {&weights.gate, &weights.up, &weights.down};
  for (int p = 0; p < 3; ++p) {
    *views[p] = tensors.shapes[p];
    views[p]->data = slot.memory + place(tensors, p, expert).view_offset;
  }
  return weights;
}

void ExpertCache::release(int32_t layer, int32_t expert) {
  const int s = find_slot(layer * n_expert_ + expert);
  SLUICE_ASSERT(s >= 0 && slots_[s].pins > 0);
  --slots_[s].pins;
  slots_[s].reserved = false;
}

}  // namespace sluice::store
