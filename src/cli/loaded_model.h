// What every model-running command opens: the GGUF, the model with its expert store sized
// to the memory budget, and the thread pool.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "gguf/gguf_file.h"
#include "model/model.h"
#include "ops/thread_pool.h"
#include "store/expert_cache.h"

namespace sluice::cli {

struct ModelOptions {
  std::string model_path;
  int threads = 0;           // 0: one per core
  std::string mem;           // --mem: budget for the whole process; empty: 80% of MemAvailable
  std::string cache_policy = "enu";
  std::string io_engine = "auto";
  bool resident = false;     // --no-stream: read every expert at load time
  std::string expert_profile;  // --expert-profile: pin the experts a saved profile used most
  bool exact = false;        // --exact: decode blocks exactly, f32 activations (ops::ComputePath)
};

// Adds -m/--model, -t/--threads, --mem, --cache-policy, --io, --no-stream,
// --expert-profile and --exact to a command.
void add_model_options(CLI::App& command, ModelOptions& options);

// What the command will run, for sizing the budget.
struct RunShape {
  int64_t n_ctx = 0;         // 0: the model's training context, capped at 4096
  int64_t n_batch = 512;     // tokens per forward pass
  int64_t n_logit_rows = 1;  // rows of logits kept at once
};

struct LoadedModel {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<ops::ThreadPool> pool;
  int64_t n_ctx = 0;        // resolved context size
  uint64_t mem_budget = 0;  // resolved --mem

  // The streaming expert cache, or nullptr (dense model, --no-stream).
  const store::ExpertCache* expert_cache() const {
    return dynamic_cast<const store::ExpertCache*>(model->experts());
  }
};

// Opens the model and divides the budget; prints the division to stderr when streaming.
// Selects the compute path: fast (8-bit activations) unless options.exact.
LoadedModel load(const ModelOptions& options, const RunShape& shape);

}  // namespace sluice::cli
