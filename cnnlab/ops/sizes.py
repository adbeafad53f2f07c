"""Output-size, padding and parameter-count arithmetic for convolution and pooling.

Plain Python integers only, so the same rules serve the numpy references, the
jax ops and model summaries. Padding specs accepted everywhere in `cnnlab.ops`:

- ``'valid'`` / ``'VALID'``: no padding;
- ``'same'`` / ``'SAME'``: the TF/Keras rule, output = ceil(n / stride), extra
  padding (if odd) goes after (bottom/right);
- an int ``p``: ``p`` on every side;
- ``(ph, pw)``: ``ph`` above and below, ``pw`` left and right;
- ``((top, bottom), (left, right))``: fully explicit.
"""
import math


def _positive_int(value, name):
    """Returns ``value`` as an int, or raises if it is not a positive integer."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def _nonnegative_int(value, name):
    """Returns ``value`` as an int, or raises if it is not an integer >= 0."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return value


def pair(value, name):
    """Returns ``(a, b)`` from an int or a 2-sequence of positive ints (window, stride, dilation)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return _positive_int(value[0], name), _positive_int(value[1], name)
    v = _positive_int(value, name)
    return v, v


def effective_size(f, dilation=1):
    """Extent covered by a filter of size ``f`` with ``dilation``: (f - 1) * d + 1."""
    return (_positive_int(f, "filter size") - 1) * _positive_int(dilation, "dilation") + 1


def same_padding(n, f, stride=1, dilation=1):
    """The TF/Keras 'same' padding ``(before, after)`` for one spatial axis.

    The output has ceil(n / stride) positions; the total padding needed for
    that is split evenly, with the odd pixel going after (bottom/right).
    """
    n = _positive_int(n, "input size")
    stride = _positive_int(stride, "stride")
    f_eff = effective_size(f, dilation)
    out = -(-n // stride)  # ceil(n / stride)
    total = max((out - 1) * stride + f_eff - n, 0)
    return total // 2, total - total // 2


def normalize_padding(padding):
    """Returns ``'VALID'``, ``'SAME'`` or ``((top, bottom), (left, right))`` from any padding spec."""
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ("VALID", "SAME"):
            raise ValueError(
                f"padding must be 'valid', 'same', an int, (ph, pw) or "
                f"((top, bottom), (left, right)); got {padding!r}")
        return upper
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(
                f"padding must have two entries (height, width), got {padding!r}")
        if all(isinstance(p, (tuple, list)) for p in padding):
            pads = []
            for p in padding:
                if len(p) != 2:
                    raise ValueError(
                        f"explicit padding must be ((top, bottom), (left, right)), got {padding!r}")
                pads.append((_nonnegative_int(p[0], "padding"), _nonnegative_int(p[1], "padding")))
            return tuple(pads)
        ph = _nonnegative_int(padding[0], "padding")
        pw = _nonnegative_int(padding[1], "padding")
        return (ph, ph), (pw, pw)
    p = _nonnegative_int(padding, "padding")
    return (p, p), (p, p)


def explicit_padding(padding, in_hw, window_hw, stride_hw=(1, 1), dilation_hw=(1, 1)):
    """Resolves any padding spec to ``((top, bottom), (left, right))`` for an input of size ``in_hw``."""
    padding = normalize_padding(padding)
    if padding == "VALID":
        return (0, 0), (0, 0)
    if padding == "SAME":
        return tuple(same_padding(n, f, s, d)
                     for n, f, s, d in zip(in_hw, window_hw, stride_hw, dilation_hw))
    return padding


def _output_size(n, f, stride, padding, dilation, what):
    n = _positive_int(n, "input size")
    stride = _positive_int(stride, "stride")
    f_eff = effective_size(f, dilation)
    if isinstance(padding, str):
        mode = normalize_padding(padding)
        if mode == "SAME":
            return -(-n // stride)
        total = 0
    elif isinstance(padding, (tuple, list)):
        if len(padding) != 2 or isinstance(padding[0], (tuple, list)):
            raise ValueError(
                f"padding for one axis must be an int, 'valid', 'same' or (before, after); got {padding!r}")
        total = _nonnegative_int(padding[0], "padding") + _nonnegative_int(padding[1], "padding")
    else:
        total = 2 * _nonnegative_int(padding, "padding")
    if n + total < f_eff:
        raise ValueError(
            f"{what} of size {f_eff} (dilated) does not fit an input of size {n} with "
            f"total padding {total}; use a smaller {what}, more padding or a larger input")
    return (n + total - f_eff) // stride + 1


def conv_output_size(n, f, stride=1, padding=0, dilation=1):
    """Output size of a convolution along one axis: floor((n + 2p - f_eff) / s) + 1.

    ``padding`` is an int ``p`` (both sides), ``(before, after)``, ``'valid'``
    (p = 0) or ``'same'`` (ceil(n / s)); ``f_eff = (f - 1) * dilation + 1``.
    """
    return _output_size(n, f, stride, padding, dilation, "filter")


def pool_output_size(n, window, stride=None, padding="valid"):
    """Output size of a pooling layer along one axis; ``stride`` defaults to ``window`` (as in Keras)."""
    stride = window if stride is None else stride
    return _output_size(n, window, stride, padding, 1, "pooling window")


def conv_params(f, c_in, c_out, bias=True, groups=1, kw=None):
    """Number of trainable parameters of a conv layer: (kh * kw * c_in / groups + bias) * c_out.

    ``f`` is the square filter size, or the height ``kh`` when ``kw`` is given,
    or a pair ``(kh, kw)``. With ``groups = c_in = c_out`` this is a depthwise
    convolution.
    """
    if kw is not None:
        if isinstance(f, (tuple, list)):
            raise ValueError(f"give the filter as f=(kh, kw) or as f=kh, kw=kw, not both (f={f!r}, kw={kw!r})")
        kh, kw = _positive_int(f, "filter height"), _positive_int(kw, "filter width")
    else:
        kh, kw = pair(f, "filter size")
    c_in = _positive_int(c_in, "c_in")
    c_out = _positive_int(c_out, "c_out")
    groups = _positive_int(groups, "groups")
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide both c_in={c_in} and c_out={c_out}")
    return (kh * kw * (c_in // groups) + int(bool(bias))) * c_out


def check_filter_shapes(image_shape, kernel_shape):
    """Checks an image/filter pair for the lessons' 'valid' convolution; raises ValueError naming the problem.

    Grey: image (H, W) with kernel (kh, kw); colour: image (H, W, C) with
    kernel (kh, kw, C). The kernel must fit inside the image.
    """
    image_shape, kernel_shape = tuple(image_shape), tuple(kernel_shape)
    if len(image_shape) not in (2, 3):
        raise ValueError(
            f"image must be grey (H, W) or colour (H, W, C), got shape {image_shape}")
    if len(kernel_shape) != len(image_shape):
        if len(kernel_shape) == 3:
            raise ValueError(
                f"kernel of shape {kernel_shape} is a colour filter and needs a colour image "
                f"(H, W, {kernel_shape[2]}); got a grey image of shape {image_shape}")
        raise ValueError(
            f"kernel must be (kh, kw) for a grey image or (kh, kw, C) for a colour image; "
            f"got kernel {kernel_shape} for image {image_shape}")
    if len(image_shape) == 3 and image_shape[2] != kernel_shape[2]:
        raise ValueError(
            f"image has {image_shape[2]} channels but the kernel has {kernel_shape[2]}; "
            f"give a kernel of shape (kh, kw, {image_shape[2]})")
    if min(kernel_shape[:2]) < 1 or kernel_shape[0] > image_shape[0] or kernel_shape[1] > image_shape[1]:
        raise ValueError(
            f"kernel {kernel_shape[:2]} must be non-empty and fit inside the image {image_shape[:2]}")


def check_pool_padding(pads, window_hw):
    """Raises unless every padding amount is smaller than the window, so no window is all padding."""
    top, bottom, left, right = pads
    wh, ww = window_hw
    if max(top, bottom) >= wh or max(left, right) >= ww:
        raise ValueError(
            f"pooling padding {((top, bottom), (left, right))} must be smaller than the window "
            f"{(wh, ww)} on each side, or some windows would hold only padding")


__all__ = [
    "conv_output_size",
    "pool_output_size",
    "same_padding",
    "conv_params",
    "normalize_padding",
    "explicit_padding",
    "effective_size",
    "pair",
    "check_filter_shapes",
    "check_pool_padding",
]
