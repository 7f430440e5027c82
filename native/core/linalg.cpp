// linalg.cpp — see linalg.h. Fortran LAPACK entry points with gfortran's hidden string-length arguments.
#include "linalg.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info, std::size_t,
             std::size_t);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info, std::size_t, std::size_t);
void openblas_set_num_threads(int);
}

namespace lk {

namespace {

Status check_size(int64_t d) {
  if (d < 1 || d > 65536) return Status::Error(Code::InvalidArgument, "matrix size must be in [1, 65536]");
  static const bool single = (openblas_set_num_threads(1), true);  // once: LAPACK here is small and serial
  (void)single;
  return Status::Ok();
}

void zero_strict_upper(double* a, int64_t d) {
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = i + 1; j < d; ++j) a[i * d + j] = 0.0;
}

}  // namespace

Status cholesky_lower(double* a, int64_t d) {
  LK_RETURN_IF_ERROR(check_size(d));
  const int n = static_cast<int>(d);
  int info = 0;
  dpotrf_("U", &n, a, &n, &info, 1);  // column-major upper U with UᵀU = a  ≡  row-major lower L with L Lᵀ = a
  if (info > 0)
    return Status::Error(Code::NotPositiveDefinite,
                         "the matrix is not positive definite (leading minor " + std::to_string(info) + ")");
  if (info < 0) return Status::Error(Code::Backend, "dpotrf: bad argument " + std::to_string(-info));
  zero_strict_upper(a, d);
  return Status::Ok();
}

Status inverse_lower_triangular(double* l, int64_t d) {
  LK_RETURN_IF_ERROR(check_size(d));
  const int n = static_cast<int>(d);
  int info = 0;
  dtrtri_("U", "N", &n, l, &n, &info, 1, 1);
  if (info > 0) return Status::Error(Code::NotPositiveDefinite, "the triangular matrix is singular");
  if (info < 0) return Status::Error(Code::Backend, "dtrtri: bad argument " + std::to_string(-info));
  return Status::Ok();
}

Status spd_inverse(double* a, int64_t d, double* logdet) {
  LK_RETURN_IF_ERROR(cholesky_lower(a, d));
  if (logdet) {
    double s = 0;
    for (int64_t i = 0; i < d; ++i) s += std::log(a[i * d + i]);
    *logdet = 2 * s;
  }
  const int n = static_cast<int>(d);
  int info = 0;
  dpotri_("U", &n, a, &n, &info, 1);
  if (info != 0) return Status::Error(Code::NotPositiveDefinite, "the matrix is singular");
  for (int64_t i = 0; i < d; ++i)  // the lower triangle holds the inverse: mirror it
    for (int64_t j = i + 1; j < d; ++j) a[i * d + j] = a[j * d + i];
  return Status::Ok();
}

Status symmetric_eigen(double* a, double* w, int64_t d) {
  LK_RETURN_IF_ERROR(check_size(d));
  const int n = static_cast<int>(d);
  int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  double work_query = 0;
  dsyevd_("V", "U", &n, a, &n, w, &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
  lwork = static_cast<int>(work_query);
  liwork = iwork_query;
  std::vector<double> work(static_cast<std::size_t>(std::max(lwork, 1)));
  std::vector<int> iwork(static_cast<std::size_t>(std::max(liwork, 1)));
  dsyevd_("V", "U", &n, a, &n, w, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0) return Status::Error(Code::Backend, "dsyevd did not converge (info " + std::to_string(info) + ")");
  // Column-major eigenvectors are the rows of the row-major array; reverse to descending order.
  for (int64_t i = 0; i < d / 2; ++i) {
    std::swap(w[i], w[d - 1 - i]);
    std::swap_ranges(a + i * d, a + (i + 1) * d, a + (d - 1 - i) * d);
  }
  return Status::Ok();
}

}  // namespace lk
