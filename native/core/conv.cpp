// conv.cpp — see conv.h. Each Plan holds, for one row count, the three primitives (forward, backward data,
// backward weights) created with format_tag::any, the memories in the layouts they chose, the reorders from and to
// the plain NCHW / weight layouts, and one user-mode scratchpad; argument maps are built once, so a step only sets
// data handles and executes. backward() relies on forward() having just run with the same rows and inputs (it
// reuses the reordered input and weights), which is how a training step uses it.
#include "conv.h"

#include "gemm.h"
#include "onednn.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace lk {

namespace {
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using Args = std::unordered_map<int, memory>;

// A memory in the layout a primitive chose: the plain user memory itself when the layouts agree, else an internal
// buffer with a reorder from (to_internal) or to (from_internal) the user memory.
struct Bound {
  memory mem;
  dnnl::reorder to_internal, from_internal;
  Args to_args, from_args;
  bool internal = false;
  void bind(const memory::desc& chosen, const memory& user, bool input, bool output) {
    internal = chosen != user.get_desc();
    mem = internal ? memory(chosen, cpu_engine()) : user;
    if (!internal) return;
    if (input) {
      to_internal = dnnl::reorder(user, mem);
      to_args = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, mem}};
    }
    if (output) {
      from_internal = dnnl::reorder(mem, user);
      from_args = {{DNNL_ARG_FROM, mem}, {DNNL_ARG_TO, user}};
    }
  }
  void load(dnnl::stream& s) {
    if (internal) to_internal.execute(s, to_args);
  }
  void store(dnnl::stream& s) {
    if (internal) from_internal.execute(s, from_args);
  }
};

void add_into(float* acc, const float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += v[i];
}
}  // namespace

int64_t ConvGeometry::out_h() const {
  return transposed ? (in_h - 1) * stride - 2 * padding + kernel + output_padding
                    : (in_h + 2 * padding - kernel) / stride + 1;
}
int64_t ConvGeometry::out_w() const {
  return transposed ? (in_w - 1) * stride - 2 * padding + kernel + output_padding
                    : (in_w + 2 * padding - kernel) / stride + 1;
}

Status ConvGeometry::check() const {
  auto bad = [](const std::string& m) { return Status::Error(Code::InvalidArgument, m); };
  if (in_c < 1 || in_h < 1 || in_w < 1 || out_c < 1) return bad("channels and sizes must be >= 1");
  if (in_c > (1 << 16) || out_c > (1 << 16) || in_h > (1 << 16) || in_w > (1 << 16))
    return bad("channels and sizes must be <= 65536");
  if (kernel < 1 || kernel > 64) return bad("kernel must be in [1, 64]");
  if (stride < 1 || stride > 64) return bad("stride must be in [1, 64]");
  if (padding < 0 || padding >= kernel) return bad("padding must be in [0, kernel − 1]");
  if ((src_blocked && in_c % 16) || (dst_blocked && out_c % 16) ||
      ((src_blocked || dst_blocked) && !ConvKernel::on_primitives(*this)))
    return bad("a blocked layout needs channels that are a multiple of 16 and oneDNN's primitives");
  if (output_padding < 0 || (output_padding > 0 && !transposed) || (transposed && output_padding >= stride))
    return bad("outputPadding must be in [0, stride − 1] (transposed convolutions only)");
  if (!transposed && (in_h + 2 * padding < kernel || in_w + 2 * padding < kernel))
    return bad("the kernel (" + std::to_string(kernel) + ") is larger than the padded input (" +
               std::to_string(in_h + 2 * padding) + " × " + std::to_string(in_w + 2 * padding) + ")");
  if (out_h() < 1 || out_w() < 1) return bad("the output would be empty");
  return Status::Ok();
}

struct ConvKernel::Plan {
  dnnl::stream stream{cpu_engine()};
  int64_t rows = 0, x_count = 0, y_count = 0;
  memory x_user, y_user, w_user, dx_user, dy_user;
  Bound f_src, f_w, f_dst, d_dy, d_w, d_dx, w_src, w_dy;
  memory dw_internal, dw_plain, db, scratch;
  dnnl::reorder dw_to_plain;
  Args dw_args;
  dnnl::primitive fwd, bwd_data, bwd_weights;
  Args fwd_args, bwd_data_args, bwd_weights_args;
  std::vector<float> dx_sum;  // d_x before it is added, when backward accumulates into d_x
};

