// gemm.cpp — row-major sgemm through oneDNN, bf16 products through its matmul primitive, the bf16 conversion
// (the one file that calls a BLAS).
#include "gemm.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include <omp.h>
#include <unordered_map>

#include "fast_math.h"
#include "onednn.h"

namespace lk {

Status gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return Status::Ok();
  if (K == 0) {  // oneDNN rejects K = 0; the product is empty, so C = beta * C.
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return Status::Ok();
  }
  dnnl_status_t s = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (s != dnnl_success)
    return Status::Error(Code::Backend, "oneDNN sgemm failed with status " + std::to_string(static_cast<int>(s)) +
                                            " (M=" + std::to_string(M) + ", N=" + std::to_string(N) +
                                            ", K=" + std::to_string(K) + ")");
  return Status::Ok();
}

namespace {
LK_TARGET_CLONES void to_bf16_span(bf16_t* __restrict dst, const float* __restrict src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = to_bf16(src[i]);
}
}  // namespace

void to_bf16(bf16_t* dst, const float* src, int64_t n) { to_bf16_span(dst, src, n); }

struct Bf16Gemm::Product {
  dnnl::stream stream;
  dnnl::matmul matmul;
  dnnl::memory a, b, c, bias;
  std::unordered_map<int, dnnl::memory> args;
};

Bf16Gemm::Bf16Gemm() = default;
Bf16Gemm::~Bf16Gemm() = default;

Bf16Gemm::Product* Bf16Gemm::product(const Key& key) {
  auto it = products_.find(key);
  if (it != products_.end()) return it->second.get();
  using dnnl::memory;
  using dt = memory::data_type;
  const dnnl::engine& engine = cpu_engine();
  const bool trans_a = std::get<0>(key), trans_b = std::get<1>(key), sum = std::get<8>(key), bias = std::get<9>(key);
  const int64_t M = std::get<2>(key), N = std::get<3>(key), K = std::get<4>(key);
  const int64_t lda = std::get<5>(key), ldb = std::get<6>(key), ldc = std::get<7>(key);
  const auto fn = static_cast<GemmEpilogue::Fn>(std::get<10>(key));
  // Row-major operands as strided 2-D memories: a transposed operand is the same memory with swapped strides.
  const memory::desc a_md({M, K}, dt::bf16, trans_a ? memory::dims{1, lda} : memory::dims{lda, 1});
  const memory::desc b_md({K, N}, dt::bf16, trans_b ? memory::dims{1, ldb} : memory::dims{ldb, 1});
  const memory::desc c_md({M, N}, dt::f32, memory::dims{ldc, 1});
  const memory::desc bias_md({1, N}, dt::f32, memory::dims{N, 1});
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  if (sum) po.append_sum(1.f);
  switch (fn) {
    case GemmEpilogue::Fn::Identity: break;
    case GemmEpilogue::Fn::Relu: po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, std::get<11>(key), 0.f); break;
    case GemmEpilogue::Fn::Tanh: po.append_eltwise(1.f, dnnl::algorithm::eltwise_tanh, 0.f, 0.f); break;
    case GemmEpilogue::Fn::Softplus: po.append_eltwise(1.f, dnnl::algorithm::eltwise_soft_relu, 0.f, 0.f); break;
  }
  attr.set_post_ops(po);
  std::unique_ptr<Product> p(new Product);
  p->stream = dnnl::stream(engine);
  const dnnl::matmul::desc d = bias ? dnnl::matmul::desc(a_md, b_md, bias_md, c_md) : dnnl::matmul::desc(a_md, b_md, c_md);
  p->matmul = dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, engine));
  const void* none = DNNL_MEMORY_NONE;
  p->a = memory(a_md, engine, const_cast<void*>(none));
  p->b = memory(b_md, engine, const_cast<void*>(none));
  p->c = memory(c_md, engine, const_cast<void*>(none));
  p->args = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->c}};
  if (bias) {
    p->bias = memory(bias_md, engine, const_cast<void*>(none));
    p->args[DNNL_ARG_BIAS] = p->bias;
  }
  return products_.emplace(key, std::move(p)).first->second.get();
}

