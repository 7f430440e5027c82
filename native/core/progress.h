// progress.h — what a long native loop (an EM fit, a training epoch) is given by whoever runs it: a way to learn that
// it was cancelled (checked once per iteration) and a way to report each iteration's value (the mean log-likelihood
// or lower bound). Either may be empty. Called from the compute thread; the binding forwards reports to JS.
#pragma once
#include <cstdint>
#include <functional>

namespace lk {

struct JobControl {
  std::function<bool()> cancelled;
  // progress(init, iteration, value): initialisation (0-based; 0 for single-start fits), EM iteration (1-based).
  std::function<void(int64_t, int64_t, double)> progress;
  bool stop() const { return cancelled && cancelled(); }
  void report(int64_t init, int64_t iteration, double value) const {
    if (progress) progress(init, iteration, value);
  }
};

}  // namespace lk
