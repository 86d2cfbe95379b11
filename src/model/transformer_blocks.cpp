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
  ops::matmul(pool, w.q, x, n_tokens, q.data());
  ops::matmul(pool, w.k, x, n_tokens, k_new);
  ops::matmul(pool, w.v, x, n_tokens, v_new);

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
  ops::matmul(pool, w.gate, x, n_tokens, gate.data());
  ops::matmul(pool, w.up, x, n_tokens, up.data());
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
  if (next_router && n_tokens <= kMaxTokensToPredict) {
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
  std::vector<int64_t> tokens;
  std::vector<int64_t> choices;  // t * k + j of each gathered row
  std::vector<float> token_weights;
  std::vector<float> gathered, gate, up, down;
  for (int32_t e : order) {
    tokens.clear();
    token_weights.clear();
    choices.clear();
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t j = 0; j < k; ++j) {
        if (routing.chosen[t * k + j] == e) {
          tokens.push_back(t);
          token_weights.push_back(routing.weights[t * k + j]);
          choices.push_back(t * k + j);
        }
      }
    }
    const auto m = static_cast<int64_t>(tokens.size());
    gathered.resize(static_cast<size_t>(m * n_embd));
    for (int64_t i = 0; i < m; ++i) {
      std::copy_n(x + tokens[i] * n_embd, n_embd, gathered.data() + i * n_embd);
    }
    const store::ExpertWeights expert = experts.acquire(layer, e);
    const int64_t n_ff = expert.gate.n_rows;
    gate.resize(static_cast<size_t>(m * n_ff));
    up.resize(gate.size());
    down.resize(static_cast<size_t>(m * n_embd));
    ops::matmul(pool, expert.gate, gathered.data(), m, gate.data());
    ops::matmul(pool, expert.up, gathered.data(), m, up.data());
    if (!options.gate_bias.empty()) {
      SLUICE_ASSERT(options.gate_bias.size() == static_cast<size_t>(hp.n_expert * n_ff) &&
                    options.up_bias.size() == options.gate_bias.size());
      add_row_bias(options.gate_bias.data() + e * n_ff, m, n_ff, gate.data());
      add_row_bias(options.up_bias.data() + e * n_ff, m, n_ff, up.data());
    }
    if (options.clamped_swiglu) {
      ops::clamped_swiglu(*options.clamped_swiglu, gate.data(), up.data(), m * n_ff);
    } else {
      ops::swiglu(gate.data(), up.data(), m * n_ff);
    }
    ops::matmul(pool, expert.down, gate.data(), m, down.data());
    experts.release(layer, e);
    if (!options.down_bias.empty()) {
      SLUICE_ASSERT(options.down_bias.size() == static_cast<size_t>(hp.n_expert * n_embd));
      add_row_bias(options.down_bias.data() + e * n_embd, m, n_embd, down.data());
    }
    for (int64_t i = 0; i < m; ++i) {
      float* row = contribution.data() + choices[i] * n_embd;
      for (int64_t d = 0; d < n_embd; ++d) row[d] = token_weights[i] * down[i * n_embd + d];
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