Status Bf16Gemm::run(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const bf16_t* A, int64_t lda,
                     const bf16_t* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmEpilogue& e) {
  if (M == 0 || N == 0) return Status::Ok();
  if (beta != 0.f && beta != 1.f) return Status::Error(Code::InvalidArgument, "bf16 gemm: beta must be 0 or 1");
  const bool epilogue = e.bias || e.fn != GemmEpilogue::Fn::Identity;
  if (epilogue && beta != 0.f) return Status::Error(Code::InvalidArgument, "bf16 gemm: an epilogue needs beta = 0");
  if (K == 0) {
    for (int64_t i = 0; i < M && !epilogue; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : C[i * ldc + j];
    if (epilogue) return Status::Error(Code::InvalidArgument, "bf16 gemm: an epilogue needs K >= 1");
    return Status::Ok();
  }
  // On a team of T threads the product is split into T blocks of C's rows (or columns, whichever is longer, at
  // multiples of 32), each a one-thread matmul on its own thread: oneDNN 2.6's own threading of its bf16 matmul
  // scaled 1.5× on 2 threads at batch 128 where sgemm scaled 1.8×.
  const int T = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool rows = M >= N;
  const int64_t L = rows ? M : N;
  const int parts = T > 1 && L >= 64 * T ? std::min(T, kMaxParts) : 1;
  struct Part {
    Product* p;
    const bf16_t *a, *b;
    float* c;
    const float* bias;
  };
  Part todo[kMaxParts];
  try {
    for (int t = 0; t < parts; ++t) {
      const int64_t lo = parts == 1 ? 0 : (L * t / parts) / 32 * 32, hi = t + 1 == parts ? L : (L * (t + 1) / parts) / 32 * 32;
      const int64_t m = rows ? hi - lo : M, n = rows ? N : hi - lo;
      const Key key{trans_a, trans_b, m, n, K, lda, ldb, ldc, beta != 0.f, e.bias != nullptr, static_cast<int>(e.fn), e.alpha, parts == 1 ? -1 : t};
      Part& q = todo[t];
      q.p = product(key);
      q.a = rows ? (trans_a ? A + lo : A + lo * lda) : A;
      q.b = rows ? B : (trans_b ? B + lo * ldb : B + lo);
      q.c = rows ? C + lo * ldc : C + lo;
      q.bias = e.bias && !rows ? e.bias + lo : e.bias;
    }
  } catch (const dnnl::error& err) {
    return Status::Error(Code::Backend, std::string("oneDNN could not create a bf16 matmul: ") + err.what() + " (M=" +
                                            std::to_string(M) + ", N=" + std::to_string(N) + ", K=" + std::to_string(K) + ")");
  }
  std::atomic<bool> failed{false};
  std::string message;
  auto execute = [&](const Part& q) {
    try {
      q.p->a.set_data_handle(const_cast<bf16_t*>(q.a));
      q.p->b.set_data_handle(const_cast<bf16_t*>(q.b));
      q.p->c.set_data_handle(q.c);
      if (q.bias) q.p->bias.set_data_handle(const_cast<float*>(q.bias));
      q.p->matmul.execute(q.p->stream, q.p->args);
      q.p->stream.wait();
    } catch (const std::exception& err) {  // dnnl::error, or an allocation: nothing may leave an OpenMP region
      if (!failed.exchange(true)) message = err.what();
    }
  };
  if (parts == 1) {
    execute(todo[0]);
  } else {
#pragma omp parallel for schedule(static) num_threads(parts)
    for (int t = 0; t < parts; ++t) execute(todo[t]);
  }
  if (failed)
    return Status::Error(Code::Backend, "oneDNN bf16 matmul failed: " + message + " (M=" + std::to_string(M) +
                                            ", N=" + std::to_string(N) + ", K=" + std::to_string(K) + ")");
  return Status::Ok();
}

bool bf16_native() {
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  return isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}

const char* gemm_effective_isa() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

}  // namespace lk
