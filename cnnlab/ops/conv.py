"""Fast convolution in jax: NHWC images, HWIO kernels.

`conv_general_dilated` is `lax.conv_general_dilated` with oneDNN's kernels on CPU where they
apply (`cnnlab.ops.onednn`; float32, NHWC/HWIO, no groups, one device, at least
`ONEDNN_MIN_FLOPS`) and XLA's everywhere else; every cnnlab model's convolutions go through
it. `backend()` says which one runs and why. ``CNNLAB_CONV_BACKEND`` = ``auto`` (the
default), ``xla`` or ``onednn`` (every covered call, whatever its size; fails, naming the
reason, where oneDNN cannot run).

All functions are pure and jittable (stride, padding, dilation and groups
are static Python values). The numpy loops in `cnnlab.ops.reference` are the
ground truth they are tested against.
"""
import contextlib
import math
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from cnnlab.ops import sizes

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
# Below this many forward FLOPs per call (auto mode) XLA's kernels are faster: the MNIST
# convnet at batch 64 (25-285 MFLOP per layer) trains at 0.78x with oneDNN's, the CIFAR-10
# convnet at batch 128 (0.2-2.1 GFLOP) at 1.2x (benchmarks/README.md). CNNLAB_CONV_BACKEND=onednn
# sends every covered call to oneDNN.
ONEDNN_MIN_FLOPS = 3e8
BACKENDS = ("auto", "xla", "onednn")


class Backend(NamedTuple):
    """Which kernels cnnlab's convolutions use in this process ('onednn' or 'xla'), and why."""
    name: str
    reason: str


def _requested() -> str:
    """CNNLAB_CONV_BACKEND, checked: 'auto' (unset), 'xla' or 'onednn'."""
    wanted = os.environ.get("CNNLAB_CONV_BACKEND", "auto")
    if wanted not in BACKENDS:
        raise ValueError(f"CNNLAB_CONV_BACKEND={wanted!r} is not one of {BACKENDS}; unset it for 'auto'.")
    return wanted


@contextlib.contextmanager
def backend_override(name: str):
    """Within the block, convolutions traced use backend `name` (CNNLAB_CONV_BACKEND), e.g. to
    trace one program with XLA's kernels and another with oneDNN's in one process; the
    previous setting comes back afterwards. Programs already traced keep their kernels."""
    if name not in BACKENDS:
        raise ValueError(f"backend {name!r} is not one of {BACKENDS}")
    before = os.environ.get("CNNLAB_CONV_BACKEND")
    os.environ["CNNLAB_CONV_BACKEND"] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ["CNNLAB_CONV_BACKEND"]
        else:
            os.environ["CNNLAB_CONV_BACKEND"] = before


def backend() -> Backend:
    """The convolution backend for float32 NHWC convolutions traced now, with the reason."""
    wanted = _requested()
    if wanted == "xla":
        return Backend("xla", "CNNLAB_CONV_BACKEND=xla")
    if jax.default_backend() != "cpu":
        why = f"the default device is {jax.default_backend()}, and the oneDNN kernels are CPU kernels"
    elif jax.device_count() != 1:
        why = (f"{jax.device_count()} devices: the oneDNN custom calls are opaque to XLA's sharding, "
               f"so they run only where one device holds the whole computation")
    else:
        from cnnlab.ops import onednn
        loaded, why = onednn.status()
        if loaded:
            return Backend("onednn", why)
    if wanted == "onednn":
        raise RuntimeError(f"CNNLAB_CONV_BACKEND=onednn, but oneDNN cannot run: {why}.")
    return Backend("xla", why)


def _onednn_applies(lhs, rhs, lhs_dilation, dimension_numbers, feature_group_count, batch_group_count,
                    preferred_element_type) -> bool:
    """Whether this `lax.conv_general_dilated` call is one the oneDNN kernels compute."""
    if lhs.ndim != 4 or rhs.ndim != 4 or dimension_numbers is None:
        return False
    dims = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    nhwc_hwio = (tuple(dims.lhs_spec) == (0, 3, 1, 2) and tuple(dims.rhs_spec) == (3, 2, 0, 1)
                 and tuple(dims.out_spec) == (0, 3, 1, 2))
    return (nhwc_hwio and lhs.dtype == jnp.float32 and rhs.dtype == jnp.float32
            and feature_group_count == 1 and batch_group_count == 1
            and (lhs_dilation is None or tuple(lhs_dilation) == (1, 1))
            and preferred_element_type in (None, jnp.float32)
            and min(lhs.shape) > 0 and min(rhs.shape) > 0)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None):
    """`lax.conv_general_dilated` (same arguments and numbers), in oneDNN where `backend()`
    allows and the call is float32 NHWC/HWIO without groups; in XLA otherwise."""
    if (_onednn_applies(lhs, rhs, lhs_dilation, dimension_numbers, feature_group_count,
                        batch_group_count, preferred_element_type) and backend().name == "onednn"):
        from cnnlab.ops import onednn
        dilation = tuple(int(d) for d in (rhs_dilation or (1, 1)))
        strides = tuple(int(s) for s in window_strides)
        if isinstance(padding, str):
            window = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:2], dilation)]
            padding = lax.padtype_to_pads(lhs.shape[1:3], window, strides, padding)
        pads = tuple(tuple(int(v) for v in p) for p in padding)
        out = onednn.output_shape(lhs.shape, rhs.shape, strides, pads, dilation)
        flops = 2 * math.prod(out) * math.prod(rhs.shape[:3])  # forward multiply-adds x 2
        big_enough = flops >= ONEDNN_MIN_FLOPS or _requested() == "onednn"
        if all(p >= 0 for pair in pads for p in pair) and big_enough:
            return onednn.conv2d(lhs, rhs, strides, pads, dilation)
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                    dimension_numbers, feature_group_count, batch_group_count,
                                    precision, preferred_element_type)


