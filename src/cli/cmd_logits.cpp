// `sluice logits`: logits of every position of a list of token ids, as little-endian float32
// [n_ids, n_vocab], for parity checks against other engines.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/loaded_model.h"

namespace sluice::cli {
namespace {

struct LogitsOptions {
  ModelOptions model;
  std::vector<int32_t> ids;
  std::string output;
  int batch = 0;  // tokens per forward call; 0 = all at once
};

int run_logits(const LogitsOptions& options) {
  const auto n_ids = static_cast<int64_t>(options.ids.size());
  if (n_ids == 0) throw Error("--ids is empty");
  const int64_t batch = options.batch > 0 ? options.batch : n_ids;
  LoadedModel loaded = load(options.model, {n_ids, batch, n_ids});
  const int64_t n_vocab = loaded.model->info().n_vocab;
  model::KvCache cache = loaded.model->new_cache(n_ids);
  std::vector<float> logits(static_cast<size_t>(n_ids * n_vocab));
  for (int64_t first = 0; first < n_ids; first += batch) {
    const int64_t n = std::min(batch, n_ids - first);
    loaded.model->forward(*loaded.pool, std::span(options.ids.data() + first, n), cache,
                          model::LogitsMode::kAll, logits.data() + first * n_vocab);
  }
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(options.output.c_str(), "wb"), std::fclose);
  if (!out || std::fwrite(logits.data(), sizeof(float), logits.size(), out.get()) != logits.size()) {
    throw Error(fmt::format("cannot write '{}'", options.output));
  }
  fmt::print(stderr, "wrote {} x {} logits to {}\n", n_ids, n_vocab, options.output);
  return 0;
}

}  // namespace

Action add_logits_command(CLI::App& app) {
  auto options = std::make_shared<LogitsOptions>();
  CLI::App* cmd = app.add_subcommand("logits", "write the logits of every position of --ids");
  add_model_options(*cmd, options->model);
  cmd->add_option("--ids", options->ids, "comma-separated token ids")->required()->delimiter(',');
  cmd->add_option("-o,--output", options->output, "output file (float32 [n_ids, n_vocab])")->required();
  cmd->add_option("--batch", options->batch, "tokens per forward pass (default: all)");
  return [options] { return run_logits(*options); };
}

}  // namespace sluice::cli
