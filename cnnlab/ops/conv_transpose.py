"""Transposed convolution as one stride-1 convolution plus depth-to-space ("sub-pixel").

`conv_transpose` computes exactly `jax.lax.conv_transpose` (NHWC/HWIO, 2-D)
without an input-dilated convolution. A stride-s transposed convolution gives
every output phase (o mod s, per axis) its own sub-kernel (every s-th tap of
the kernel); the s*s phases are stacked as output channels of one ordinary
convolution of the undilated input, then interleaved into the output grid.

Why: XLA:CPU runs the input-dilated form slowly, and its kernel gradient
(an rhs-dilated convolution in a non-canonical layout) far more slowly: it
was 70% of a DCGAN training step on MNIST. Here forward and both gradients
are ordinary stride-1 convolutions plus a gather and reshapes, and the
numbers are the same to float32 rounding (tests/test_ops_conv_transpose.py).
"""
import numpy as np
import jax
import jax.numpy as jnp

from cnnlab.ops import sizes
from cnnlab.ops.conv import conv_general_dilated

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    """Padding of the s-dilated input for 'SAME'/'VALID', as `jax.lax.conv_transpose` uses it."""
    if padding == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    elif padding == "VALID":
        pad_len = k + s - 2 + max(k - s, 0)
        pad_a = k - 1
    else:
        raise ValueError(f"padding must be 'SAME', 'VALID', an int, (ph, pw) or ((top, bottom), (left, right)); "
                         f"got {padding!r}.")
    return pad_a, pad_len - pad_a


def _phase_taps(n: int, k: int, s: int, pad_a: int, pad_b: int):
    """For one axis: output length, phase count, window start `lo`, window `taps[p, j]` (-1 = none)."""
    out = (n - 1) * s + 1 + pad_a + pad_b - k + 1
    if out < 1:
        raise ValueError(f"transposed convolution of an input of size {n} with a kernel of {k}, stride {s} "
                         f"and padding ({pad_a}, {pad_b}) has no output: the kernel is longer than the dilated, "
                         f"padded input; use a smaller kernel, more padding or a larger input.")
    # Output o = s*q + p takes taps t = s*m + r_p at input q + c_p + m (see the module docstring).
    r = [(pad_a - p) % s for p in range(s)]
    c = [(p + r[p] - pad_a) // s for p in range(s)]
    length = [max(0, -(-(k - r[p]) // s)) for p in range(s)]
    lo = min(c)
    window = max(max(c[p] + length[p] for p in range(s)) - lo, 1)
    taps = np.full((s, window), -1, np.int32)
    for p in range(s):
        for m in range(length[p]):
            taps[p, c[p] - lo + m] = s * m + r[p]
    return out, lo, taps


def _window_slice(x, axis: int, start: int, length: int):
    """x[start:start + length] along `axis`, zero-padded where that range leaves the array."""
    n = x.shape[axis]
    before, after = max(0, -start), max(0, start + length - n)
    if before or after:
        pads = [(0, 0)] * x.ndim
        pads[axis] = (before, after)
        x = jnp.pad(x, pads)
        start += before
    return jax.lax.slice_in_dim(x, start, start + length, axis=axis)


def conv_transpose(x, kernel, strides, padding="SAME", transpose_kernel: bool = False, precision=None):
    """`jax.lax.conv_transpose(x, kernel, strides, padding, dimension_numbers=NHWC/HWIO/NHWC, ...)`.

    x (B, H, W, C_in); kernel (kh, kw, C_in, C_out), or (kh, kw, C_out, C_in)
    with ``transpose_kernel=True`` (the gradient-of-a-convolution convention
    of Keras ``Conv2DTranspose`` and PyTorch ``ConvTranspose2d``). padding:
    'SAME', 'VALID', an int, (ph, pw) or ((top, bottom), (left, right)) on the
    dilated input.
    Returns (B, H_out, W_out, C_out): H*s for 'SAME', (H-1)*s + max(kh, s)
    for 'VALID'.
    """
    x, kernel = jnp.asarray(x), jnp.asarray(kernel)
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(f"conv_transpose needs x (B, H, W, C) and a 4-D kernel; got {x.shape} and {kernel.shape}.")
    if transpose_kernel:  # the gradient of a convolution by `kernel`: flip space, swap in/out
        kernel = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
    kh, kw, c_in, c_out = kernel.shape
    if c_in != x.shape[-1]:
        raise ValueError(f"kernel expects {c_in} input channels, x has {x.shape[-1]}.")
    sh, sw = sizes.pair(strides, "stride")
    mode = padding.upper() if isinstance(padding, str) else sizes.normalize_padding(padding)
    if isinstance(mode, str):
        pads = [transpose_padding(k, s, mode) for k, s in ((kh, sh), (kw, sw))]
    else:
        pads = list(mode)
    out_h, lo_h, taps_h = _phase_taps(x.shape[1], kh, sh, *pads[0])
    out_w, lo_w, taps_w = _phase_taps(x.shape[2], kw, sw, *pads[1])
    q_h, q_w = -(-out_h // sh), -(-out_w // sw)  # output rows/columns per phase
    win_h, win_w = taps_h.shape[1], taps_w.shape[1]

    # Sub-kernels of all phases stacked as output channels: (win_h, win_w, C_in, sh*sw*C_out).
    sub = kernel[np.maximum(taps_h, 0)][:, :, np.maximum(taps_w, 0)]  # (sh, win_h, sw, win_w, C_in, C_out)
    mask = (taps_h >= 0)[:, :, None, None] & (taps_w >= 0)[None, None]  # (sh, win_h, sw, win_w)
    sub = jnp.where(mask[..., None, None], sub, jnp.zeros((), sub.dtype))
    sub = sub.transpose(1, 3, 4, 0, 2, 5).reshape(win_h, win_w, c_in, sh * sw * c_out)

    x = _window_slice(x, 1, lo_h, q_h - 1 + win_h)
    x = _window_slice(x, 2, lo_w, q_w - 1 + win_w)
    y = conv_general_dilated(x, sub, (1, 1), "VALID", dimension_numbers=DIMENSION_NUMBERS,
                             precision=precision)  # (B, q_h, q_w, sh*sw*C_out)
    b = y.shape[0]
    y = y.reshape(b, q_h, q_w, sh, sw, c_out).transpose(0, 1, 3, 2, 4, 5).reshape(b, q_h * sh, q_w * sw, c_out)
    return y[:, :out_h, :out_w]


__all__ = ["conv_transpose", "transpose_padding"]
