#include "model/transformer_blocks.h"

#include <cmath>
#include <fmt/format.h>
#include <vector>

#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/norm.h"
#include "ops/routing.h"
#include "ops/top_k_softmax.h"

namespace sluice::model {
namespace {

std::string layer_tensor(int64_t layer, std::string_view name) {
  return fmt::format("blk.{}.{}.weight", layer, name);
}

}  // namespace

std::vector<float> embed_tokens(const TransformerHParams& hp, const quant::MatrixView& token_embd,
                                std::span<const int32_t> tokens, const KvCache& cache) {
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (cache.n_past() + n_tokens > cache.n_ctx()) {
    throw ModelError(fmt::format("context full: {} tokens in the cache + {} new > context size {}",
                                 cache.n_past(), n_tokens, cache.n_ctx()));
  }
  std::vector<float> x(static_cast<size_t>(n_tokens * hp.n_embd));
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (tokens[t] < 0 || tokens[t] >= hp.n_vocab) {
      throw ModelError(fmt::format("token id {} is outside the vocabulary (0 to {})", tokens[t],
                                   hp.n_vocab - 1));
    }
    ops::decode_matrix_row(token_embd, tokens[t], x.data() + t * hp.n_embd);
  }
  return x;
}

void output_logits(ops::ThreadPool& pool, const TransformerHParams& hp,
                   std::span<const float> output_norm, const quant::MatrixView& output,
                   const float* x, int64_t n_tokens, LogitsMode mode, float* scratch,
                   float* logits) {
  if (mode == LogitsMode::kNone) return;
  const int64_t first = mode == LogitsMode::kAll ? 0 : n_tokens - 1;
  const int64_t n_out = n_tokens - first;
  ops::rms_norm_rows(x + first * hp.n_embd, output_norm.data(), n_out, hp.n_embd, hp.rms_eps,
                     scratch);
  ops::matmul(pool, output, scratch, n_out, logits);
}

void add_residual(std::vector<float>& x, const std::vector<float>& branch) {
  for (size_t i = 0; i < x.size(); ++i) x[i] += branch[i];
}

AttentionWeights load_attention(store::TensorStore& store, const TransformerHParams& hp,
                                int64_t layer, bool qk_norm) {
  AttentionWeights w;
  const int64_t q_dims[] = {hp.n_embd, hp.n_head * hp.head_dim_k};
  const int64_t k_dims[] = {hp.n_embd, hp.n_head_kv * hp.head_dim_k};
  const int64_t v_dims[] = {hp.n_embd, hp.n_head_kv * hp.head_dim_v};
  const int64_t o_dims[] = {hp.n_head * hp.head_dim_v, hp.n_embd};
  w.q = store.load_matrix(layer_tensor(layer, "attn_q"), q_dims);
  w.k = store.load_matrix(layer_tensor(layer, "attn_k"), k_dims);
  w.v = store.load_matrix(layer_tensor(layer, "attn_v"), v_dims);
  w.output = store.load_matrix(layer_tensor(layer, "attn_output"), o_dims);
  if (qk_norm) {
    w.q_norm = store.load_vector(layer_tensor(layer, "attn_q_norm"), hp.head_dim_k);
    w.k_norm = store.load_vector(layer_tensor(layer, "attn_k_norm"), hp.head_dim_k);
  }
  return w;
}

DenseFfnWeights load_dense_ffn(store::TensorStore& store, const TransformerHParams& hp,
                               int64_t layer) {
  const int64_t gate_up_dims[] = {hp.n_embd, hp.n_ff};
  const int64_t down_dims[] = {hp.n_ff, hp.n_embd};
  return {store.load_matrix(layer_tensor(layer, "ffn_gate"), gate_up_dims),
          store.load_matrix(layer_tensor(layer, "ffn_up"), gate_up_dims),
          store.load_matrix(layer_tensor(layer, "ffn_down"), down_dims)};
}