namespace {
// The layouts the three primitives chose, and the largest of their scratchpads.
struct Layouts {
  memory::desc f_src, f_w, f_dst, d_dy, d_w, d_dx, w_src, w_dy, w_dw, scratch;
};

// The memory descriptors the three primitives are created with (format_tag::any but for the bias): the forward's
// src, weights, bias, dst; backward data's diff_src, weights, diff_dst; backward weights' src, diff_weights, diff_dst.
struct Descs {
  memory::desc src, w, b, dst, d_src, d_w, d_dst;
};

// Forward, backward-data and backward-weights primitives of a convolution (F, BD, BW = convolution_* or
// deconvolution_*: the two families share this API), created into p.
template <typename F, typename BD, typename BW, typename P>
Layouts make_primitives(dnnl::algorithm alg, const Descs& d, const memory::dims& strides, const memory::dims& pad,
                        const dnnl::primitive_attr& attr, P* p) {
  const auto& eng = cpu_engine();
  typename F::primitive_desc fpd(
      typename F::desc(dnnl::prop_kind::forward_training, alg, d.src, d.w, d.b, d.dst, strides, pad, pad), attr, eng);
  typename BD::primitive_desc dpd(typename BD::desc(alg, d.d_src, d.w, d.d_dst, strides, pad, pad), attr, eng, fpd);
  typename BW::primitive_desc wpd(typename BW::desc(alg, d.src, d.d_w, d.b, d.d_dst, strides, pad, pad), attr, eng,
                                  fpd);
  p->fwd = F(fpd);
  p->bwd_data = BD(dpd);
  p->bwd_weights = BW(wpd);
  Layouts l{fpd.src_desc(), fpd.weights_desc(), fpd.dst_desc(), dpd.diff_dst_desc(), dpd.weights_desc(),
            dpd.diff_src_desc(), wpd.src_desc(), wpd.diff_dst_desc(), wpd.diff_weights_desc(), fpd.scratchpad_desc()};
  for (const memory::desc& s : {dpd.scratchpad_desc(), wpd.scratchpad_desc()})
    if (s.get_size() > l.scratch.get_size()) l.scratch = s;
  return l;
}
}  // namespace

ConvKernel::ConvKernel(const ConvGeometry& g, bool bf16) : g_(g), bf16_(bf16) {}
ConvKernel::~ConvKernel() = default;

