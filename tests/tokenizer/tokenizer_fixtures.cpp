// Loads the fixture tokenizers once per test run.
#include "tokenizer_fixtures.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "gguf/gguf_file.h"

namespace sluice::tokenizer::testing {
namespace {

Tokenizer load(const std::string& path) {
  const gguf::GgufFile file(path);
  return Tokenizer(vocabulary_from_gguf(file));
}

}  // namespace

const Tokenizer& qwen3_moe_tokenizer() {
  static const Tokenizer tokenizer = load(SLUICE_FIXTURES "/models/qwen3_moe/model-bf16.gguf");
  return tokenizer;
}

const Tokenizer& trained_tokenizer() {
  static const Tokenizer tokenizer = load(SLUICE_FIXTURES "/trained/model-bf16.gguf");
  return tokenizer;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::string format_ids(std::span<const int32_t> ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

std::string escaped(std::string_view text) {
  std::string s;
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b == '\n') {
      s += "\\n";
    } else if (b == '\r') {
      s += "\\r";
    } else if (b == '\t') {
      s += "\\t";
    } else if (b < 0x20 || b >= 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", b);
      s += buf;
    } else {
      s += c;
    }
  }
  return s;
}

}  // namespace sluice::tokenizer::testing
