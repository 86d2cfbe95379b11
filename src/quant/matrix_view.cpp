#include "quant/matrix_view.h"

#include "quant/interleaved_rows.h"
#include "util/error.h"

namespace sluice::quant {

MatrixView row_slice(const MatrixView& m, int64_t first, int64_t n) {
  SLUICE_ASSERT(first >= 0 && n >= 0 && first + n <= m.n_rows);
  SLUICE_ASSERT(m.order == RowOrder::kRows || (first % kGroupRows == 0 && n % kGroupRows == 0));
  MatrixView view = m;
  view.data = m.row(first);
  view.n_rows = n;
  return view;
}

}  // namespace sluice::quant