Status ConvKernel::plan_for(int64_t rows, Plan** out) {
  auto it = plans_.find(rows);
  if (it != plans_.end()) {
    *out = it->second.get();
    return Status::Ok();
  }
  try {
    const auto& eng = cpu_engine();
    std::unique_ptr<Plan> p(new Plan);
    p->rows = rows;
    const memory::dims src_dims = {rows, g_.in_c, g_.in_h, g_.in_w};
    const memory::dims dst_dims = {rows, g_.out_c, g_.out_h(), g_.out_w()};
    // oneDNN's deconvolution weights are {out_c, in_c, k, k} logically; ours are stored (in_c, out_c, k, k): iohw.
    const memory::dims w_dims = {g_.out_c, g_.in_c, g_.kernel, g_.kernel};
    const memory::desc src_plain(src_dims, dt::f32, g_.src_blocked ? tag::aBcd16b : tag::nchw);
    const memory::desc dst_plain(dst_dims, dt::f32, g_.dst_blocked ? tag::aBcd16b : tag::nchw);
    const memory::desc w_plain(w_dims, dt::f32, g_.transposed ? tag::iohw : tag::oihw);
    const memory::desc b_md({g_.out_c}, dt::f32, tag::x);
    // What the products read is bf16 in bf16 precision; what they write stays fp32.
    const dt in = bf16_ ? dt::bf16 : dt::f32;
    Descs d{memory::desc(src_dims, in, tag::any), memory::desc(w_dims, in, tag::any), b_md,
            memory::desc(dst_dims, dt::f32, tag::any), memory::desc(src_dims, dt::f32, tag::any),
            memory::desc(w_dims, dt::f32, tag::any), memory::desc(dst_dims, in, tag::any)};
    const memory::dims strides = {g_.stride, g_.stride}, pad = {g_.padding, g_.padding};
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const void* none = DNNL_MEMORY_NONE;
    p->x_user = memory(src_plain, eng, const_cast<void*>(none));
    p->dx_user = memory(src_plain, eng, const_cast<void*>(none));
    p->y_user = memory(dst_plain, eng, const_cast<void*>(none));
    p->dy_user = memory(dst_plain, eng, const_cast<void*>(none));
    p->w_user = memory(w_plain, eng, const_cast<void*>(none));
    // The weight and bias gradients land in the caller's d_w / d_b (handles set per call).
    p->db = memory(b_md, eng, const_cast<void*>(none));
    p->dw_plain = memory(w_plain, eng, const_cast<void*>(none));
    memory b_user(b_md, eng, const_cast<void*>(none));
    Layouts l;
    if (!g_.transposed)
      l = make_primitives<dnnl::convolution_forward, dnnl::convolution_backward_data,
                          dnnl::convolution_backward_weights>(dnnl::algorithm::convolution_direct, d, strides, pad,
                                                              attr, p.get());
    else
      l = make_primitives<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
                          dnnl::deconvolution_backward_weights>(dnnl::algorithm::deconvolution_direct, d, strides, pad,
                                                                attr, p.get());
    const memory::desc &f_src_md = l.f_src, &f_w_md = l.f_w, &f_dst_md = l.f_dst, &d_dy_md = l.d_dy, &d_w_md = l.d_w;
    const memory::desc &d_dx_md = l.d_dx, &w_src_md = l.w_src, &w_dy_md = l.w_dy, &w_dw_md = l.w_dw;
    const memory::desc& scratch_md = l.scratch;
    p->scratch = memory(scratch_md, eng);
    p->f_src.bind(f_src_md, p->x_user, true, false);
    p->f_w.bind(f_w_md, p->w_user, true, false);
    p->f_dst.bind(f_dst_md, p->y_user, false, true);
    p->d_dy.bind(d_dy_md, p->dy_user, true, false);
    // The backward passes reuse what forward reordered when their layouts agree.
    if (d_w_md == f_w_md) p->d_w.mem = p->f_w.mem; else p->d_w.bind(d_w_md, p->w_user, true, false);
    p->d_dx.bind(d_dx_md, p->dx_user, false, true);
    if (w_src_md == f_src_md) p->w_src.mem = p->f_src.mem; else p->w_src.bind(w_src_md, p->x_user, true, false);
    if (w_dy_md == d_dy_md) p->w_dy.mem = p->d_dy.mem; else p->w_dy.bind(w_dy_md, p->dy_user, true, false);
    p->dw_internal = w_dw_md == w_plain ? p->dw_plain : memory(w_dw_md, eng);
    if (w_dw_md != w_plain) {
      p->dw_to_plain = dnnl::reorder(p->dw_internal, p->dw_plain);
      p->dw_args = {{DNNL_ARG_FROM, p->dw_internal}, {DNNL_ARG_TO, p->dw_plain}};
    }
    p->fwd_args = {{DNNL_ARG_SRC, p->f_src.mem}, {DNNL_ARG_WEIGHTS, p->f_w.mem}, {DNNL_ARG_BIAS, b_user},
                   {DNNL_ARG_DST, p->f_dst.mem}, {DNNL_ARG_SCRATCHPAD, p->scratch}};
    p->bwd_data_args = {{DNNL_ARG_DIFF_DST, p->d_dy.mem}, {DNNL_ARG_WEIGHTS, p->d_w.mem},
                        {DNNL_ARG_DIFF_SRC, p->d_dx.mem}, {DNNL_ARG_SCRATCHPAD, p->scratch}};
    p->bwd_weights_args = {{DNNL_ARG_SRC, p->w_src.mem}, {DNNL_ARG_DIFF_DST, p->w_dy.mem},
                           {DNNL_ARG_DIFF_WEIGHTS, p->dw_internal}, {DNNL_ARG_DIFF_BIAS, p->db},
                           {DNNL_ARG_SCRATCHPAD, p->scratch}};
    p->x_count = rows * g_.in_c * g_.in_h * g_.in_w;
    p->y_count = rows * g_.out_c * g_.out_h() * g_.out_w();
    *out = p.get();
    plans_[rows] = std::move(p);
    return Status::Ok();
  } catch (const dnnl::error& e) {
    return Status::Error(Code::Backend, std::string("oneDNN could not create the convolution: ") + e.what());
  }
}

Status ConvKernel::forward(float* y, const float* x, const float* w, const float* b, int64_t rows) {
  if (rows < 1) return Status::Ok();
  if (gemm_path()) return gemm_forward(y, x, w, b, rows);
  Plan* p = nullptr;
  LK_RETURN_IF_ERROR(plan_for(rows, &p));
  try {
    p->x_user.set_data_handle(const_cast<float*>(x));
    p->w_user.set_data_handle(const_cast<float*>(w));
    p->y_user.set_data_handle(y);
    p->fwd_args.at(DNNL_ARG_BIAS).set_data_handle(const_cast<float*>(b));
    p->f_src.load(p->stream);
    p->f_w.load(p->stream);
    p->fwd.execute(p->stream, p->fwd_args);
    p->f_dst.store(p->stream);
    p->stream.wait();
  } catch (const dnnl::error& e) {
    return Status::Error(Code::Backend, std::string("oneDNN convolution forward failed: ") + e.what());
  }
  return Status::Ok();
}

