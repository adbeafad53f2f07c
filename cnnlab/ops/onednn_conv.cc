// oneDNN 2-D convolution (NHWC activations, HWIO kernels, float32) as XLA FFI CPU
// custom calls: forward, backward-data and backward-weights. Primitives are built
// once per shape and cached; every call wraps the XLA buffers without copying.
#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = dnnl::memory::format_tag;

namespace {

dnnl::engine& Engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& Stream() {
  thread_local dnnl::stream s(Engine());
  return s;
}

// Shape key: N, H, W, C, kh, kw, O, Ho, Wo, strides, paddings (t, b, l, r), dilations.
using Key = std::array<int64_t, 17>;

struct Geometry {
  memory::desc src, wei, dst, wei_any;
  memory::dims strides, dilates, pad_l, pad_r;
};

Geometry MakeGeometry(const Key& k) {
  const auto f32 = memory::data_type::f32;
  Geometry g;
  g.src = memory::desc({k[0], k[3], k[1], k[2]}, f32, tag::nhwc);
  g.wei = memory::desc({k[6], k[3], k[4], k[5]}, f32, tag::hwio);
  g.wei_any = memory::desc({k[6], k[3], k[4], k[5]}, f32, tag::any);
  g.dst = memory::desc({k[0], k[6], k[7], k[8]}, f32, tag::nhwc);
  g.strides = {k[9], k[10]};
  g.pad_l = {k[11], k[13]};
  g.pad_r = {k[12], k[14]};
  g.dilates = {k[15] - 1, k[16] - 1};  // oneDNN counts dilation from 0
  return g;
}

// Every primitive gets its scratchpad from the caller (a buffer per thread): oneDNN runs one
// primitive from several threads at once safely only with user-managed scratchpads (unless
// built with DNNL_ENABLE_CONCURRENT_EXEC), and XLA runs independent custom calls, such as a
// block's two branches, at the same time.
dnnl::primitive_attr Attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::convolution_forward::primitive_desc ForwardPd(const Geometry& g) {
  return dnnl::convolution_forward::primitive_desc(
      Engine(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src,
      g.wei_any, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r, Attr());
}

// A primitive with the weights layout it chose (format_tag::any lets oneDNN pick a blocked
// layout, which is what gives its fast brgemm kernels; XLA's buffers are plain HWIO).
struct Entry {
  dnnl::primitive prim;
  memory::desc weights;
  memory::desc scratchpad;
};

Entry MakeForward(const Key& k) {
  auto pd = ForwardPd(MakeGeometry(k));
  return {dnnl::convolution_forward(pd), pd.weights_desc(), pd.scratchpad_desc()};
}

Entry MakeBackwardData(const Key& k) {
  Geometry g = MakeGeometry(k);
  auto pd = dnnl::convolution_backward_data::primitive_desc(
      Engine(), dnnl::algorithm::convolution_direct, g.src, g.wei_any, g.dst, g.strides, g.dilates,
      g.pad_l, g.pad_r, ForwardPd(g), Attr());
  return {dnnl::convolution_backward_data(pd), pd.weights_desc(), pd.scratchpad_desc()};
}

Entry MakeBackwardWeights(const Key& k) {
  Geometry g = MakeGeometry(k);
  auto pd = dnnl::convolution_backward_weights::primitive_desc(
      Engine(), dnnl::algorithm::convolution_direct, g.src, g.wei_any, g.dst, g.strides, g.dilates,
      g.pad_l, g.pad_r, ForwardPd(g), Attr());
  return {dnnl::convolution_backward_weights(pd), pd.diff_weights_desc(), pd.scratchpad_desc()};
}

struct Cache {
  std::mutex mu;
  std::map<Key, std::unique_ptr<Entry>> entries;

  const Entry& Get(const Key& key, Entry (*make)(const Key&)) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = entries.find(key);
    if (it == entries.end()) it = entries.emplace(key, std::make_unique<Entry>(make(key))).first;
    return *it->second;
  }
};

Cache forward_cache, backward_data_cache, backward_weights_cache;

Key MakeKey(ffi::Span<const int64_t> x, ffi::Span<const int64_t> w, ffi::Span<const int64_t> y,
            int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
            int64_t dw) {
  return Key{x[0], x[1], x[2], x[3], w[0], w[1], w[3], y[1], y[2], sh, sw, pt, pb, pl, pr, dh, dw};
}

memory Wrap(const memory::desc& d, const void* data) {
  return memory(d, Engine(), const_cast<void*>(data));
}

// This thread's scratchpad, grown to what the primitive asks for (one per thread, so
// convolutions running at once never share one).
memory Scratchpad(const Entry& e) {
  thread_local std::vector<char> buffer;
  if (buffer.size() < e.scratchpad.get_size()) buffer.resize(e.scratchpad.get_size());
  return memory(e.scratchpad, Engine(), buffer.data());
}

// The HWIO weights in the layout the primitive wants (a reorder into a fresh buffer if needed).
memory WeightsFor(const Entry& e, memory user) {
  if (e.weights == user.get_desc()) return user;
  memory blocked(e.weights, Engine());
  dnnl::reorder(user, blocked).execute(Stream(), user, blocked);
  return blocked;
}

template <typename Fn>
ffi::Error Guard(Fn fn) {
  try {
    fn();
    return ffi::Error::Success();
  } catch (const std::exception& e) {
    return ffi::Error(ffi::ErrorCode::kInternal, std::string("oneDNN: ") + e.what());
  }
}

#define CONV_ATTRS \
  int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw

ffi::Error Forward(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w, ffi::ResultBuffer<ffi::F32> y,
                   CONV_ATTRS) {
  return Guard([&] {
    Key k = MakeKey(x.dimensions(), w.dimensions(), y->dimensions(), sh, sw, pt, pb, pl, pr, dh, dw);
    const Entry& e = forward_cache.Get(k, &MakeForward);
    Geometry g = MakeGeometry(k);
    memory weights = WeightsFor(e, Wrap(g.wei, w.untyped_data()));
    e.prim.execute(Stream(), {{DNNL_ARG_SRC, Wrap(g.src, x.untyped_data())},
                              {DNNL_ARG_WEIGHTS, weights},
                              {DNNL_ARG_DST, Wrap(g.dst, y->untyped_data())},
                              {DNNL_ARG_SCRATCHPAD, Scratchpad(e)}});
    Stream().wait();
  });
}

ffi::Error BackwardData(ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w,
                        ffi::ResultBuffer<ffi::F32> dx, CONV_ATTRS) {
  return Guard([&] {
    Key k = MakeKey(dx->dimensions(), w.dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr, dh, dw);
    const Entry& e = backward_data_cache.Get(k, &MakeBackwardData);
    Geometry g = MakeGeometry(k);
    memory weights = WeightsFor(e, Wrap(g.wei, w.untyped_data()));
    e.prim.execute(Stream(), {{DNNL_ARG_DIFF_DST, Wrap(g.dst, dy.untyped_data())},
                              {DNNL_ARG_WEIGHTS, weights},
                              {DNNL_ARG_DIFF_SRC, Wrap(g.src, dx->untyped_data())},
                              {DNNL_ARG_SCRATCHPAD, Scratchpad(e)}});
    Stream().wait();
  });
}

ffi::Error BackwardWeights(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> dy,
                           ffi::ResultBuffer<ffi::F32> dw_out, CONV_ATTRS) {
  return Guard([&] {
    Key k = MakeKey(x.dimensions(), dw_out->dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr, dh, dw);
    const Entry& e = backward_weights_cache.Get(k, &MakeBackwardWeights);
    Geometry g = MakeGeometry(k);
    memory user = Wrap(g.wei, dw_out->untyped_data());
    memory diff = e.weights == g.wei ? user : memory(e.weights, Engine());
    e.prim.execute(Stream(), {{DNNL_ARG_SRC, Wrap(g.src, x.untyped_data())},
                              {DNNL_ARG_DIFF_DST, Wrap(g.dst, dy.untyped_data())},
                              {DNNL_ARG_DIFF_WEIGHTS, diff},
                              {DNNL_ARG_SCRATCHPAD, Scratchpad(e)}});
    if (diff != user) dnnl::reorder(diff, user).execute(Stream(), diff, user);
    Stream().wait();
  });
}

}  // namespace