void attention_block(ops::ThreadPool& pool, const TransformerHParams& hp,
                     const AttentionWeights& w, const float* x, int64_t n_tokens,
                     KvCache& cache, int64_t layer, float* out) {
  const int64_t first_pos = cache.n_past();
  const int64_t q_width = hp.n_head * hp.head_dim_k;
  const int64_t k_width = cache.k_width();
  const int64_t v_width = cache.v_width();
  std::vector<float> q(static_cast<size_t>(n_tokens * q_width));
  float* k_new = cache.keys(layer) + first_pos * k_width;
  float* v_new = cache.values(layer) + first_pos * v_width;
  const ops::MatmulTask qkv[] = {{&w.q, x, n_tokens, q.data()}, {&w.k, x, n_tokens, k_new},
                                 {&w.v, x, n_tokens, v_new}};
  ops::matmul_many(pool, qkv);

  for (int64_t t = 0; t < n_tokens; ++t) {
    float* qt = q.data() + t * q_width;
    float* kt = k_new + t * k_width;
    if (!w.q_norm.empty()) {
      ops::rms_norm_rows(qt, w.q_norm.data(), hp.n_head, hp.head_dim_k, hp.rms_eps, qt);
      ops::rms_norm_rows(kt, w.k_norm.data(), hp.n_head_kv, hp.head_dim_k, hp.rms_eps, kt);
    }
    ops::apply_rope(hp.rope, qt, hp.n_head, hp.head_dim_k, first_pos + t);
    ops::apply_rope(hp.rope, kt, hp.n_head_kv, hp.head_dim_k, first_pos + t);
  }

  ops::AttentionShape shape;
  shape.n_head = hp.n_head;
  shape.n_head_kv = hp.n_head_kv;
  shape.head_dim_k = hp.head_dim_k;
  shape.head_dim_v = hp.head_dim_v;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(hp.head_dim_k));
  std::vector<float> attended(static_cast<size_t>(n_tokens * hp.n_head * hp.head_dim_v));
  ops::causal_attention(pool, shape, q.data(), n_tokens, first_pos, cache.keys(layer),
                        cache.values(layer), attended.data());
  ops::matmul(pool, w.output, attended.data(), n_tokens, out);
}

void dense_ffn_block(ops::ThreadPool& pool, const DenseFfnWeights& w, const float* x,
                     int64_t n_tokens, float* out) {
  const int64_t n_ff = w.gate.n_rows;
  std::vector<float> gate(static_cast<size_t>(n_tokens * n_ff));
  std::vector<float> up(gate.size());
  const ops::MatmulTask gate_up[] = {{&w.gate, x, n_tokens, gate.data()},
                                     {&w.up, x, n_tokens, up.data()}};
  ops::matmul_many(pool, gate_up);
  ops::swiglu(gate.data(), up.data(), n_tokens * n_ff);
  ops::matmul(pool, w.down, gate.data(), n_tokens, out);
}

namespace {

// rows[t][i] += bias[i] for each of n_rows rows of `width` values.
void add_row_bias(const float* bias, int64_t n_rows, int64_t width, float* rows) {
  for (int64_t t = 0; t < n_rows; ++t) {
    for (int64_t i = 0; i < width; ++i) rows[t * width + i] += bias[i];
  }
}

// Experts the router picks for each of `n_tokens` rows of x.
struct Routing {
  std::vector<int32_t> chosen;   // [n_tokens, k]
  std::vector<float> weights;    // [n_tokens, k]
  std::vector<int32_t> unique;   // every chosen expert once, ascending (file order)
};

Routing route(ops::ThreadPool& pool, const TransformerHParams& hp, const quant::MatrixView& router,
              const float* x, int64_t n_tokens, int32_t layer, const MoeOptions& options) {
  const int64_t k = hp.n_expert_used;
  std::vector<float> logits(static_cast<size_t>(n_tokens * hp.n_expert));
  ops::matmul(pool, router, x, n_tokens, logits.data());
  if (!options.router_bias.empty()) add_row_bias(options.router_bias.data(), n_tokens, hp.n_expert, logits.data());
  ops::RoutingParams params;
  params.n_expert = static_cast<int32_t>(hp.n_expert);
  params.n_expert_used = static_cast<int32_t>(k);
  params.normalize_top_k = hp.expert_weights_norm;
  Routing r;
  r.chosen.resize(static_cast<size_t>(n_tokens * k));
  r.weights.resize(r.chosen.size());
  std::vector<char> used(static_cast<size_t>(hp.n_expert), 0);
  for (int64_t t = 0; t < n_tokens; ++t) {
    if (options.select) {
      options.select(layer, logits.data() + t * hp.n_expert, r.chosen.data() + t * k,
                     r.weights.data() + t * k);
    } else if (options.top_k_then_softmax) {
      ops::top_k_softmax(params.n_expert, params.n_expert_used, logits.data() + t * hp.n_expert,
                         r.chosen.data() + t * k, r.weights.data() + t * k);
    } else {
      ops::softmax_top_k(params, logits.data() + t * hp.n_expert, r.chosen.data() + t * k,
                         r.weights.data() + t * k);
    }
    for (int64_t j = 0; j < k; ++j) used[r.chosen[t * k + j]] = 1;
  }
  for (int32_t e = 0; e < params.n_expert; ++e) {
    if (used[e]) r.unique.push_back(e);
  }
  return r;
}

// Predictions are only worth their router product while decoding a few tokens; a prompt
// batch already asks for most experts of each layer.
constexpr int64_t kMaxTokensToPredict = 4;

// Experts grouped into one pass of the thread pool hold at most this many token rows in all:
// the experts of a decoded token (one row each), not those of a prompt, which are big enough
// to fill the pool alone and whose buffers would add up.
constexpr int64_t kMaxGroupRows = 32;

// One expert's share of a MoE layer: the token rows that chose it and their buffers.
struct ExpertRun {
  int32_t expert = 0;
  std::vector<int64_t> choices;      // t * k + j of each gathered row
  std::vector<float> choice_weights;
  std::vector<float> gathered, gate, up, down;  // [rows, n_embd | n_ff | n_ff | n_embd]
  // The rows it runs on: `gathered`, or the layer's input itself when every token chose the
  // expert (always so when decoding one token). Then the experts of a token read the same
  // activations and matmul_many quantizes them once instead of once per expert.
  const float* input = nullptr;
  store::ExpertWeights weights;

