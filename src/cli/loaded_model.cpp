#include "cli/loaded_model.h"

namespace sluice::cli {

void add_model_options(CLI::App& command, ModelOptions& options) {
  command.add_option("-m,--model", options.model_path, "GGUF model file")->required();
  command.add_option("-t,--threads", options.threads, "threads (default: one per core)")
      ->check(CLI::NonNegativeNumber);
}

LoadedModel load(const ModelOptions& options) {
  LoadedModel loaded;
  loaded.file = std::make_unique<gguf::GgufFile>(options.model_path);
  loaded.model = model::load_model(*loaded.file);
  loaded.pool = std::make_unique<ops::ThreadPool>(options.threads);
  return loaded;
}

}  // namespace sluice::cli