// 1 if oneDNN can create its CPU engine here (checked before any kernel is registered).
extern "C" int CnnlabOnednnSelfTest() {
  try {
    Engine();
    return 1;
  } catch (...) {
    return 0;
  }
}

#define BIND_ATTRS(b)                                                                         \
  b.Attr<int64_t>("sh").Attr<int64_t>("sw").Attr<int64_t>("pt").Attr<int64_t>("pb")           \
      .Attr<int64_t>("pl").Attr<int64_t>("pr").Attr<int64_t>("dh").Attr<int64_t>("dw")

XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnlabOnednnConvForward, Forward,
                              BIND_ATTRS(ffi::Ffi::Bind()
                                             .Arg<ffi::Buffer<ffi::F32>>()
                                             .Arg<ffi::Buffer<ffi::F32>>()
                                             .Ret<ffi::Buffer<ffi::F32>>()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnlabOnednnConvBackwardData, BackwardData,
                              BIND_ATTRS(ffi::Ffi::Bind()
                                             .Arg<ffi::Buffer<ffi::F32>>()
                                             .Arg<ffi::Buffer<ffi::F32>>()
                                             .Ret<ffi::Buffer<ffi::F32>>()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(CnnlabOnednnConvBackwardWeights, BackwardWeights,
                              BIND_ATTRS(ffi::Ffi::Bind()
                                             .Arg<ffi::Buffer<ffi::F32>>()
                                             .Arg<ffi::Buffer<ffi::F32>>()
                                             .Ret<ffi::Buffer<ffi::F32>>()));