  int64_t rows() const { return static_cast<int64_t>(choices.size()); }
};

ExpertRun gather_expert(const Routing& routing, int64_t k, int32_t e, const float* x,
                        int64_t n_tokens, int64_t n_embd) {
  ExpertRun run;
  run.expert = e;
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      if (routing.chosen[t * k + j] == e) {
        run.choices.push_back(t * k + j);
        run.choice_weights.push_back(routing.weights[t * k + j]);
      }
    }
  }
  // A token chooses an expert at most once, so n_tokens choices mean every token, in order.
  if (run.rows() == n_tokens) {
    run.input = x;
    return run;
  }
  for (const int64_t choice : run.choices) {
    const int64_t t = choice / k;
    run.gathered.insert(run.gathered.end(), x + t * n_embd, x + (t + 1) * n_embd);
  }
  run.input = run.gathered.data();
  return run;
}

// Runs the experts of `group` (acquired) over their rows: gate and up projections of all of
// them in one matmul_many, the activation, then all down projections in another.
void run_expert_group(ops::ThreadPool& pool, const TransformerHParams& hp,
                      const MoeOptions& options, std::vector<ExpertRun>& group) {
  const int64_t n_embd = hp.n_embd;
  std::vector<ops::MatmulTask> tasks;
  for (ExpertRun& run : group) {
    const int64_t n_ff = run.weights.gate.n_rows;
    run.gate.resize(static_cast<size_t>(run.rows() * n_ff));
    run.up.resize(run.gate.size());
    run.down.resize(static_cast<size_t>(run.rows() * n_embd));
    tasks.push_back({&run.weights.gate, run.input, run.rows(), run.gate.data()});
    tasks.push_back({&run.weights.up, run.input, run.rows(), run.up.data()});
  }
  ops::matmul_many(pool, tasks);
  tasks.clear();
  for (ExpertRun& run : group) {
    const int64_t m = run.rows();
    const int64_t n_ff = run.weights.gate.n_rows;
    const int64_t e = run.expert;
    if (!options.gate_bias.empty()) {
      SLUICE_ASSERT(options.gate_bias.size() == static_cast<size_t>(hp.n_expert * n_ff) &&
                    options.up_bias.size() == options.gate_bias.size());
      add_row_bias(options.gate_bias.data() + e * n_ff, m, n_ff, run.gate.data());
      add_row_bias(options.up_bias.data() + e * n_ff, m, n_ff, run.up.data());
    }
    if (options.clamped_swiglu) {
      ops::clamped_swiglu(*options.clamped_swiglu, run.gate.data(), run.up.data(), m * n_ff);
    } else {
      ops::swiglu(run.gate.data(), run.up.data(), m * n_ff);
    }
    tasks.push_back({&run.weights.down, run.gate.data(), m, run.down.data()});
  }
  ops::matmul_many(pool, tasks);
  for (ExpertRun& run : group) {
    if (options.down_bias.empty()) continue;
    SLUICE_ASSERT(options.down_bias.size() == static_cast<size_t>(hp.n_expert * n_embd));
    add_row_bias(options.down_bias.data() + run.expert * n_embd, run.rows(), n_embd, run.down.data());
  }
}

}  // namespace

