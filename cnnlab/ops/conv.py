"""Fast convolution in jax: NHWC images, HWIO kernels, via `jax.lax.conv_general_dilated`.

All functions are pure and jittable (stride, padding, dilation and groups
are static Python values). The numpy loops in `cnnlab.ops.reference` are the
ground truth they are tested against.
"""
import jax.numpy as jnp
from jax import lax

from cnnlab.ops import sizes

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


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
    y = lax.conv_general_dilated(
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


__all__ = ["conv2d", "filter_image", "depthwise_filter_image", "zero_pad"]
