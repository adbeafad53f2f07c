"""oneDNN's convolution kernels (the ones PyTorch runs on CPU) reached from jax through `jax.ffi`.

`onednn_conv.cc` holds three XLA FFI custom calls (forward, backward-data, backward-weights;
NHWC activations, HWIO kernels, float32). It is compiled on first use against the headers of
``pip install -e '.[cpu-kernels]'`` (PyPI's ``onednn`` and ``onednn-devel``) into
``~/.cache/cnnlab/onednn`` (or ``$CNNLAB_ONEDNN_CACHE``), keyed by the source, jax and the
environment prefix, so a later process only loads it. Anything missing (the packages, a C++
compiler) or a failed build makes `status` report why, and `cnnlab.ops.conv` uses XLA.

PyPI's oneDNN is Intel's SYCL build: its CPU engine runs on the Intel OpenCL CPU runtime that
pip installs beside it, which the OpenCL loader finds only when ``OCL_ICD_FILENAMES`` names it;
`load` sets that before oneDNN starts.
"""
import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onednn_conv.cc")
TARGETS = ("Forward", "BackwardData", "BackwardWeights")
INSTALL_HINT = "pip install -e '.[cpu-kernels]' (PyPI's onednn and onednn-devel) and a C++ compiler"


class OnednnUnavailable(RuntimeError):
    """oneDNN, its headers or a C++ compiler is missing, or building the kernels failed."""


def prefix() -> str:
    """The environment prefix whose include/ and lib/ hold oneDNN (where pip puts them)."""
    return os.environ.get("CNNLAB_ONEDNN_PREFIX") or sys.prefix


def cache_dir() -> str:
    """Where the compiled kernels are kept: $CNNLAB_ONEDNN_CACHE or ~/.cache/cnnlab/onednn."""
    if os.environ.get("CNNLAB_ONEDNN_CACHE"):
        return os.environ["CNNLAB_ONEDNN_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "cnnlab", "onednn")


def library_path() -> str:
    """The compiled extension's path for this source, jax version and prefix."""
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read() + jax.__version__.encode() + prefix().encode()).hexdigest()[:16]
    return os.path.join(cache_dir(), f"libcnnlab_onednn_conv-{digest}.so")


def build() -> str:
    """Path of the compiled extension, compiling it first (a few seconds) if there is none."""
    path = library_path()
    if os.path.exists(path):
        return path
    include, lib = os.path.join(prefix(), "include"), os.path.join(prefix(), "lib")
    if not os.path.exists(os.path.join(include, "oneapi", "dnnl", "dnnl.hpp")):
        raise OnednnUnavailable(f"no oneDNN headers under {include}; {INSTALL_HINT}")
    if not os.path.exists(os.path.join(lib, "libdnnl.so")):
        raise OnednnUnavailable(f"no libdnnl.so under {lib}; {INSTALL_HINT}")
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise OnednnUnavailable(f"no C++ compiler found (set CXX or install g++); {INSTALL_HINT}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    cmd = [compiler, "-O2", "-std=c++17", "-shared", "-fPIC", "-w", SOURCE, f"-I{include}",
           f"-I{jax.ffi.include_dir()}", f"-L{lib}", "-ldnnl", f"-Wl,--disable-new-dtags,-rpath,{lib}",
           "-o", tmp]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise OnednnUnavailable(f"compiling {SOURCE} with {compiler} failed: {err}") from err
    if done.returncode:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise OnednnUnavailable(f"compiling {SOURCE} failed (first errors):\n{done.stderr[:2000]}")
    os.replace(tmp, path)  # atomic: processes building at once each install a whole file
    return path


@functools.cache
def status() -> tuple[bool, str]:
    """(loaded, reason): builds and loads the kernels once per process, registering their FFI
    targets with jax; on failure says why, and the kernels stay off for the process."""
    try:
        path = build()
        icd = os.path.join(prefix(), "lib", "libintelocl.so")
        if os.path.exists(icd):
            os.environ.setdefault("OCL_ICD_FILENAMES", icd)
        library = ctypes.cdll.LoadLibrary(path)
        if not library.CnnlabOnednnSelfTest():
            return False, "oneDNN loaded but could not create a CPU engine (no SYCL CPU device)"
        for name in TARGETS:
            jax.ffi.register_ffi_target(f"cnnlab_onednn_conv_{name}",
                                        jax.ffi.pycapsule(getattr(library, f"CnnlabOnednnConv{name}")),
                                        platform="cpu")
    except (OnednnUnavailable, OSError, AttributeError) as err:
        return False, str(err)
    return True, f"oneDNN kernels from {path}"


def _attrs(stride, pads, dilation) -> dict:
    (pt, pb), (pl, pr) = pads
    values = dict(sh=stride[0], sw=stride[1], pt=pt, pb=pb, pl=pl, pr=pr, dh=dilation[0], dw=dilation[1])
    return {k: np.int64(v) for k, v in values.items()}


def _call(name, shape, *args, **attrs):
    out = jax.ShapeDtypeStruct(shape, jnp.float32)
    return jax.ffi.ffi_call(f"cnnlab_onednn_conv_{name}", out, vmap_method="sequential")(*args, **attrs)


def output_shape(x_shape, kernel_shape, stride, pads, dilation) -> tuple:
    """(B, H_out, W_out, O) of a convolution with explicit pads."""
    hw = tuple((x_shape[1 + i] + pads[i][0] + pads[i][1] - (dilation[i] * (kernel_shape[i] - 1) + 1))
               // stride[i] + 1 for i in range(2))
    return (x_shape[0],) + hw + (kernel_shape[3],)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv2d(x, kernel, stride, pads, dilation):
    """x (B, H, W, C) float32, kernel (kh, kw, C, O) -> (B, H_out, W_out, O), in oneDNN.

    stride and dilation are (h, w) pairs, pads ((top, bottom), (left, right)); call `status`
    first (it registers the kernels).
    """
    shape = output_shape(x.shape, kernel.shape, stride, pads, dilation)
    return _call("Forward", shape, x, kernel, **_attrs(stride, pads, dilation))


def _forward(x, kernel, stride, pads, dilation):
    return conv2d(x, kernel, stride, pads, dilation), (x, kernel)


def _backward(stride, pads, dilation, residuals, dy):
    x, kernel = residuals
    attrs = _attrs(stride, pads, dilation)
    return (_call("BackwardData", x.shape, dy, kernel, **attrs),
            _call("BackwardWeights", kernel.shape, x, dy, **attrs))


conv2d.defvjp(_forward, _backward)