void moe_block(ops::ThreadPool& pool, const TransformerHParams& hp,
               const quant::MatrixView& router, store::ExpertProvider& experts, int32_t layer,
               const float* x, int64_t n_tokens, int64_t first_pos,
               const RoutingObserver& observer, float* out,
               const quant::MatrixView* next_router, int32_t next_layer,
               const MoeOptions& options, const MoeOptions* next_options) {
  const int64_t n_embd = hp.n_embd;
  const int64_t k = hp.n_expert_used;
  const Routing routing = route(pool, hp, router, x, n_tokens, layer, options);
  if (observer) {
    for (int64_t t = 0; t < n_tokens; ++t) observer(layer, first_pos + t, std::span(routing.chosen.data() + t * k, k));
  }
  experts.prefetch(layer, routing.unique);
  if (next_router && n_tokens <= kMaxTokensToPredict && experts.wants_predictions()) {
    experts.predict(next_layer, route(pool, hp, *next_router, x, n_tokens, next_layer,
                                     next_options ? *next_options : MoeOptions{}).unique);
  }

  // Experts already in memory first; the rest are being read meanwhile.
  std::vector<int32_t> order;
  for (int32_t e : routing.unique) {
    if (experts.is_ready(layer, e)) order.push_back(e);
  }
  for (int32_t e : routing.unique) {
    if (!experts.is_ready(layer, e)) order.push_back(e);
  }

  // Each expert runs once over every token that chose it. Each (token, choice) keeps its
  // weighted output in `contribution`; they are summed into `out` in expert-id order
  // afterwards, so the result does not depend on the order the experts ran in (which
  // depends on what was cached) nor on the batch.
  std::vector<float> contribution(static_cast<size_t>(n_tokens * k * n_embd));
  std::vector<ExpertRun> group;
  std::vector<int64_t> rows_of(static_cast<size_t>(hp.n_expert), 0);  // token rows per expert
  for (const int32_t e : routing.chosen) ++rows_of[e];
  for (size_t next = 0; next < order.size();) {
    // A group: the next expert, then as many of the following as are in memory already and
    // fit kMaxGroupRows, so that while decoding the experts of a layer share two passes of the
    // thread pool (gate and up together, then down) instead of taking three each.
    group.clear();
    int64_t rows = 0;
    while (next < order.size()) {
      const int32_t e = order[next];
      if (!group.empty() && (!experts.is_ready(layer, e) || rows + rows_of[e] > kMaxGroupRows)) break;
      rows += rows_of[e];
      ExpertRun run = gather_expert(routing, k, e, x, n_tokens, n_embd);
      run.weights = experts.acquire(layer, e);
      group.push_back(std::move(run));
      ++next;
    }
    run_expert_group(pool, hp, options, group);
    for (const ExpertRun& run : group) {
      experts.release(layer, run.expert);
      for (size_t i = 0; i < run.choices.size(); ++i) {
        float* row = contribution.data() + run.choices[i] * n_embd;
        const float* down = run.down.data() + static_cast<int64_t>(i) * n_embd;
        for (int64_t d = 0; d < n_embd; ++d) row[d] = run.choice_weights[i] * down[d];
      }
    }
  }
  std::vector<int64_t> by_expert(static_cast<size_t>(k));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t j = 0; j < k; ++j) by_expert[j] = j;
    const int32_t* chosen = routing.chosen.data() + t * k;
    std::sort(by_expert.begin(), by_expert.end(), [&](int64_t a, int64_t b) { return chosen[a] < chosen[b]; });
    float* row = out + t * n_embd;
    std::fill(row, row + n_embd, 0.0f);
    for (int64_t j : by_expert) {
      const float* c = contribution.data() + (t * k + j) * n_embd;
      for (int64_t d = 0; d < n_embd; ++d) row[d] += c[d];
    }
  }
}

}  // namespace sluice::model
