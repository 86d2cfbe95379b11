// `sluice quantize IN.gguf OUT.gguf --type Q4_K_M`: writes a GGUF whose weights are quantized
// with one of llama.cpp's mixes (model/quantize_recipe.h picks each tensor's type,
// quant/quantize.h writes the blocks), without an importance matrix.
//
// Tensors are streamed: each is read in chunks of rows, decoded to f32, quantized on the
// thread pool and handed to the writer, so memory stays at a few chunks whatever the model's
// size. Every metadata key is copied (general.alignment included) except the split keys of a
// split input; general.file_type and general.quantization_version are set as llama-quantize
// sets them.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "cli/format.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "model/quantize_recipe.h"
#include "ops/thread_pool.h"
#include "quant/decode.h"
#include "quant/quantize.h"
#include "util/error.h"

namespace sluice::cli {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
constexpr size_t kChunkBytes = size_t{32} << 20;  // f32 values decoded per chunk of rows

struct QuantizeOptions {
  std::string input;
  std::string output;
  std::string type;
  int n_threads = 0;
  bool allow_requantize = false;
};

// One line on stderr redrawn in place on a terminal; elsewhere (a log file) one line per
// finished tensor.
class ProgressBar {
 public:
  ProgressBar(uint64_t total_work, size_t n_tensors)
      : total_(std::max<uint64_t>(1, total_work)), n_tensors_(n_tensors), tty_(isatty(STDERR_FILENO) == 1) {}

  void update(uint64_t done, size_t tensor_index, const std::string& what, bool tensor_finished) {
    if (!tty_) {
      if (tensor_finished) fmt::print(stderr, "[{:>4}/{}] {}\n", tensor_index + 1, n_tensors_, what);
      return;
    }
    constexpr int kWidth = 30;
    const double fraction = static_cast<double>(done) / static_cast<double>(total_);
    const int filled = static_cast<int>(fraction * kWidth);
    const std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.');
    fmt::print(stderr, "\r\033[K[{}] {:3.0f}%  {:>4}/{}  {}", bar, 100.0 * fraction, tensor_index + 1, n_tensors_, what);
  }

  // Ends the redrawn line (also when an error interrupts the work, before it is printed).
  void finish() {
    if (tty_ && !finished_) fmt::print(stderr, "\n");
    finished_ = true;
  }
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  uint64_t total_;
  size_t n_tensors_;
  bool tty_;
  bool finished_ = false;
};

bool is_float_type(quant::GgmlType type) {
  return type == quant::GgmlType::F32 || type == quant::GgmlType::F16 || type == quant::GgmlType::BF16;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int run_quantize(const QuantizeOptions& options) {
  const model::QuantMix* mix = model::find_quant_mix(options.type);
  if (mix == nullptr) {
    std::string names;
    for (std::string_view name : model::quant_mix_names()) names += (names.empty() ? "" : ", ") + std::string(name);
    throw Error(fmt::format("unknown quantization type '{}' (known: {})", options.type, names));
  }
  std::error_code ec;
  if (std::filesystem::equivalent(options.input, options.output, ec)) {
    throw Error(fmt::format("output '{}' is the input file; write to another path", options.output));
  }
  const gguf::GgufFile in(options.input);
  in.require_first_part();
  const std::vector<gguf::TensorInfo>& tensors = in.tensors();
  const std::vector<model::TensorQuantPlan> plans =
      model::plan_quantization(*mix, tensors, model::quant_model_facts(in));

  gguf::GgufWriter writer;
  for (const auto& [key, value] : in.metadata()) {
    if (key == "split.no" || key == "split.count" || key == "split.tensors.count") continue;
    writer.set_metadata(key, value);
  }
  writer.set_uint32("general.quantization_version", kQuantizationVersion);
  writer.set_uint32("general.file_type", mix->file_type);

  uint64_t total_work = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const gguf::TensorInfo& t = tensors[i];
    const model::TensorQuantPlan& plan = plans[i];
    if (plan.type != t.type && !is_float_type(t.type) && !options.allow_requantize) {
      throw Error(fmt::format("tensor '{}' is already quantized ({}); quantizing it again to {} loses more "
                              "precision than quantizing the original weights (pass --allow-requantize to do it anyway)",
                              t.name, quant::type_name(t.type), quant::type_name(plan.type)));
    }
    writer.add_tensor_info(t.name, plan.type, t.dims);
    total_work += t.n_bytes;
  }

  fmt::print(stderr, "quantizing {} ({}, {} tensors) to {} as {} with {}\n", options.input, format_bytes(in.total_size()),
             tensors.size(), options.output, mix->name, options.n_threads > 0 ? fmt::format("{} threads", options.n_threads) : "all threads");
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (plans[i].fallback_from) {
      fmt::print(stderr, "  {}: rows of {} do not fit {} blocks, using {}\n", tensors[i].name, tensors[i].row_length(),
                 quant::type_name(*plans[i].fallback_from), quant::type_name(plans[i].type));
    }
  }

