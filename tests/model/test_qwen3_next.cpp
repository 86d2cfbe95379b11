// Qwen3-Next / Qwen3.5 hybrid models: the Gated DeltaNet kernels against independent
// double-precision formulas (the recurrence, and transformers' chunked form of it), the
// recurrent state in the cache, and prompt processing against token-by-token decoding. The
// models' logits against the transformers references are in test_reference_parity.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <utility>

#include "model/model.h"
#include "ops/conv1d.h"
#include "ops/gated_delta_rule.h"
#include "quant/ggml_type.h"
#include "support/fixtures.h"

namespace sluice::model {
namespace {

using testing::fixture_path;

std::vector<float> random_values(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// ---------------------------------------------------------------------------------------
// ops::causal_conv1d

// out[t][c] = sum_j w[c][j] * xpad[t + j][c], xpad = (kernel - 1) zeros then x: PyTorch's
// Conv1d(groups = channels, padding = kernel - 1), first n_tokens outputs.
std::vector<double> conv1d_reference(const std::vector<float>& w, const std::vector<float>& x,
                                     int64_t channels, int64_t kernel, int64_t n_tokens) {
  std::vector<double> out(static_cast<size_t>(n_tokens * channels));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (int64_t j = 0; j < kernel; ++j) {
        const int64_t src = t + j - (kernel - 1);
        if (src >= 0) sum += double(w[c * kernel + j]) * double(x[src * channels + c]);
      }
      out[t * channels + c] = sum;
    }
  }
  return out;
}

TEST(CausalConv1d, MatchesPaddedConvolutionInOneCallAndInPieces) {
  ops::ThreadPool pool(3);
  for (int64_t kernel : {1, 2, 4}) {
    for (int64_t n_tokens : {1, 3, 17}) {
      const int64_t channels = 13;
      const ops::Conv1dShape shape{channels, kernel};
      const auto w = random_values(static_cast<size_t>(channels * kernel), 1);
      const auto x = random_values(static_cast<size_t>(n_tokens * channels), 2);
      const auto expected = conv1d_reference(w, x, channels, kernel, n_tokens);

      std::vector<float> state(static_cast<size_t>((kernel - 1) * channels), 0.0f);
      std::vector<float> batch(x.size());
      ops::causal_conv1d(pool, shape, w.data(), x.data(), n_tokens, state.data(), batch.data());
      for (size_t i = 0; i < batch.size(); ++i) {
        ASSERT_NEAR(batch[i], expected[i], 1e-5) << "kernel " << kernel << ", index " << i;
      }

      // Pieces of 1 and 2 tokens through the rolling state give the same values, bit for bit.
      std::vector<float> piece_state(state.size(), 0.0f);
      std::vector<float> pieces(x.size());
      for (int64_t t = 0; t < n_tokens;) {
        const int64_t n = std::min<int64_t>(t % 2 + 1, n_tokens - t);
        ops::causal_conv1d(pool, shape, w.data(), x.data() + t * channels, n, piece_state.data(),
                           pieces.data() + t * channels);
        t += n;
      }
      EXPECT_EQ(pieces, batch) << "kernel " << kernel << ", " << n_tokens << " tokens";
      EXPECT_EQ(piece_state, state);
    }
  }
}

// ---------------------------------------------------------------------------------------
// ops::gated_delta_rule

struct DeltaInputs {
  ops::GatedDeltaShape shape;
  int64_t n_tokens = 0;
  int64_t stride = 0;  // q | k | v per row, as the model's conv output holds them
  std::vector<float> qkv, g, beta, initial_state;
};

DeltaInputs make_delta_inputs(ops::GatedDeltaShape shape, int64_t n_tokens, uint32_t seed) {
  DeltaInputs in;
  in.shape = shape;
  in.n_tokens = n_tokens;
  in.stride = 2 * shape.n_k_heads * shape.head_k_dim + shape.n_v_heads * shape.head_v_dim;
  in.qkv = random_values(static_cast<size_t>(n_tokens * in.stride), seed);
  in.g = random_values(static_cast<size_t>(n_tokens * shape.n_v_heads), seed + 1, -1.5f, -0.01f);
  in.beta = random_values(static_cast<size_t>(n_tokens * shape.n_v_heads), seed + 2, 0.0f, 1.0f);
  in.initial_state = random_values(static_cast<size_t>(ops::gated_delta_state_floats(shape)),
                                   seed + 3, -0.5f, 0.5f);
  return in;
}

int64_t key_head_of(const ops::GatedDeltaShape& s, int64_t h) {
  return s.sharing == ops::DeltaHeadSharing::kTiled ? h % s.n_k_heads
                                                    : h / (s.n_v_heads / s.n_k_heads);
}

// q (L2-normalised and scaled by 1/sqrt(dk)), k (L2-normalised), v, g, beta of one value head.
struct HeadSequence {
  std::vector<std::vector<double>> q, k, v;
  std::vector<double> g, beta;
};

HeadSequence head_sequence(const DeltaInputs& in, int64_t h) {
  const auto& s = in.shape;
  const int64_t kh = key_head_of(s, h);
  HeadSequence seq;
  const auto normalized = [&](const float* x, double scale) {
    double sum = 0.0;
    for (int64_t i = 0; i < s.head_k_dim; ++i) sum += double(x[i]) * x[i];
    std::vector<double> out(static_cast<size_t>(s.head_k_dim));
    for (int64_t i = 0; i < s.head_k_dim; ++i) out[i] = x[i] / std::sqrt(sum + 1e-6) * scale;
    return out;
  };
  for (int64_t t = 0; t < in.n_tokens; ++t) {
    const float* row = in.qkv.data() + t * in.stride;
    const int64_t key_dim = s.n_k_heads * s.head_k_dim;
    seq.q.push_back(normalized(row + kh * s.head_k_dim, 1.0 / std::sqrt(double(s.head_k_dim))));
    seq.k.push_back(normalized(row + key_dim + kh * s.head_k_dim, 1.0));
    const float* v = row + 2 * key_dim + h * s.head_v_dim;
    seq.v.emplace_back(v, v + s.head_v_dim);
    seq.g.push_back(in.g[t * s.n_v_heads + h]);
    seq.beta.push_back(in.beta[t * s.n_v_heads + h]);
  }
  return seq;
}

using Matrix = std::vector<std::vector<double>>;  // state S: [head_k_dim][head_v_dim]

Matrix head_state(const DeltaInputs& in, int64_t h) {
  const auto& s = in.shape;
  Matrix S(static_cast<size_t>(s.head_k_dim), std::vector<double>(static_cast<size_t>(s.head_v_dim)));
  for (int64_t i = 0; i < s.head_k_dim; ++i) {
    for (int64_t j = 0; j < s.head_v_dim; ++j) {
      S[i][j] = in.initial_state[(h * s.head_k_dim + i) * s.head_v_dim + j];
    }
  }
  return S;
}

// Gated DeltaNet written as transformers' torch_chunk_gated_delta_rule computes it (UT
// transform within chunks of `chunk` tokens, then a scan over chunks), in double precision: a
// different formulation from the recurrence the kernel runs. Returns [n_tokens][head_v_dim]
// and leaves the final state in S.
Matrix chunked_reference(const HeadSequence& seq, Matrix& S, int64_t chunk) {
  const auto n = static_cast<int64_t>(seq.g.size());
  const auto dk = static_cast<int64_t>(S.size());
  const auto dv = static_cast<int64_t>(S[0].size());
  const auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double sum = 0.0;
    for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
    return sum;
  };
  Matrix out;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t c = std::min(chunk, n - start);
    std::vector<double> G(static_cast<size_t>(c));  // cumulative log decay within the chunk
    for (int64_t i = 0; i < c; ++i) G[i] = (i ? G[i - 1] : 0.0) + seq.g[start + i];
    // T = (I + strictly_lower(beta_i k_i . k_j exp(G_i - G_j)))^-1 by forward substitution.
    Matrix A(static_cast<size_t>(c), std::vector<double>(static_cast<size_t>(c), 0.0));
    for (int64_t i = 0; i < c; ++i) {
      for (int64_t j = 0; j < i; ++j) {
        A[i][j] = -seq.beta[start + i] * dot(seq.k[start + i], seq.k[start + j]) *
                  std::exp(G[i] - G[j]);
      }
    }
    for (int64_t i = 1; i < c; ++i) {
      std::vector<double> row(A[i].begin(), A[i].begin() + i);
      for (int64_t j = 0; j < i; ++j) {
        double sum = row[j];
        for (int64_t m = 0; m < i; ++m) sum += row[m] * A[m][j];
        A[i][j] = sum;
      }
    }
    for (int64_t i = 0; i < c; ++i) A[i][i] = 1.0;
    // U = T (beta v), W = T (beta k exp(G)).
    Matrix U(static_cast<size_t>(c), std::vector<double>(static_cast<size_t>(dv), 0.0));
    Matrix W(static_cast<size_t>(c), std::vector<double>(static_cast<size_t>(dk), 0.0));
    for (int64_t i = 0; i < c; ++i) {
      for (int64_t m = 0; m <= i; ++m) {
        const double b = seq.beta[start + m];
        for (int64_t j = 0; j < dv; ++j) U[i][j] += A[i][m] * b * seq.v[start + m][j];
        for (int64_t j = 0; j < dk; ++j) W[i][j] += A[i][m] * b * seq.k[start + m][j] * std::exp(G[m]);
      }
    }
    // v_new = U - W S; out_i = exp(G_i) q_i S + sum_{j <= i} (q_i . k_j) exp(G_i - G_j) v_new_j.
    Matrix v_new = U;
    for (int64_t i = 0; i < c; ++i) {
      for (int64_t j = 0; j < dv; ++j) {
        for (int64_t m = 0; m < dk; ++m) v_new[i][j] -= W[i][m] * S[m][j];
      }
    }
    for (int64_t i = 0; i < c; ++i) {
      std::vector<double> o(static_cast<size_t>(dv), 0.0);
      for (int64_t j = 0; j < dv; ++j) {
        for (int64_t m = 0; m < dk; ++m) o[j] += seq.q[start + i][m] * std::exp(G[i]) * S[m][j];
      }
      for (int64_t p = 0; p <= i; ++p) {
        const double a = dot(seq.q[start + i], seq.k[start + p]) * std::exp(G[i] - G[p]);
        for (int64_t j = 0; j < dv; ++j) o[j] += a * v_new[p][j];
      }
      out.push_back(o);
    }
    // S <- exp(G_last) S + sum_j exp(G_last - G_j) k_j v_new_j^T.
    const double last = G[c - 1];
    for (int64_t m = 0; m < dk; ++m) {
      for (int64_t j = 0; j < dv; ++j) {
        double sum = S[m][j] * std::exp(last);
        for (int64_t p = 0; p < c; ++p) sum += std::exp(last - G[p]) * seq.k[start + p][m] * v_new[p][j];
        S[m][j] = sum;
      }
    }
  }
  return out;
}

