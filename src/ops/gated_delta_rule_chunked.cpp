// The chunked form of the gated delta rule. Within a chunk of c tokens starting from state
// S0, with G_i the cumulative log decay from the chunk's start through token i, the
// recurrence unrolls to
//   S_i   = exp(G_i) S0 + sum_{j<=i} exp(G_i - G_j) k_j u_j^T
//   u_i   = beta_i (v_i - exp(G_i) S0^T k_i - sum_{j<i} exp(G_i - G_j) (k_i . k_j) u_j)
// so the corrections u solve a unit lower-triangular system (I + L) U = B V - (B E K) S0,
// with L_ij = beta_i exp(G_i - G_j) (k_i . k_j) for j < i, B = diag(beta), E = diag(exp(G)).
// With T = (I + L)^-1 (forward substitution, c^2/2 rows of length < c):
//   U     = T (B V) - T (B E K) S0
//   out_i = exp(G_i) S0^T q_i + sum_{j<=i} exp(G_i - G_j) (q_i . k_j) u_j
//   S_c   = exp(G_c) S0 + sum_j exp(G_c - G_j) k_j u_j^T
// Every step is a dense product over the chunk; only the state passes from chunk to chunk.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/gated_delta_heads.h"
#include "ops/gated_delta_rule.h"
#include "ops/small_gemm.h"
#include "quant/decode.h"
#include "util/error.h"

