// What every model-running command opens: the GGUF, the model, and the thread pool.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "gguf/gguf_file.h"
#include "model/model.h"
#include "ops/thread_pool.h"

namespace sluice::cli {

struct ModelOptions {
  std::string model_path;
  int threads = 0;  // 0: one per core
};

// Adds -m/--model and -t/--threads to a subcommand.
void add_model_options(CLI::App& command, ModelOptions& options);

struct LoadedModel {
  std::unique_ptr<gguf::GgufFile> file;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<ops::ThreadPool> pool;
};

LoadedModel load(const ModelOptions& options);

}  // namespace sluice::cli
