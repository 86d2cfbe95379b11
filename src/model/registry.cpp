// Maps general.architecture to the file that implements it.
#include <fmt/format.h>

#include <array>
#include <string_view>

#include "model/architectures.h"

namespace sluice::model {
namespace {

struct Architecture {
  std::string_view name;
  std::unique_ptr<Model> (*make)(const gguf::GgufFile&, const store::StoreConfig&);
};

constexpr std::array kArchitectures = {
    Architecture{"llama", make_llama},
    Architecture{"qwen3", make_qwen3},
    Architecture{"qwen3moe", make_qwen3moe},
    Architecture{"qwen3next", make_qwen3next},
    Architecture{"qwen35moe", make_qwen35moe},
    Architecture{"qwen35", make_qwen35},
    Architecture{"gpt-oss", make_gpt_oss},
    Architecture{"deepseek2", make_deepseek2},
};

}  // namespace

std::unique_ptr<Model> load_model(const gguf::GgufFile& file, const store::StoreConfig& store_config) {
  const std::string& arch = file.get_string("general.architecture");
  for (const Architecture& a : kArchitectures) {
    if (a.name == arch) return a.make(file, store_config);
  }
  std::string supported;
  for (const Architecture& a : kArchitectures) supported += fmt::format("{}{}", supported.empty() ? "" : ", ", a.name);
  throw ModelError(fmt::format("{}: unknown architecture '{}' (supported: {})", file.path(), arch,
                               supported));
}

}  // namespace sluice::model
