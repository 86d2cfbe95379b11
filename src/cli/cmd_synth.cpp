// `sluice synth`: writes a random-weight GGUF with the shapes of a large MoE release.
#include <fmt/format.h>

#include <chrono>
#include <memory>

#include "cli/commands.h"
#include "cli/format.h"
#include "model/synthetic_model.h"
#include "util/error.h"

namespace sluice::cli {
namespace {

struct SynthOptions {
  std::string preset = "qwen3-30b-a3b";
  std::string output;
  std::string type;  // empty: the preset's release types
  int64_t n_layer = 0;
  int64_t n_expert = 0;
  int64_t n_vocab = 0;
  uint64_t seed = 1;
};

quant::GgmlType parse_type(const std::string& name) {
  for (uint32_t id = 0; id < 64; ++id) {
    const auto traits = quant::type_traits(id);
    if (traits && traits->name == name) return static_cast<quant::GgmlType>(id);
  }
  throw sluice::Error(fmt::format("unknown tensor type '{}'", name));
}

int run_synth(const SynthOptions& options) {
  const model::SyntheticSpec spec = model::synthetic_preset(options.preset);
  model::SyntheticOptions synth;
  if (!options.type.empty()) synth.type = parse_type(options.type);
  synth.n_layer = options.n_layer;
  synth.n_expert = options.n_expert;
  synth.n_vocab = options.n_vocab;
  synth.seed = options.seed;
  const auto start = std::chrono::steady_clock::now();
  int last_percent = -1;
  const uint64_t bytes = model::write_synthetic_model(spec, synth, options.output, [&](uint64_t done, uint64_t total) {
    const int percent = static_cast<int>(100 * done / std::max<uint64_t>(1, total));
    if (percent / 10 != last_percent / 10) {
      last_percent = percent;
      fmt::print(stderr, "\rwriting {}: {:3d}% of {}", options.output, percent, format_bytes(total));
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(stderr, "\nwrote {} ({} of tensors) in {:.1f} s\n", options.output, format_bytes(bytes), seconds);
  return 0;
}

}  // namespace

Action add_synth_command(CLI::App& app) {
  auto options = std::make_shared<SynthOptions>();
  std::string presets;
  for (const auto& name : model::synthetic_preset_names()) presets += (presets.empty() ? "" : ", ") + name;
  CLI::App* cmd = app.add_subcommand("synth", "write a random-weight GGUF with the shapes of a large MoE");
  cmd->add_option("--preset", options->preset, "model shape: " + presets)->capture_default_str();
  cmd->add_option("-o,--output", options->output, "GGUF file to write")->required();
  cmd->add_option("--type", options->type,
                  "weight type of every matrix: Q4_K, Q8_0, Q6_K, Q5_K, Q4_0, IQ2_XXS, MXFP4, BF16, ... "
                  "(default: the release's; Q4_K, or for gpt-oss MXFP4 experts and Q8_0 for the rest)");
  cmd->add_option("--layers", options->n_layer, "number of layers (default: the preset's)")->check(CLI::PositiveNumber);
  cmd->add_option("--experts", options->n_expert, "experts per layer (default: the preset's)")->check(CLI::PositiveNumber);
  cmd->add_option("--vocab", options->n_vocab, "vocabulary size (default: the preset's)")->check(CLI::PositiveNumber);
  cmd->add_option("-s,--seed", options->seed, "random seed")->capture_default_str();
  return [options] { return run_synth(*options); };
}

}  // namespace sluice::cli
