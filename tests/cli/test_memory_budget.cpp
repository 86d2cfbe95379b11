// The memory budget is a promise: a run on a synthetic model whose experts are several
// times the budget stays within --mem (peak RSS as the kernel measures it), and a budget
// that cannot hold the dense part is refused with the size needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

class MemoryBudget : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("sluice-budget-" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    model_ = new std::string((*dir_ / "synthetic.gguf").string());
    // 2 layers x 128 experts of Qwen3-30B-A3B's shape at Q8_0: 1.3 GB of experts, 60 MB dense.
    const auto r = testing::run_sluice("synth --preset qwen3-30b-a3b --layers 2 --experts 128 --vocab 4096 "
                                       "--type Q8_0 -o " + *model_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete model_;
  }
  static fs::path* dir_;
  static std::string* model_;
};
fs::path* MemoryBudget::dir_ = nullptr;
std::string* MemoryBudget::model_ = nullptr;

TEST_F(MemoryBudget, PeakRssStaysWithinBudgetWhenExpertsAreFourTimesLarger) {
#if defined(SLUICE_SANITIZED)
  GTEST_SKIP() << "sanitizers inflate memory; the budget is tested in Release builds";
#endif
  const uint64_t budget = 300ull << 20;
  const uint64_t expert_bytes = fs::file_size(*model_) - (70ull << 20);
  ASSERT_GE(expert_bytes, 4 * budget);
  const std::string stats = (*dir_ / "stats.json").string();
  const auto run = testing::run_sluice_measured({"run", "-m", *model_, "-p", "the quick brown fox", "-n", "16",
                                                 "--temp", "0", "--mem", "300M", "-c", "512", "-b", "64",
                                                 "--stats-json", stats});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_LE(run.peak_rss_bytes, budget) << run.err;
  std::printf("[ budget ] peak RSS %.1f MiB within --mem 300M\n", static_cast<double>(run.peak_rss_bytes) / (1 << 20));
  std::ifstream in(stats);
  const auto report = nlohmann::json::parse(in);
  EXPECT_GT(report["bytes_read"].get<uint64_t>(), 0u);
  EXPECT_LT(report["hit_rate"].get<double>(), 1.0);
}

TEST_F(MemoryBudget, BudgetBelowTheDenseWeightsIsRefusedWithTheSizeNeeded) {
  const auto r = testing::run_sluice("run -m " + *model_ + " -p hi -n 1 --mem 20M");
  ASSERT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("too small"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("use --mem"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("dense weights alone exceed"), std::string::npos) << r.err;
}

TEST_F(MemoryBudget, StreamedLogitsEqualResidentLogits) {
  const std::string streamed = (*dir_ / "streamed.f32"), resident = (*dir_ / "resident.f32");
  const std::string ids = "--ids 11,300,2049,7,4000,512,9,77";
  auto a = testing::run_sluice("logits -m " + *model_ + " " + ids + " --mem 250M -o " + streamed);
  auto b = testing::run_sluice("logits -m " + *model_ + " " + ids + " --no-stream -o " + resident);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(testing::slurp(streamed), testing::slurp(resident));
}

}  // namespace
}  // namespace sluice
