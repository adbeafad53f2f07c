"""Slow, readable numpy references for convolution and pooling.

The loops spell out what a convolutional layer computes, one output pixel at
a time. They are the ground truth the fast jax ops (`cnnlab.ops.conv`,
`cnnlab.ops.pool`) are tested against; use them on small inputs only.

Convolution here is cross-correlation (the kernel is not flipped), as in
every deep-learning framework and the classic lessons.
"""
import numpy as np

from cnnlab.ops import sizes


def multiply_sum(patch, kernel):
    """One output pixel: the element-wise product of a patch and a same-shaped kernel, summed."""
    patch = np.asarray(patch)
    kernel = np.asarray(kernel)
    if patch.shape != kernel.shape:
        raise ValueError(
            f"patch shape {patch.shape} must equal kernel shape {kernel.shape}")
    return np.sum(patch * kernel)


def convolve(image, kernel):
    """'Valid' cross-correlation of one image with one filter: output size = input - filter + 1.

    Grey: image (H, W), kernel (kh, kw). Colour: image (H, W, C), kernel
    (kh, kw, C); the products are summed over channels too, so the output is
    2-D either way: (H - kh + 1, W - kw + 1).
    """
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    sizes.check_filter_shapes(image.shape, kernel.shape)
    kh, kw = kernel.shape[:2]
    out_h, out_w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    dtype = np.result_type(image.dtype, kernel.dtype, np.float32)
    out = np.zeros((out_h, out_w), dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = multiply_sum(image[i:i + kh, j:j + kw], kernel)
    return out


def _check_nhwc(x, what="x"):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"{what} must be a batch of images (B, H, W, C), got shape {x.shape}; "
            f"add a batch axis with x[None] for a single image")
    return x


def conv2d_reference(x, kernel, bias=None, stride=1, padding="VALID", dilation=1, groups=1):
    """General NHWC convolution with loops: stride, padding, dilation and groups.

    x (B, H, W, C_in); kernel HWIO (kh, kw, C_in // groups, C_out); bias
    (C_out,). Padding specs as in `cnnlab.ops.sizes`. Computes in float64.
    Returns (B, H_out, W_out, C_out).
    """
    x = _check_nhwc(x).astype(np.float64)
    kernel = np.asarray(kernel, np.float64)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be HWIO (kh, kw, C_in // groups, C_out), got shape {kernel.shape}")
    b, h, w, c_in = x.shape
    kh, kw, k_in, c_out = kernel.shape
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    if c_in % groups or c_out % groups or k_in * groups != c_in:
        raise ValueError(
            f"with groups={groups}, input channels {c_in} and output channels {c_out} must be "
            f"divisible by groups and the kernel must have C_in // groups = {c_in // groups} input "
            f"channels; got kernel shape {kernel.shape}")
    sh, sw = sizes.pair(stride, "stride")
    dh, dw = sizes.pair(dilation, "dilation")
    (pt, pb), (pl, pr) = sizes.explicit_padding(padding, (h, w), (kh, kw), (sh, sw), (dh, dw))
    out_h = sizes.conv_output_size(h, kh, sh, (pt, pb), dh)
    out_w = sizes.conv_output_size(w, kw, sw, (pl, pr), dw)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))  # (B, H + pt + pb, W + pl + pr, C_in)
    g_in, g_out = c_in // groups, c_out // groups
    out = np.zeros((b, out_h, out_w, c_out))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh, j * sw
            patch = xp[:, top:top + (kh - 1) * dh + 1:dh, left:left + (kw - 1) * dw + 1:dw, :]  # (B, kh, kw, C_in)
            for g in range(groups):
                p = patch[..., g * g_in:(g + 1) * g_in]  # (B, kh, kw, g_in)
                k = kernel[..., g * g_out:(g + 1) * g_out]  # (kh, kw, g_in, g_out)
                out[:, i, j, g * g_out:(g + 1) * g_out] = np.tensordot(p, k, axes=([1, 2, 3], [0, 1, 2]))
    if bias is not None:
        bias = np.asarray(bias, np.float64)
        if bias.shape != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},), got {bias.shape}")
        out = out + bias
    return out


def _pool_reference(x, window, stride, padding, reduce):
    """Slides a window over H and W, reducing only the elements inside the input (padding is ignored)."""
    x = _check_nhwc(x).astype(np.float64)
    b, h, w, c = x.shape
    wh, ww = sizes.pair(window, "window")
    sh, sw = sizes.pair(window if stride is None else stride, "stride")
    (pt, pb), (pl, pr) = sizes.explicit_padding(padding, (h, w), (wh, ww), (sh, sw))
    sizes.check_pool_padding((pt, pb, pl, pr), (wh, ww))
    out_h = sizes.pool_output_size(h, wh, sh, (pt, pb))
    out_w = sizes.pool_output_size(w, ww, sw, (pl, pr))
    out = np.zeros((b, out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * sh - pt, j * sw - pl
            rows = slice(max(top, 0), min(top + wh, h))
            cols = slice(max(left, 0), min(left + ww, w))
            out[:, i, j, :] = reduce(x[:, rows, cols, :], axis=(1, 2))
    return out


def max_pool_reference(x, window, stride=None, padding="VALID"):
    """Max pooling over (B, H, W, C) with loops; stride defaults to the window."""
    return _pool_reference(x, window, stride, padding, np.max)


def avg_pool_reference(x, window, stride=None, padding="VALID"):
    """Average pooling over (B, H, W, C) with loops, counting only real (unpadded) pixels, as Keras does."""
    return _pool_reference(x, window, stride, padding, np.mean)


__all__ = [
    "multiply_sum",
    "convolve",
    "conv2d_reference",
    "max_pool_reference",
    "avg_pool_reference",
]
