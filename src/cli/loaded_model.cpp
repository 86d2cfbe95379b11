#include "cli/loaded_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "model/memory_estimate.h"
#include "ops/matmul.h"
#include "quant/fast/fast_dot.h"
#include "store/budget.h"
#include "store/expert_profile.h"
#include "store/model_layout.h"
#include "util/memory_info.h"

namespace sluice::cli {
namespace {

// Code, stacks, allocator slack and the tokenizer, on top of what the process holds when
// the budget is planned (the parsed metadata among it).
constexpr uint64_t kReserveSlack = 96ull << 20;
// Models above this many bytes of weights are read as two streams (quant::fast::two_streams):
// far more than any CPU's last-level cache, so that every token reads them from memory.
constexpr uint64_t kTwoStreamsFromBytes = 1ull << 30;
constexpr double kDefaultShareOfAvailable = 0.8;

store::IoEngineKind parse_io_engine(const std::string& name) {
  if (name == "auto") return store::IoEngineKind::kAuto;
  if (name == "uring") return store::IoEngineKind::kUring;
  if (name == "threads") return store::IoEngineKind::kThreads;
  throw Error(fmt::format("unknown --io '{}' (auto, uring, threads)", name));
}

uint64_t budget_bytes(const std::string& mem) {
  if (mem.empty()) {
    return static_cast<uint64_t>(static_cast<double>(available_memory_bytes()) * kDefaultShareOfAvailable);
  }
  const std::optional<uint64_t> bytes = parse_size(mem);
  if (!bytes) throw Error(fmt::format("--mem '{}' is not a size (examples: 6G, 512M)", mem));
  return *bytes;
}

}  // namespace

void add_model_options(CLI::App& command, ModelOptions& options) {
  command.add_option("-m,--model", options.model_path, "GGUF model file")->required();
  command.add_option("-t,--threads", options.threads, "threads (default: one per core)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--mem", options.mem,
                     "memory budget for the whole process, e.g. 6G (default: 80% of available)");
  command.add_option("--cache-policy", options.cache_policy, "expert cache policy: enu, lru, lfu")
      ->capture_default_str();
  command.add_option("--io", options.io_engine, "expert reads: auto, uring, threads")->capture_default_str();
  command.add_flag("--no-stream", options.resident, "read every expert into memory at load time");
  command.add_option("--expert-profile", options.expert_profile,
                     "pin the experts most used in a profile saved by --save-expert-profile");
  command.add_flag("--exact", options.exact,
                   "exact path: decode weight blocks to f32 and keep activations in f32 (slower; "
                   "default: activations quantized to 8 bits, integer dot products)");
}

LoadedModel load(const ModelOptions& options, const RunShape& shape) {
  LoadedModel loaded;
  loaded.file = std::make_unique<gguf::GgufFile>(options.model_path);
  const gguf::GgufFile& file = *loaded.file;
  file.require_first_part();
  const std::string arch = file.get_string("general.architecture");
  const int64_t n_ctx_train = static_cast<int64_t>(file.find_uint(arch + ".context_length").value_or(4096));
  loaded.n_ctx = shape.n_ctx > 0 ? shape.n_ctx : std::min<int64_t>(n_ctx_train, 4096);

  const store::ModelLayout layout = store::analyze_layout(file);
  const model::MemoryEstimate estimate =
      model::estimate_memory(file, loaded.n_ctx, std::min(shape.n_batch, loaded.n_ctx), shape.n_logit_rows);
  store::BudgetRequest request;
  request.mem_budget = budget_bytes(options.mem);
  loaded.mem_budget = request.mem_budget;
  request.dense_bytes = layout.dense_bytes;
  request.state_bytes = estimate.state_bytes;
  request.buffer_bytes = estimate.buffer_bytes;
  request.reserve_bytes = current_rss_bytes() + kReserveSlack;

  store::StoreConfig config;
  std::string budget_report;  // printed once the model has loaded
  config.policy = options.cache_policy;
  config.io_engine = parse_io_engine(options.io_engine);
  if (!layout.expert_layers.empty() && !options.resident) {
    request.slot_bytes = store::expert_slot_bytes(layout.expert_layers);
    for (const auto& layer : layout.expert_layers) request.n_experts_total += static_cast<uint64_t>(layer.n_expert);
    // One slot in use and one being read: the MoE block holds one expert at a time.
    request.min_slots = 2;
    const store::BudgetPlan plan = store::plan_budget(request);
    config.stream_experts = true;
    config.expert_cache_bytes = plan.expert_cache_bytes;
    if (!options.expert_profile.empty()) {
      const int64_t n_layer = static_cast<int64_t>(file.get_uint(arch + ".block_count"));
      config.pinned_experts = store::load_expert_profile(options.expert_profile, n_layer,
                                                         layout.expert_layers.front().n_expert);
    }
    budget_report = store::describe_budget(request, plan);
  } else {
    request.dense_bytes += layout.expert_bytes;
    request.min_slots = 0;
    store::plan_budget(request);  // refuses a budget that cannot hold the whole model
  }
  // The fast path's small-batch kernels want some formats' rows in groups of 8; the exact path
  // reads plain rows.
  if (options.exact) quant::fast::set_row_grouping(quant::fast::RowGrouping::kOff);
  // Weights far larger than the caches are read from memory at every token: the group kernels
  // then read them as two streams.
  quant::fast::set_two_streams(layout.dense_bytes + layout.expert_bytes > kTwoStreamsFromBytes);
  loaded.model = model::load_model(file, config);
  loaded.pool = std::make_unique<ops::ThreadPool>(options.threads);
  ops::set_compute_path(options.exact ? ops::ComputePath::kExact : ops::ComputePath::kFast);
  if (const store::ExpertCache* cache = loaded.expert_cache()) {
    fmt::print(stderr, "{}\n", budget_report);
    fmt::print(stderr, "expert reads: {}, cache policy {}{}\n", cache->io_description(), cache->policy_name(),
               cache->stats().pinned ? fmt::format(", {} experts pinned", cache->stats().pinned) : "");
  }
  return loaded;
}

}  // namespace sluice::cli
