#include "ops/matmul.h"

#include <vector>

#include "quant/decode.h"
#include "util/error.h"

namespace sluice::ops {

void matmul(ThreadPool& pool, const quant::MatrixView& w, const float* x, int64_t n_tokens,
            float* y) {
  SLUICE_ASSERT(quant::is_supported_for_compute(w.type));
  const int64_t n_cols = w.n_cols;
  const int64_t n_rows = w.n_rows;
  pool.parallel_for(n_rows, [&](int64_t begin, int64_t end, int) {
    // One decoded row per thread; thread_local keeps the hot loop free of allocation.
    thread_local std::vector<float> decoded;
    if (decoded.size() < static_cast<size_t>(n_cols)) decoded.resize(static_cast<size_t>(n_cols));
    for (int64_t r = begin; r < end; ++r) {
      const float* row = w.type == quant::GgmlType::F32
                             ? reinterpret_cast<const float*>(w.row(r))
                             : (quant::decode_row(w.type, w.row(r), decoded.data(), n_cols),
                                decoded.data());
      for (int64_t t = 0; t < n_tokens; ++t) {
        y[t * n_rows + r] = quant::dot_f32(row, x + t * n_cols, n_cols);
      }
    }
  });
}

void decode_matrix_row(const quant::MatrixView& w, int64_t row, float* dst) {
  SLUICE_ASSERT(row >= 0 && row < w.n_rows);
  quant::decode_row(w.type, w.row(row), dst, w.n_cols);
}

}  // namespace sluice::ops
