// Constructors of the supported architectures; registry.cpp maps GGUF names to them.
#pragma once

#include <fmt/format.h>

#include <memory>

#include "gguf/gguf_file.h"
#include "model/model.h"

namespace sluice::model {

std::unique_ptr<Model> make_llama(const gguf::GgufFile& file, const store::StoreConfig& config);
std::unique_ptr<Model> make_qwen3(const gguf::GgufFile& file, const store::StoreConfig& config);
std::unique_ptr<Model> make_qwen3moe(const gguf::GgufFile& file, const store::StoreConfig& config);
std::unique_ptr<Model> make_qwen3next(const gguf::GgufFile& file, const store::StoreConfig& config);
std::unique_ptr<Model> make_qwen35moe(const gguf::GgufFile& file, const store::StoreConfig& config);
std::unique_ptr<Model> make_qwen35(const gguf::GgufFile& file, const store::StoreConfig& config);
std::unique_ptr<Model> make_gpt_oss(const gguf::GgufFile& file, const store::StoreConfig& config);
std::unique_ptr<Model> make_deepseek2(const gguf::GgufFile& file, const store::StoreConfig& config);

}  // namespace sluice::model