namespace sluice::ops {
namespace {

// Tokens per chunk: the triangular solve grows as c^3 and the sequential state passes
// shrink as 1/c; 64 is where the two meet for head dimensions of 64-256.
constexpr int64_t kChunk = 64;

void axpy(float a, const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// Per-thread scratch for one chunk of one head; matrices of chunk rows have kChunk rows
// whatever the chunk's length, so row strides stay fixed.
struct ChunkScratch {
  std::vector<float> k;      // [c, dk] normalised keys
  std::vector<float> G;      // [c] cumulative log decay
  std::vector<float> T;      // [c, c] (I + L)^-1, lower triangular
  std::vector<float> QK;     // [c, c] exp(G_i - G_j) (q_i . k_j) for j <= i, else 0
  std::vector<float> BV;     // [c, dv] beta_j v_j
  std::vector<float> BEK;    // [c, dk] -beta_j exp(G_j) k_j
  std::vector<float> WQ;     // [2c, dk] rows -T (B E K), then exp(G_i) q_i
  std::vector<float> UO;     // [2c, dv] rows U, then the outputs
  std::vector<float> KT;     // [dk, c] exp(G_c - G_j) k_j, transposed

  void size(int64_t dk, int64_t dv) {
    const auto n = [](int64_t x) { return static_cast<size_t>(x); };
    k.resize(n(kChunk * dk));
    G.resize(n(kChunk));
    T.resize(n(kChunk * kChunk));
    QK.resize(T.size());
    BV.resize(n(kChunk * dv));
    BEK.resize(n(kChunk * dk));
    WQ.resize(n(2 * kChunk * dk));
    UO.resize(n(2 * kChunk * dv));
    KT.resize(n(dk * kChunk));
  }
};

// One chunk of `c` tokens (rows t0 .. t0 + c of `in`) for value head h, key head kh.
void run_chunk(const GatedDeltaShape& shape, const GatedDeltaInputs& in, int64_t h, int64_t kh,
               int64_t t0, int64_t c, float* s, float* out, ChunkScratch& w) {
  const int64_t dk = shape.head_k_dim;
  const int64_t dv = shape.head_v_dim;
  const int64_t n_v = shape.n_v_heads;
  const float q_scale = delta::query_scale(shape);
  float* k = w.k.data();
  float* G = w.G.data();
  float* T = w.T.data();
  float* QK = w.QK.data();
  float* W = w.WQ.data();             // -T (B E K)
  float* Q = w.WQ.data() + c * dk;    // exp(G_i) q_i
  float* U = w.UO.data();
  float* O = w.UO.data() + c * dv;

  for (int64_t i = 0; i < c; ++i) {
    const int64_t t = t0 + i;
    const float beta = in.beta[t * n_v + h];
    G[i] = (i ? G[i - 1] : 0.0f) + in.g[t * n_v + h];
    delta::l2_normalize(in.q + t * in.row_stride + kh * dk, dk, q_scale, Q + i * dk);
    delta::l2_normalize(in.k + t * in.row_stride + kh * dk, dk, 1.0f, k + i * dk);
    const float* v = in.v + t * in.row_stride + h * dv;
    for (int64_t j = 0; j < dv; ++j) w.BV[i * dv + j] = beta * v[j];
    const float bek = -beta * std::exp(G[i]);
    for (int64_t j = 0; j < dk; ++j) w.BEK[i * dk + j] = bek * k[i * dk + j];
  }

  // T = (I + L)^-1 row by row: T_i = e_i - sum_{m<i} L_im T_m, and T_m is zero past m.
  // QK alongside, while q_i is still unscaled by exp(G_i).
  std::fill(T, T + c * kChunk, 0.0f);
  std::fill(QK, QK + c * kChunk, 0.0f);
  for (int64_t i = 0; i < c; ++i) {
    const float beta = in.beta[(t0 + i) * n_v + h];
    float* Ti = T + i * kChunk;
    for (int64_t m = 0; m < i; ++m) {
      const float minus_l = -beta * std::exp(G[i] - G[m]) * quant::dot_f32(k + i * dk, k + m * dk, dk);
      axpy(minus_l, T + m * kChunk, m + 1, Ti);
    }
    Ti[i] = 1.0f;
    for (int64_t m = 0; m <= i; ++m) {
      QK[i * kChunk + m] = std::exp(G[i] - G[m]) * quant::dot_f32(Q + i * dk, k + m * dk, dk);
    }
  }
  for (int64_t i = 0; i < c; ++i) {
    const float decay = std::exp(G[i]);
    for (int64_t j = 0; j < dk; ++j) Q[i * dk + j] *= decay;
  }

  // U = T (B V) - T (B E K) S0 and O = E Q S0 + QK U; the two products with S0 share one
  // pass over the state.
  std::fill(w.UO.begin(), w.UO.begin() + 2 * c * dv, 0.0f);
  std::fill(W, W + c * dk, 0.0f);
  small_gemm_add(c, dv, c, T, kChunk, w.BV.data(), dv, U, dv);
  small_gemm_add(c, dk, c, T, kChunk, w.BEK.data(), dk, W, dk);
  small_gemm_add(2 * c, dv, dk, w.WQ.data(), dk, s, dv, w.UO.data(), dv);
  small_gemm_add(c, dv, c, QK, kChunk, U, dv, O, dv);
  for (int64_t i = 0; i < c; ++i) std::copy_n(O + i * dv, dv, out + (t0 + i) * n_v * dv + h * dv);

  // S_c = exp(G_c) S0 + K^T diag(exp(G_c - G_j)) U.
  const float last = G[c - 1];
  for (int64_t j = 0; j < c; ++j) {
    const float decay = std::exp(last - G[j]);
    for (int64_t m = 0; m < dk; ++m) w.KT[m * kChunk + j] = decay * k[j * dk + m];
  }
  const float decay = std::exp(last);
  for (int64_t m = 0; m < dk * dv; ++m) s[m] *= decay;
  small_gemm_add(dk, dv, c, w.KT.data(), kChunk, U, dv, s, dv);
}

}  // namespace

void gated_delta_rule_chunked(ThreadPool& pool, const GatedDeltaShape& shape,
                              const GatedDeltaInputs& in, float* state, float* out) {
  SLUICE_ASSERT(shape.n_k_heads > 0 && shape.n_v_heads % shape.n_k_heads == 0);
  const int64_t dk = shape.head_k_dim;
  const int64_t dv = shape.head_v_dim;
  pool.parallel_for(shape.n_v_heads, [&](int64_t begin, int64_t end, int) {
    thread_local ChunkScratch scratch;
    scratch.size(dk, dv);
    for (int64_t h = begin; h < end; ++h) {
      const int64_t kh = delta::key_head(shape, h);
      for (int64_t t0 = 0; t0 < in.n_tokens; t0 += kChunk) {
        run_chunk(shape, in, h, kh, t0, std::min(kChunk, in.n_tokens - t0),
                  state + h * dk * dv, out, scratch);
      }
    }
  });
}

}  // namespace sluice::ops
