// linalg.h — small dense double-precision linear algebra on row-major square matrices (d up to a few thousand):
// Cholesky, triangular inverse, SPD inverse and log-determinant, symmetric eigendecomposition. Backed by OpenBLAS's
// LAPACK (dpotrf, dtrtri, dpotri, dsyevd), run with one OpenBLAS thread so it never competes with the OpenMP team.
// A row-major matrix is the column-major transpose, so a row-major lower triangle is LAPACK's upper one.
#pragma once
#include <cstdint>

#include "status.h"

namespace lk {

// a (d, d) symmetric positive definite → its lower Cholesky factor L (a = L Lᵀ) in place; the strict upper triangle
// is zeroed. NotPositiveDefinite (naming the leading minor) when a is not.
Status cholesky_lower(double* a, int64_t d);

// l (d, d) lower triangular → L⁻¹ (lower) in place.
Status inverse_lower_triangular(double* l, int64_t d);

// a (d, d) symmetric positive definite → a⁻¹ in place (full symmetric); logdet (optional) = log det a.
Status spd_inverse(double* a, int64_t d, double* logdet = nullptr);

// a (d, d) symmetric → eigenvalues w (d) in descending order; row i of a becomes the unit eigenvector of w[i].
Status symmetric_eigen(double* a, double* w, int64_t d);

}  // namespace lk
