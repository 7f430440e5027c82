// special.h — scalar special functions in double precision for the count likelihoods: log Γ, the digamma ψ, and
// the stable log(e^a + e^b) and softplus. All are pure (no errno or signgam writes), so any thread may call
// them. Arguments of log_gamma and digamma must be > 0 (the callers pass counts + θ and θ).
#pragma once
#include <cmath>

namespace lk {

inline double log_add_exp(double a, double b) {
  const double m = a > b ? a : b;
  if (m == -HUGE_VAL) return m;
  return m + std::log1p(std::exp(-std::fabs(a - b)));
}

inline double softplus(double x) { return (x > 0 ? x : 0) + std::log1p(std::exp(-std::fabs(x))); }

// log Γ(x), x > 0: the recurrence Γ(x) = Γ(x + n) / (x (x + 1) … (x + n − 1)) up to x ≥ 8, then Stirling's series
// log Γ(y) = (y − ½) log y − y + ½ log 2π + 1/(12y) − 1/(360y³) + 1/(1260y⁵) − 1/(1680y⁷) (error < 1e-13 at y ≥ 8).
inline double log_gamma(double x) {
  double shift = 0.0, prod = 1.0;
  while (x < 8.0) {
    prod *= x;
    x += 1.0;
    if (prod > 1e280) {  // keep the product finite for tiny x
      shift += std::log(prod);
      prod = 1.0;
    }
  }
  shift += std::log(prod);
  const double r = 1.0 / x, r2 = r * r;
  const double series = r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 / 1680)));
  return (x - 0.5) * std::log(x) - x + 0.91893853320467274178 + series - shift;
}

// ψ(x) = d log Γ / dx, x > 0: ψ(x) = ψ(x + 1) − 1/x up to x ≥ 8, then the asymptotic series
// ψ(y) = log y − 1/(2y) − 1/(12y²) + 1/(120y⁴) − 1/(252y⁶) + 1/(240y⁸) − 1/(132y¹⁰).
inline double digamma(double x) {
  double acc = 0.0;
  while (x < 8.0) {
    acc -= 1.0 / x;
    x += 1.0;
  }
  const double r2 = 1.0 / (x * x);
  const double series = r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 / 132))));
  return acc + std::log(x) - 0.5 / x - series;
}

}  // namespace lk