def _float_dtype(*arrays):
    """The common floating dtype of the arrays (integer images become float32)."""
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32


def conv2d(x, kernel, bias=None, stride=1, padding="VALID", dilation=1, groups=1, precision=None):
    """2-D convolution (cross-correlation) of a batch of images.

    x (B, H, W, C_in); kernel HWIO (kh, kw, C_in // groups, C_out); bias
    (C_out,) or None. ``padding``: 'VALID', 'SAME' (TF/Keras rule), an int,
    (ph, pw) or ((top, bottom), (left, right)). ``groups`` splits the
    channels into independent convolutions (groups = C_in is depthwise).
    Returns (B, H_out, W_out, C_out), sizes as `sizes.conv_output_size`.
    """
    x = jnp.asarray(x)
    kernel = jnp.asarray(kernel)
    if x.ndim != 4:
        raise ValueError(
            f"x must be a batch of images (B, H, W, C), got shape {x.shape}; "
            f"add a batch axis with x[None] for a single image")
    if kernel.ndim != 4:
        raise ValueError(
            f"kernel must be HWIO (kh, kw, C_in // groups, C_out), got shape {kernel.shape}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    c_in, (kh, kw, k_in, c_out) = x.shape[-1], kernel.shape
    if c_in % groups or c_out % groups or k_in * groups != c_in:
        raise ValueError(
            f"with groups={groups}, input channels {c_in} and output channels {c_out} must be "
            f"divisible by groups and the kernel must have C_in // groups = {c_in // groups} input "
            f"channels; got kernel shape {kernel.shape}")
    stride_hw = sizes.pair(stride, "stride")
    dilation_hw = sizes.pair(dilation, "dilation")
    pads = sizes.explicit_padding(padding, x.shape[1:3], (kh, kw), stride_hw, dilation_hw)
    for n, f, s, p, d in zip(x.shape[1:3], (kh, kw), stride_hw, pads, dilation_hw):
        sizes.conv_output_size(n, f, s, p, d)  # raises a clear error when the filter does not fit
    mode = sizes.normalize_padding(padding)
    dtype = _float_dtype(x, kernel)
    y = conv_general_dilated(
        x.astype(dtype), kernel.astype(dtype),
        window_strides=stride_hw,
        padding=mode if isinstance(mode, str) else list(mode),
        rhs_dilation=dilation_hw,
        dimension_numbers=DIMENSION_NUMBERS,
        feature_group_count=groups,
        precision=precision)  # (B, H_out, W_out, C_out)
    if bias is not None:
        bias = jnp.asarray(bias)
        if bias.shape != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},), got {bias.shape}")
        y = y + bias.astype(dtype)
    return y


def filter_image(image, kernel, precision=None):
    """The jax twin of `reference.convolve`: 'valid' filtering of one grey or colour image.

    Grey: image (H, W), kernel (kh, kw). Colour: image (H, W, C), kernel
    (kh, kw, C), summed over channels. Returns (H - kh + 1, W - kw + 1).
    """
    image = jnp.asarray(image)
    kernel = jnp.asarray(kernel)
    sizes.check_filter_shapes(image.shape, kernel.shape)
    if image.ndim == 2:
        image = image[:, :, None]  # (H, W, 1)
        kernel = kernel[:, :, None]  # (kh, kw, 1)
    y = conv2d(image[None], kernel[..., None], precision=precision)  # (1, H', W', 1)
    return y[0, :, :, 0]


def depthwise_filter_image(image, kernel, precision=None):
    """Applies one 2-D filter to each channel of a colour image separately (a depthwise conv).

    image (H, W, C), kernel (kh, kw) -> (H - kh + 1, W - kw + 1, C).
    """
    image = jnp.asarray(image)
    kernel = jnp.asarray(kernel)
    if image.ndim != 3 or kernel.ndim != 2:
        raise ValueError(
            f"depthwise filtering needs a colour image (H, W, C) and a 2-D kernel (kh, kw); "
            f"got image {image.shape} and kernel {kernel.shape}")
    sizes.check_filter_shapes(image.shape[:2], kernel.shape)
    c = image.shape[-1]
    hwio = jnp.broadcast_to(kernel[:, :, None, None], kernel.shape + (1, c))  # (kh, kw, 1, C)
    return conv2d(image[None], hwio, groups=c, precision=precision)[0]


def zero_pad(x, pad):
    """Pads the H and W axes of (B, H, W, C) with zeros, like Keras ZeroPadding2D.

    ``pad``: an int, (ph, pw) or ((top, bottom), (left, right)).
    """
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be (B, H, W, C), got shape {x.shape}")
    pads = sizes.normalize_padding(pad)
    if isinstance(pads, str):
        raise ValueError(f"zero_pad needs explicit amounts (an int or pairs), got {pad!r}")
    return jnp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))  # (B, H + pt + pb, W + pl + pr, C)


__all__ = ["backend", "backend_override", "conv_general_dilated", "conv2d", "filter_image", "depthwise_filter_image", "zero_pad"]