// Pointers into `in` for tokens first .. first + n.
ops::GatedDeltaInputs delta_inputs(const DeltaInputs& in, int64_t first, int64_t n) {
  const int64_t key_dim = in.shape.n_k_heads * in.shape.head_k_dim;
  const float* row = in.qkv.data() + first * in.stride;
  ops::GatedDeltaInputs d;
  d.q = row;
  d.k = row + key_dim;
  d.v = row + 2 * key_dim;
  d.row_stride = in.stride;
  d.g = in.g.data() + first * in.shape.n_v_heads;
  d.beta = in.beta.data() + first * in.shape.n_v_heads;
  d.n_tokens = n;
  return d;
}

using DeltaForm = void (*)(ops::ThreadPool&, const ops::GatedDeltaShape&,
                           const ops::GatedDeltaInputs&, float*, float*);

struct DeltaCase {
  ops::GatedDeltaShape shape;
  int64_t n_tokens;
};

class GatedDeltaRule : public ::testing::TestWithParam<DeltaCase> {};

// Both forms against the double-precision chunked formulation (chunks of 4 there, 64 in the
// chunked kernel, so chunk boundaries differ too).
TEST_P(GatedDeltaRule, BothFormsMatchChunkedFormInDouble) {
  const DeltaCase& c = GetParam();
  const DeltaInputs in = make_delta_inputs(c.shape, c.n_tokens, 7);
  const int64_t out_width = c.shape.n_v_heads * c.shape.head_v_dim;
  ops::ThreadPool pool(3);
  const std::pair<const char*, DeltaForm> forms[] = {
      {"recurrent", ops::gated_delta_rule_recurrent}, {"chunked", ops::gated_delta_rule_chunked}};
  for (const auto& [name, form] : forms) {
    std::vector<float> state = in.initial_state;
    std::vector<float> out(static_cast<size_t>(c.n_tokens * out_width));
    form(pool, c.shape, delta_inputs(in, 0, c.n_tokens), state.data(), out.data());

    double max_diff = 0.0;
    for (int64_t h = 0; h < c.shape.n_v_heads; ++h) {
      Matrix S = head_state(in, h);
      const Matrix expected = chunked_reference(head_sequence(in, h), S, /*chunk=*/4);
      for (int64_t t = 0; t < c.n_tokens; ++t) {
        for (int64_t j = 0; j < c.shape.head_v_dim; ++j) {
          const double diff = std::fabs(out[t * out_width + h * c.shape.head_v_dim + j] - expected[t][j]);
          max_diff = std::max(max_diff, diff);
          ASSERT_LT(diff, 1e-5) << name << ": head " << h << ", token " << t << ", dim " << j;
        }
      }
      for (int64_t i = 0; i < c.shape.head_k_dim; ++i) {
        for (int64_t j = 0; j < c.shape.head_v_dim; ++j) {
          ASSERT_NEAR(state[(h * c.shape.head_k_dim + i) * c.shape.head_v_dim + j], S[i][j], 1e-5)
              << name << ": final state of head " << h;
        }
      }
    }
    std::printf("[ delta ] %s, %lld tokens: max |out - chunked double| %.3g\n", name,
                static_cast<long long>(c.n_tokens), max_diff);
  }
}

