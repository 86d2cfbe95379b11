// `sluice inspect FILE`: what a GGUF holds, and the dense / routed-expert split that decides
// how it streams.
#include <fmt/format.h>

#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/format.h"
#include "gguf/gguf_file.h"
#include "store/model_layout.h"

namespace sluice::cli {
namespace {

void print_metadata(const gguf::GgufFile& file) {
  fmt::print("metadata ({} keys):\n", file.metadata().size());
  for (const auto& [key, value] : file.metadata()) {
    fmt::print("  {:<48} {}\n", key, value.to_display_string());
  }
}

// The files of a split model, or where a lone part belongs.
void print_parts(const gguf::GgufFile& file) {
  if (file.split_count() <= 1) return;
  if (file.n_parts() == 1) {
    fmt::print("split:         part {} of {} of a split model (this part's tensors only)\n",
               file.split_index() + 1, file.split_count());
    return;
  }
  std::vector<size_t> tensors_in(file.n_parts(), 0);
  for (const gguf::TensorInfo& t : file.tensors()) ++tensors_in[t.part];
  fmt::print("split:         {} parts, {} ({}) in all\n", file.n_parts(), file.total_size(),
             format_bytes(file.total_size()));
  for (size_t part = 0; part < file.n_parts(); ++part) {
    fmt::print("  part {:<3} {}  {} bytes, {} tensors\n", part + 1, file.path(part), file.part_size(part),
               tensors_in[part]);
  }
}

void print_tensors(const gguf::GgufFile& file) {
  const bool split = file.n_parts() > 1;
  fmt::print("\ntensors ({}):\n", file.tensors().size());
  fmt::print("  {:<40} {:<8} {:<22} {}{:>14} {:>14}\n", "name", "type", "shape", split ? "part " : "", "offset",
             "bytes");
  for (const gguf::TensorInfo& t : file.tensors()) {
    fmt::print("  {:<40} {:<8} {:<22} {}{:>14} {:>14}\n", t.name, quant::type_name(t.type), t.shape_string(),
               split ? fmt::format("{:>4} ", t.part + 1) : "", t.offset, t.n_bytes);
  }
}

void print_layout(const gguf::GgufFile& file) {
  const store::ModelLayout layout = store::analyze_layout(file);
  const uint64_t total = layout.dense_bytes + layout.expert_bytes;
  fmt::print("\nsplit:\n");
  fmt::print("  dense (resident)        {:>12}  ({:.1f}%)\n", format_bytes(layout.dense_bytes),
             total ? 100.0 * static_cast<double>(layout.dense_bytes) / static_cast<double>(total) : 0.0);
  fmt::print("  routed experts          {:>12}  ({:.1f}%)\n", format_bytes(layout.expert_bytes),
             total ? 100.0 * static_cast<double>(layout.expert_bytes) / static_cast<double>(total) : 0.0);
  if (layout.expert_layers.empty()) {
    fmt::print("  no routed experts: a dense model\n");
    return;
  }
  const auto& first = layout.expert_layers.front();
  bool uniform = true;
  for (const auto& layer : layout.expert_layers) {
    uniform = uniform && layer.n_expert == first.n_expert && layer.bytes_per_expert == first.bytes_per_expert;
  }
  fmt::print("  MoE layers              {}\n", layout.expert_layers.size());
  if (uniform) {
    fmt::print("  experts per layer       {}\n", first.n_expert);
    fmt::print("  bytes per expert        {} ({})\n", first.bytes_per_expert, format_bytes(first.bytes_per_expert));
  } else {
    for (const auto& layer : layout.expert_layers) {
      fmt::print("  layer {:>3}: {} experts x {}\n", layer.layer, layer.n_expert, format_bytes(layer.bytes_per_expert));
    }
  }
}

int run_inspect(const std::string& path) {
  gguf::GgufFile file(path);
  fmt::print("file:          {}\n", path);
  fmt::print("GGUF version:  {}\n", file.version());
  fmt::print("size:          {} ({})\n", file.file_size(), format_bytes(file.file_size()));
  fmt::print("alignment:     {}\n", file.alignment());
  fmt::print("data offset:   {}\n", file.data_offset());
  print_parts(file);
  fmt::print("architecture:  {}\n", file.find_string("general.architecture").value_or("(none)"));
  fmt::print("tokenizer:     {} (pre-tokenizer {}), {} tokens\n",
             file.find_string("tokenizer.ggml.model").value_or("(none)"),
             file.find_string("tokenizer.ggml.pre").value_or("default"),
             file.find("tokenizer.ggml.tokens") ? file.require("tokenizer.ggml.tokens").as_array().items.size() : 0);
  fmt::print("\n");
  print_metadata(file);
  print_tensors(file);
  print_layout(file);
  return 0;
}

}  // namespace

Action add_inspect_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("inspect", "show a GGUF's metadata, tensors and expert layout");
  cmd->add_option("file", *path, "GGUF file")->required();
  return [path] { return run_inspect(*path); };
}

}  // namespace sluice::cli