  ops::ThreadPool pool(options.n_threads);
  std::vector<std::vector<float>> row_buffers(static_cast<size_t>(pool.size()));
  std::vector<std::byte> source, converted;
  ProgressBar progress(total_work, tensors.size());
  uint64_t work_done = 0;
  const auto start = std::chrono::steady_clock::now();

  writer.write(options.output, [&](size_t index, const gguf::TensorInfo& out_tensor, const gguf::ByteSink& sink) {
    const gguf::TensorInfo& t = tensors[index];
    const quant::GgmlType out_type = out_tensor.type;
    const std::string what = t.type == out_type
                                 ? fmt::format("{} {} (copied)", t.name, quant::type_name(t.type))
                                 : fmt::format("{} {} -> {}", t.name, quant::type_name(t.type), quant::type_name(out_type));
    progress.update(work_done, index, what, false);
    const uint64_t row_length = t.row_length();
    const uint64_t in_row_bytes = quant::row_bytes(t.type, row_length);
    const uint64_t out_row_bytes = quant::row_bytes(out_type, row_length);
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, kChunkBytes / (row_length * sizeof(float)));
    for (uint64_t row = 0; row < t.n_rows(); row += rows_per_chunk) {
      const uint64_t n_rows = std::min(rows_per_chunk, t.n_rows() - row);
      source.resize(n_rows * in_row_bytes);
      in.read_at(t.part, t.offset + row * in_row_bytes, source.data(), source.size());
      if (t.type == out_type) {
        sink(source);
      } else {
        converted.resize(n_rows * out_row_bytes);
        std::atomic<int64_t> bad_row{-1};
        pool.parallel_for(static_cast<int64_t>(n_rows), [&](int64_t begin, int64_t end, int thread) {
          std::vector<float>& values = row_buffers[static_cast<size_t>(thread)];
          values.resize(row_length);
          for (int64_t r = begin; r < end; ++r) {
            const auto n = static_cast<int64_t>(row_length);
            quant::decode_row(t.type, source.data() + static_cast<uint64_t>(r) * in_row_bytes, values.data(), n);
            bool finite = true;
            for (float v : values) finite &= std::isfinite(v);
            if (!finite) {
              bad_row.store(r);
              continue;
            }
            quant::quantize_row(out_type, values.data(), converted.data() + static_cast<uint64_t>(r) * out_row_bytes, n);
          }
        });
        if (bad_row.load() >= 0) {
          throw Error(fmt::format("tensor '{}' holds a non-finite value in row {}", t.name,
                                  row + static_cast<uint64_t>(bad_row.load())));
        }
        sink(converted);
      }
      work_done += n_rows * in_row_bytes;
      progress.update(work_done, index, what, row + n_rows == t.n_rows());
    }
  });
  progress.finish();

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t out_bytes = 0, n_weights = 0;
  std::map<std::string, int> type_counts;
  for (const gguf::TensorInfo& t : writer.tensors()) {
    out_bytes += t.n_bytes;
    n_weights += t.n_elements;
    ++type_counts[lower(quant::type_name(t.type))];
  }
  std::string counts;
  for (const auto& [name, count] : type_counts) counts += fmt::format("{}{}: {}", counts.empty() ? "" : ", ", name, count);
  fmt::print(stderr, "wrote {}: {} of tensors ({:.2f} bits per weight) in {:.1f} s; tensor types {}\n", options.output,
             format_bytes(out_bytes), 8.0 * static_cast<double>(out_bytes) / static_cast<double>(std::max<uint64_t>(1, n_weights)),
             seconds, counts);
  return 0;
}

}  // namespace

Action add_quantize_command(CLI::App& app) {
  auto options = std::make_shared<QuantizeOptions>();
  std::string names;
  for (std::string_view name : model::quant_mix_names()) names += (names.empty() ? "" : ", ") + std::string(name);
  CLI::App* cmd = app.add_subcommand("quantize", "quantize a GGUF's weights with one of llama.cpp's mixes (Q4_K_M, ...)");
  cmd->add_option("input", options->input, "GGUF to read (the first part of a split model)")->required();
  cmd->add_option("output", options->output, "GGUF to write")->required();
  cmd->add_option("--type,type", options->type, "quantization mix: " + names)->required();
  cmd->add_option("-t,--threads", options->n_threads, "threads (default: one per hardware thread)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--allow-requantize", options->allow_requantize, "allow quantizing tensors that are already quantized");
  return [options] { return run_quantize(*options); };
}

}  // namespace sluice::cli