TEST_P(GatedDeltaRule, TokenByTokenEqualsOneRecurrentCall) {
  const DeltaCase& c = GetParam();
  const DeltaInputs in = make_delta_inputs(c.shape, c.n_tokens, 11);
  const int64_t out_width = c.shape.n_v_heads * c.shape.head_v_dim;
  ops::ThreadPool pool(2);
  std::vector<float> batch_state = in.initial_state, step_state = in.initial_state;
  std::vector<float> batch(static_cast<size_t>(c.n_tokens * out_width)), step(batch.size());
  ops::gated_delta_rule_recurrent(pool, c.shape, delta_inputs(in, 0, c.n_tokens),
                                  batch_state.data(), batch.data());
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    ops::gated_delta_rule(pool, c.shape, delta_inputs(in, t, 1), step_state.data(),
                          step.data() + t * out_width);
  }
  EXPECT_EQ(step, batch);
  EXPECT_EQ(step_state, batch_state);
}

ops::GatedDeltaShape delta_shape(int64_t n_k, int64_t n_v, int64_t dk, int64_t dv,
                                 ops::DeltaHeadSharing sharing) {
  ops::GatedDeltaShape s;
  s.n_k_heads = n_k;
  s.n_v_heads = n_v;
  s.head_k_dim = dk;
  s.head_v_dim = dv;
  s.sharing = sharing;
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardShapes, GatedDeltaRule,
    ::testing::Values(DeltaCase{delta_shape(1, 1, 5, 7, ops::DeltaHeadSharing::kGrouped), 1},
                      DeltaCase{delta_shape(2, 6, 5, 7, ops::DeltaHeadSharing::kGrouped), 9},
                      DeltaCase{delta_shape(2, 6, 5, 7, ops::DeltaHeadSharing::kTiled), 9},
                      DeltaCase{delta_shape(3, 3, 16, 16, ops::DeltaHeadSharing::kTiled), 23},
                      DeltaCase{delta_shape(1, 2, 16, 8, ops::DeltaHeadSharing::kGrouped), 130}));