Status ConvKernel::backward(float* d_x, float* d_w, float* d_b, const float* d_y, const float* x, const float* w,
                            int64_t rows, bool accumulate_dx) {
  if (rows < 1) return Status::Ok();
  if (gemm_path()) return gemm_backward(d_x, d_w, d_b, d_y, x, w, rows, accumulate_dx);
  Plan* p = nullptr;
  LK_RETURN_IF_ERROR(plan_for(rows, &p));
  try {
    p->x_user.set_data_handle(const_cast<float*>(x));
    p->w_user.set_data_handle(const_cast<float*>(w));
    p->dy_user.set_data_handle(const_cast<float*>(d_y));
    p->dw_plain.set_data_handle(d_w);
    p->db.set_data_handle(d_b);
    p->d_dy.load(p->stream);
    p->w_dy.load(p->stream);
    p->w_src.load(p->stream);
    p->bwd_weights.execute(p->stream, p->bwd_weights_args);
    if (p->dw_to_plain) p->dw_to_plain.execute(p->stream, p->dw_args);
    if (d_x) {
      p->d_w.load(p->stream);
      float* target = d_x;
      if (accumulate_dx) {
        p->dx_sum.resize(static_cast<size_t>(p->x_count));
        target = p->dx_sum.data();
      }
      p->dx_user.set_data_handle(target);
      p->bwd_data.execute(p->stream, p->bwd_data_args);
      p->d_dx.store(p->stream);
    }
    p->stream.wait();
    if (d_x && accumulate_dx) add_into(d_x, p->dx_sum.data(), p->x_count);
  } catch (const dnnl::error& e) {
    return Status::Error(Code::Backend, std::string("oneDNN convolution backward failed: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace lk

namespace lk {

Status ConvKernel::time_primitives(int64_t rows, bool input_grad, int64_t warmup, int64_t passes, double* seconds) {
  if (gemm_path()) {  // what runs is the GEMM path: time it whole
    const int64_t nx = rows * g_.in_c * g_.in_h * g_.in_w, ny = rows * g_.out_c * g_.out_h() * g_.out_w();
    std::vector<float> x(nx, 0.01f), y(ny), dx(nx), w(g_.weight_count(), 0.01f), dw(g_.weight_count()), b(g_.out_c);
    for (int64_t r = 0; r < warmup + passes; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      LK_RETURN_IF_ERROR(gemm_forward(y.data(), x.data(), w.data(), b.data(), rows));
      LK_RETURN_IF_ERROR(gemm_backward(input_grad ? dx.data() : nullptr, dw.data(), b.data(), y.data(), x.data(), w.data(),
                                       rows, false));
      if (r >= warmup) seconds[r - warmup] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return Status::Ok();
  }
  Plan* p = nullptr;
  LK_RETURN_IF_ERROR(plan_for(rows, &p));
  try {
    // Inputs and weights live in the primitives' own layouts: give every internal memory small values once.
    std::vector<std::vector<float>> owned;
    auto fill = [&](memory& m) {
      const size_t bytes = m.get_desc().get_size();
      if (!m.get_data_handle()) {
        owned.emplace_back((bytes + sizeof(float) - 1) / sizeof(float));
        m.set_data_handle(owned.back().data());
      }
      const bool half = m.get_desc().data_type() == dt::bf16;
      for (size_t i = 0; i < bytes / (half ? 2 : 4); ++i) {
        const float v = 0.01f * static_cast<float>(i % 97);
        if (half) {
          to_bf16(static_cast<bf16_t*>(m.get_data_handle()) + i, &v, 1);
        } else {
          static_cast<float*>(m.get_data_handle())[i] = v;
        }
      }
    };
    for (memory* m : {&p->x_user, &p->w_user, &p->y_user, &p->dx_user, &p->dy_user, &p->dw_plain, &p->db}) fill(*m);
    for (Bound* b : {&p->f_src, &p->f_w, &p->f_dst, &p->d_dy, &p->d_w, &p->d_dx, &p->w_src, &p->w_dy})
      if (b->mem) fill(b->mem);
    p->fwd_args.at(DNNL_ARG_BIAS).set_data_handle(p->db.get_data_handle());
    for (int64_t r = 0; r < warmup + passes; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      p->fwd.execute(p->stream, p->fwd_args);
      p->bwd_weights.execute(p->stream, p->bwd_weights_args);
      if (input_grad) p->bwd_data.execute(p->stream, p->bwd_data_args);
      p->stream.wait();
      if (r >= warmup) seconds[r - warmup] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  } catch (const dnnl::error& e) {
    return Status::Error(Code::Backend, std::string("oneDNN convolution benchmark failed: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace lk

namespace lk {

// Input pixel (i, j) of a transposed convolution adds W[c, o, u, v]·x[c, i, j] at output (i·s − p + u, j·s − p + v).
// Per image n, with x_n as (I, P) (NCHW already) and W as (I, O·k·k): columns (O·k·k, P) = Wᵀ·x_n, then each row
// (o, u, v) of the columns is added into y_n along the strided output positions (col2im).
Status ConvKernel::gemm_forward(float* y, const float* x, const float* w, const float* b, int64_t rows) {
  const int64_t I = g_.in_c, O = g_.out_c, k = g_.kernel, s = g_.stride, pad = g_.padding;
  const int64_t H = g_.in_h, W = g_.in_w, P = H * W, OH = g_.out_h(), OW = g_.out_w(), KK = O * k * k;
  columns_.resize(static_cast<size_t>(KK * P));
  float* col = columns_.data();
  for (int64_t n = 0; n < rows; ++n) {
    LK_RETURN_IF_ERROR(gemm(true, false, KK, P, I, 1.0f, w, x + n * I * P, 0.0f, col));
    float* yn = y + n * O * OH * OW;
    for (int64_t o = 0; o < O; ++o) std::fill_n(yn + o * OH * OW, OH * OW, b[o]);
    for (int64_t o = 0; o < O; ++o)
      for (int64_t u = 0; u < k; ++u)
        for (int64_t v = 0; v < k; ++v) {
          const float* c = col + ((o * k + u) * k + v) * P;
          for (int64_t i = 0; i < H; ++i) {
            const int64_t oy = i * s - pad + u;
            if (oy < 0 || oy >= OH) continue;
            float* row = yn + (o * OH + oy) * OW;
            for (int64_t j = 0; j < W; ++j) {
              const int64_t ox = j * s - pad + v;
              if (ox >= 0 && ox < OW) row[ox] += c[i * W + j];
            }
          }
        }
  }
  return Status::Ok();
}

// Per image: columns (O·k·k, P) = d_y_n at each input pixel's output positions (im2col); d_W (I, O·k·k) =
// Σ_n x_n·columnsᵀ and d_b = Σ_n Σ_pixels d_y_n (written); d_x_n (I, P) = W·columns (written, or added with
// accumulate_dx).
Status ConvKernel::gemm_backward(float* d_x, float* d_w, float* d_b, const float* d_y, const float* x, const float* w,
                                 int64_t rows, bool accumulate_dx) {
  const int64_t I = g_.in_c, O = g_.out_c, k = g_.kernel, s = g_.stride, pad = g_.padding;
  const int64_t H = g_.in_h, W = g_.in_w, P = H * W, OH = g_.out_h(), OW = g_.out_w(), KK = O * k * k;
  columns_.resize(static_cast<size_t>(KK * P));
  float* col = columns_.data();
  std::fill_n(d_b, O, 0.f);
  for (int64_t n = 0; n < rows; ++n) {
    const float* dyn = d_y + n * O * OH * OW;
    for (int64_t o = 0; o < O; ++o)
      for (int64_t u = 0; u < k; ++u)
        for (int64_t v = 0; v < k; ++v) {
          float* c = col + ((o * k + u) * k + v) * P;
          for (int64_t i = 0; i < H; ++i) {
            const int64_t oy = i * s - pad + u;
            const float* row = dyn + (o * OH + oy) * OW;
            for (int64_t j = 0; j < W; ++j) {
              const int64_t ox = j * s - pad + v;
              c[i * W + j] = oy >= 0 && oy < OH && ox >= 0 && ox < OW ? row[ox] : 0.f;
            }
          }
        }
    for (int64_t o = 0; o < O; ++o) {
      double acc = 0;
      for (int64_t q = 0; q < OH * OW; ++q) acc += dyn[o * OH * OW + q];
      d_b[o] += static_cast<float>(acc);
    }
    LK_RETURN_IF_ERROR(gemm(false, true, I, KK, P, 1.0f, x + n * I * P, col, n == 0 ? 0.0f : 1.0f, d_w));
    if (d_x) LK_RETURN_IF_ERROR(gemm(false, false, I, P, KK, 1.0f, w, col, accumulate_dx ? 1.0f : 0.0f, d_x + n * I * P));
  }
  return Status::Ok();
}

}  // namespace lk
