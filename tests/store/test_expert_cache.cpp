// The streaming expert cache: bit-exact with resident experts, and I/O failures reported
// with file, offset and errno while the process stays usable.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "model/model.h"
#include "store/expert_cache.h"
#include "store/model_layout.h"
#include "support/fixtures.h"

namespace sluice::store {
namespace {

namespace fs = std::filesystem;
using testing::fixture_path;

const std::string kTrainedModel = "trained/model-bf16.gguf";

// Logits of the prompt (one batch) followed by `n_decode` single-token steps feeding back
// the argmax: covers both the batched and the incremental path through the cache.
std::vector<float> run_model(model::Model& m, const std::vector<int32_t>& prompt, int n_decode) {
  ops::ThreadPool pool(2);
  const int64_t n_vocab = m.info().n_vocab;
  model::KvCache cache = m.new_cache(static_cast<int64_t>(prompt.size()) + n_decode);
  std::vector<float> all(prompt.size() * static_cast<size_t>(n_vocab));
  m.forward(pool, prompt, cache, model::LogitsMode::kAll, all.data());
  std::vector<float> step(static_cast<size_t>(n_vocab));
  int32_t next = static_cast<int32_t>(std::max_element(all.end() - n_vocab, all.end()) - (all.end() - n_vocab));
  for (int i = 0; i < n_decode; ++i) {
    m.forward(pool, std::span(&next, 1), cache, model::LogitsMode::kLast, step.data());
    all.insert(all.end(), step.begin(), step.end());
    next = static_cast<int32_t>(std::max_element(step.begin(), step.end()) - step.begin());
  }
  return all;
}

StoreConfig streaming(uint64_t slots, const gguf::GgufFile& file, const std::string& policy = "enu",
                      IoEngineKind io = IoEngineKind::kAuto) {
  StoreConfig config;
  config.stream_experts = true;
  config.expert_cache_bytes = slots * expert_slot_bytes(analyze_layout(file).expert_layers);
  config.policy = policy;
  config.io_engine = io;
  return config;
}

std::vector<int32_t> trained_prompt() {
  return testing::read_json(fixture_path("trained/reference.json"))["input_ids"].get<std::vector<int32_t>>();
}

struct StreamingCase {
  std::string policy;
  IoEngineKind io;
};

class StreamingExactness : public ::testing::TestWithParam<StreamingCase> {};

TEST_P(StreamingExactness, TwoExpertsPerLayerGiveBitIdenticalLogits) {
  gguf::GgufFile file(fixture_path(kTrainedModel));
  const auto prompt = trained_prompt();
  auto resident = model::load_model(file);
  const std::vector<float> expected = run_model(*resident, prompt, 12);

  const int64_t n_layer = resident->info().n_layer;
  auto streamed = model::load_model(file, streaming(2 * n_layer, file, GetParam().policy, GetParam().io));
  const auto* cache = dynamic_cast<const ExpertCache*>(streamed->experts());
  ASSERT_NE(cache, nullptr);
  ASSERT_EQ(cache->n_slots(), static_cast<size_t>(2 * n_layer));
  const std::vector<float> got = run_model(*streamed, prompt, 12);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
      << "streamed logits differ from resident ones";
  // The tiny cache really streamed: most accesses missed and were read.
  const LayerCacheStats total = cache->stats().total();
  EXPECT_GT(total.accesses, total.hits);
  EXPECT_GT(cache->stats().bytes_read, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    PoliciesAndEngines, StreamingExactness,
    ::testing::Values(StreamingCase{"enu", IoEngineKind::kAuto}, StreamingCase{"lru", IoEngineKind::kAuto},
                      StreamingCase{"lfu", IoEngineKind::kAuto}, StreamingCase{"enu", IoEngineKind::kThreads}),
    [](const auto& info) {
      return info.param.policy + (info.param.io == IoEngineKind::kThreads ? "_threads" : "_auto");
    });

// A budget with a slot for every routed expert reads them all when the cache starts (one
// batch at the queue's depth); the run then reads nothing more and stays exact.
TEST(ExpertCacheFill, ASlotPerExpertReadsEveryExpertAtStart) {
  gguf::GgufFile file(fixture_path(kTrainedModel));
  const auto prompt = trained_prompt();
  auto resident = model::load_model(file);
  const std::vector<float> expected = run_model(*resident, prompt, 4);

  const int64_t n_layer = resident->info().n_layer;
  const auto n_expert = static_cast<int32_t>(file.get_uint("qwen3moe.expert_count"));
  auto streamed = model::load_model(file, streaming(static_cast<uint64_t>(n_layer * n_expert), file));
  const auto* cache = dynamic_cast<const ExpertCache*>(streamed->experts());
  ASSERT_NE(cache, nullptr);
  for (int32_t layer = 0; layer < n_layer; ++layer) {
    for (int32_t expert = 0; expert < n_expert; ++expert) {
      ASSERT_TRUE(cache->is_ready(layer, expert)) << "layer " << layer << " expert " << expert;
    }
  }
  EXPECT_EQ(cache->stats().reads, static_cast<uint64_t>(3 * n_layer * n_expert));
  const uint64_t read_at_start = cache->stats().bytes_read;
  EXPECT_EQ(run_model(*streamed, prompt, 4), expected);
  EXPECT_EQ(cache->stats().bytes_read, read_at_start);

  // One slot fewer than the experts: nothing is read before the model asks.
  auto tight = model::load_model(file, streaming(static_cast<uint64_t>(n_layer * n_expert - 1), file));
  EXPECT_EQ(dynamic_cast<const ExpertCache*>(tight->experts())->stats().reads, 0u);
}

class ExpertReadFaults : public ::testing::TestWithParam<IoEngineKind> {};

TEST_P(ExpertReadFaults, ReadErrorEndsTheRequestWithFileOffsetAndErrno) {
  gguf::GgufFile file(fixture_path(kTrainedModel));
  const auto prompt = trained_prompt();
  auto resident = model::load_model(file);
  const std::vector<float> expected = run_model(*resident, prompt, 2);

  auto streamed = model::load_model(file, streaming(16, file, "enu", GetParam()));
  auto* cache = const_cast<ExpertCache*>(dynamic_cast<const ExpertCache*>(streamed->experts()));
  ASSERT_NE(cache, nullptr);
  int reads = 0;
  cache->set_fault_hook([&](uint64_t, uint64_t) { return ++reads == 5 ? EIO : 0; });
  try {
    run_model(*streamed, prompt, 2);
    FAIL() << "expected the injected read error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.path()), std::string::npos) << message;
    EXPECT_NE(message.find("at offset"), std::string::npos) << message;
    EXPECT_NE(message.find("errno 5"), std::string::npos) << message;
    EXPECT_NE(message.find(std::strerror(EIO)), std::string::npos) << message;
  }
  // The process stays usable: the next request, with the disk healthy again, is exact.
  cache->set_fault_hook(nullptr);
  EXPECT_EQ(run_model(*streamed, prompt, 2), expected);
}

TEST_P(ExpertReadFaults, ShortReadIsReportedAsTruncation) {
  gguf::GgufFile file(fixture_path(kTrainedModel));
  auto streamed = model::load_model(file, streaming(16, file, "enu", GetParam()));
  auto* cache = const_cast<ExpertCache*>(dynamic_cast<const ExpertCache*>(streamed->experts()));
  cache->set_fault_hook([](uint64_t, uint64_t) { return -1; });
  try {
    run_model(*streamed, trained_prompt(), 0);
    FAIL() << "expected the injected short read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, ExpertReadFaults,
                         ::testing::Values(IoEngineKind::kAuto, IoEngineKind::kThreads),
                         [](const auto& info) { return info.param == IoEngineKind::kThreads ? "threads" : "auto"; });

TEST(ExpertCacheFile, TruncatedAfterLoadingIsDetected) {
  const fs::path copy = fs::temp_directory_path() / ("sluice-truncated-" + std::to_string(::getpid()) + ".gguf");
  fs::copy_file(fixture_path(kTrainedModel), copy, fs::copy_options::overwrite_existing);
  {
    gguf::GgufFile file(copy.string());
    auto streamed = model::load_model(file, streaming(16, file));
    fs::resize_file(copy, fs::file_size(copy) / 2);  // experts of the later layers are gone
    try {
      run_model(*streamed, trained_prompt(), 0);
      FAIL() << "expected an error for the truncated file";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("truncated"), std::string::npos) << message;
      EXPECT_NE(message.find(copy.string()), std::string::npos) << message;
    }
  }
  fs::remove(copy);
}

}  // namespace
}  // namespace sluice::store