// Prompt processing (the chunked form, one call) against token-by-token decoding (the
// recurrence), at Qwen3.5's head dimensions and prompt lengths around the chunk size.
class ChunkedDeltaRule : public ::testing::TestWithParam<int64_t> {};

TEST_P(ChunkedDeltaRule, PromptEqualsTokenByToken) {
  const int64_t n_tokens = GetParam();
  const ops::GatedDeltaShape shape = delta_shape(2, 4, 128, 128, ops::DeltaHeadSharing::kTiled);
  const DeltaInputs in = make_delta_inputs(shape, n_tokens, 23);
  const int64_t out_width = shape.n_v_heads * shape.head_v_dim;
  ops::ThreadPool pool(2);
  std::vector<float> prompt_state = in.initial_state, step_state = in.initial_state;
  std::vector<float> prompt(static_cast<size_t>(n_tokens * out_width)), step(prompt.size());
  ops::gated_delta_rule(pool, shape, delta_inputs(in, 0, n_tokens), prompt_state.data(),
                        prompt.data());
  for (int64_t t = 0; t < n_tokens; ++t) {
    ops::gated_delta_rule(pool, shape, delta_inputs(in, t, 1), step_state.data(),
                          step.data() + t * out_width);
  }
  float max_out = 0.0f, max_state = 0.0f;
  for (size_t i = 0; i < prompt.size(); ++i) max_out = std::max(max_out, std::fabs(prompt[i] - step[i]));
  for (size_t i = 0; i < prompt_state.size(); ++i) {
    max_state = std::max(max_state, std::fabs(prompt_state[i] - step_state[i]));
  }
  EXPECT_LT(max_out, 1e-4f);
  EXPECT_LT(max_state, 1e-4f);
  std::printf("[ delta ] %lld tokens, chunked vs recurrent: max |out diff| %.3g, |state diff| %.3g\n",
              static_cast<long long>(n_tokens), max_out, max_state);
}

