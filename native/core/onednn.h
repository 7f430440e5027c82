// onednn.h — what core/'s two oneDNN primitive users (gemm.cpp's bf16 matmul, conv.cpp's convolutions) share: the
// one CPU engine of the process. Internal to core/: nothing outside it includes oneDNN's C++ API.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

namespace lk {

inline const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

}  // namespace lk