INSTANTIATE_TEST_SUITE_P(PromptLengths, ChunkedDeltaRule, ::testing::Values(1, 7, 64, 300));

// ---------------------------------------------------------------------------------------
// Recurrent state in the cache (the logits, greedy continuations and router choices against
// the transformers references are in test_reference_parity.cpp).

struct HybridCase {
  std::string dir;   // fixture directory, relative to fixtures/
  std::string file;  // GGUF file in it
};

std::string case_name(const ::testing::TestParamInfo<HybridCase>& info) {
  std::string name = info.param.dir + "_" + info.param.file;
  std::replace_if(name.begin(), name.end(),
                  [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

class HybridParity : public ::testing::TestWithParam<HybridCase> {
 protected:
  void SetUp() override {
    file_ = std::make_unique<gguf::GgufFile>(fixture_path(GetParam().dir + "/" + GetParam().file));
    model_ = load_model(*file_);
    reference_ = testing::read_json(fixture_path(GetParam().dir + "/reference.json"));
    prompt_ = reference_["input_ids"].get<std::vector<int32_t>>();
  }

  std::unique_ptr<gguf::GgufFile> file_;
  std::unique_ptr<Model> model_;
  nlohmann::json reference_;
  std::vector<int32_t> prompt_;
  ops::ThreadPool pool_{2};
};

// A new session after clear() starts from zero recurrent state; a copied cache carries the
// session on independently.
TEST_P(HybridParity, ClearResetsAndCopySnapshotsTheRecurrentState) {
  const int64_t n_vocab = model_->info().n_vocab;
  const auto n = static_cast<int64_t>(prompt_.size());
  const auto half = std::span(prompt_).first(static_cast<size_t>(n / 2));
  const auto rest = std::span(prompt_).subspan(static_cast<size_t>(n / 2));
  std::vector<float> first(static_cast<size_t>(n_vocab)), again(first.size()), other(first.size());

  KvCache cache = model_->new_cache(n);
  model_->forward(pool_, prompt_, cache, LogitsMode::kLast, first.data());
  cache.clear();
  model_->forward(pool_, half, cache, LogitsMode::kNone, nullptr);
  KvCache snapshot = cache;
  model_->forward(pool_, rest, cache, LogitsMode::kLast, again.data());
  // Two prompt pieces split the chunked delta rule differently from one: equal within rounding.
  for (int64_t v = 0; v < n_vocab; ++v) ASSERT_NEAR(again[v], first[v], 1e-4f) << "token " << v;
  model_->forward(pool_, rest, snapshot, LogitsMode::kLast, other.data());
  EXPECT_EQ(other, again);
}

TEST_P(HybridParity, CacheBytesCountRecurrentState) {
  const int64_t n_ctx = 100;
  const KvCache cache = model_->new_cache(n_ctx);
  // From the metadata: one layer in full_attention_interval keeps K and V, the others keep
  // (d_conv - 1) * conv_dim conv inputs and n_v_heads * d_state * head_v_dim of delta state.
  const std::string arch = model_->info().architecture;
  const auto get = [&](const std::string& key) {
    return static_cast<uint64_t>(file_->get_uint(arch + "." + key));
  };
  const uint64_t n_layer = get("block_count");
  const uint64_t interval = get("full_attention_interval");
  const uint64_t n_attention = n_layer / interval;
  const uint64_t kv = 2 * get("attention.head_count_kv") * get("attention.key_length") * n_ctx;
  const uint64_t d_inner = get("ssm.inner_size");
  const uint64_t d_state = get("ssm.state_size");
  const uint64_t conv_dim = 2 * get("ssm.group_count") * d_state + d_inner;
  const uint64_t recurrent = (get("ssm.conv_kernel") - 1) * conv_dim + d_state * d_inner;
  EXPECT_EQ(cache.bytes(), (n_attention * kv + (n_layer - n_attention) * recurrent) * sizeof(float));
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, HybridParity,
    ::testing::Values(HybridCase{"models/qwen3_5_moe_text", "model-f32.gguf"},
                      HybridCase{"models/qwen3_5_moe_text", "model-bf16.gguf"},
                      HybridCase{"models/qwen3_next", "model-f32.gguf"},
                      HybridCase{"models/qwen3_next", "model-bf16.gguf"},
                      HybridCase{"quant/qwen3_5_moe_text", "model-bf16.gguf"}),
    case_name);

// ---------------------------------------------------------------------------------------
// Prompt processing (one batch, and uneven pieces) against token-by-token decoding.

struct BatchCase {
  std::string dir;
  int64_t n_tokens;
};

class HybridBatching : public ::testing::TestWithParam<BatchCase> {};

TEST_P(HybridBatching, BatchEqualsTokenByToken) {
  const BatchCase& c = GetParam();
  gguf::GgufFile file(fixture_path(c.dir + "/model-f32.gguf"));
  const std::unique_ptr<Model> model = load_model(file);
  const int64_t n_vocab = model->info().n_vocab;
  std::vector<int32_t> tokens(static_cast<size_t>(c.n_tokens));
  for (int64_t t = 0; t < c.n_tokens; ++t) tokens[t] = static_cast<int32_t>((t * 7919 + 13) % n_vocab);
  ops::ThreadPool pool(3);

  KvCache batch_cache = model->new_cache(c.n_tokens);
  std::vector<float> batch(static_cast<size_t>(c.n_tokens * n_vocab));
  model->forward(pool, tokens, batch_cache, LogitsMode::kAll, batch.data());

  KvCache step_cache = model->new_cache(c.n_tokens);
  std::vector<float> step(static_cast<size_t>(n_vocab));
  float max_diff = 0.0f;
  for (int64_t t = 0; t < c.n_tokens; ++t) {
    model->forward(pool, std::span(tokens.data() + t, 1), step_cache, LogitsMode::kLast, step.data());
    for (int64_t v = 0; v < n_vocab; ++v) {
      const float diff = std::fabs(step[v] - batch[t * n_vocab + v]);
      max_diff = std::max(max_diff, diff);
      ASSERT_LT(diff, 1e-4f) << "position " << t << ", token " << v;
    }
  }

  // Uneven pieces (1, 2, 3, ... tokens) through the same cache.
  KvCache piece_cache = model->new_cache(c.n_tokens);
  std::vector<float> pieces(batch.size());
  for (int64_t t = 0, n = 1; t < c.n_tokens; t += n, ++n) {
    n = std::min(n, c.n_tokens - t);
    model->forward(pool, std::span(tokens.data() + t, static_cast<size_t>(n)), piece_cache,
                   LogitsMode::kAll, pieces.data() + t * n_vocab);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_NEAR(pieces[i], batch[i], 1e-4f) << "position " << i / n_vocab;
  }
  std::printf("[ batch ] %s, %lld tokens: max |batch - token by token| %.3g\n", c.dir.c_str(),
              static_cast<long long>(c.n_tokens), max_diff);
}

std::string batch_case_name(const ::testing::TestParamInfo<BatchCase>& info) {
  std::string name = info.param.dir + "_" + std::to_string(info.param.n_tokens);
  std::replace_if(name.begin(), name.end(),
                  [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    PromptLengths, HybridBatching,
    ::testing::Values(BatchCase{"models/qwen3_5_moe_text", 1}, BatchCase{"models/qwen3_5_moe_text", 7},
                      BatchCase{"models/qwen3_5_moe_text", 64}, BatchCase{"models/qwen3_5_moe_text", 300},
                      BatchCase{"models/qwen3_next", 1}, BatchCase{"models/qwen3_next", 7},
                      BatchCase{"models/qwen3_next", 64}, BatchCase{"models/qwen3_next", 300}),
    batch_case_name);

TEST(HybridRegistry, ArchitecturesAreRegistered) {
  for (const char* dir : {"models/qwen3_5_moe_text", "models/qwen3_next"}) {
    gguf::GgufFile file(fixture_path(std::string(dir) + "/model-bf16.gguf"));
    const std::unique_ptr<Model> model = load_model(file);
    EXPECT_EQ(model->info().architecture, file.get_string("general.architecture"));
    EXPECT_EQ(model->info().n_layer, 4);
  }
}

}  // namespace
}  // namespace sluice::model
