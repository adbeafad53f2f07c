"""A library of named, hand-made filters and one function to apply them to an image.

Every kernel is float32 and read-only; `get_filter(name)` returns a fresh,
writable copy. Grey filters are (kh, kw); colour filters are (kh, kw, C)
and are summed over channels (the lessons' colour convolution).

Sign conventions (cross-correlation, row 0 at the top):
- ``horizontal_line`` / ``vertical_line``: +6 on a one-pixel bright line of
  that orientation on a dark background, 0 on flat regions and on lines of
  the other orientation.
- ``sobel_horizontal`` / ``prewitt_horizontal``: positive where the image is
  brighter above than below (a horizontal edge); the ``_vertical`` kernels
  are their transposes: positive where brighter on the left than the right.
  ``sobel_*_flipped`` reverse the sign (dark-to-bright edges).
- ``brown``: a colour filter, see `brown_filter`.
"""
import types

import numpy as np

from cnnlab.ops import conv, reference, sizes


def _frozen(array):
    """A float32, read-only copy, so the library's kernels cannot be changed by accident."""
    array = np.array(array, np.float32)
    array.setflags(write=False)
    return array


def box_kernel(size=3):
    """A size x size mean filter (every weight 1 / size**2): a box blur that sums to 1."""
    size = sizes.pair(size, "size")[0]
    return np.full((size, size), 1.0 / size**2, np.float32)


def gaussian_kernel(size=5, sigma=1.0):
    """A normalised size x size Gaussian blur: exp(-(x**2 + y**2) / (2 sigma**2)), summing to 1.

    ``size`` must be odd so the kernel has a centre pixel.
    """
    size = sizes.pair(size, "size")[0]
    if size % 2 == 0:
        raise ValueError(f"Gaussian kernel size must be odd so it has a centre, got {size}")
    if not sigma > 0:
        raise ValueError(f"Gaussian sigma must be positive, got {sigma!r}")
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2  # (size,)
    g = np.exp(-ax**2 / (2.0 * sigma**2))
    k = np.outer(g, g)  # (size, size), separable
    return (k / k.sum()).astype(np.float32)


def brown_filter():
    """A 3x3 colour filter that lights up on brown (and other warm colours) and goes negative on blue.

    Written the way the lessons write colour filters, channel first (C, kh, kw)
    -- red weight +1, green +0.5, blue -1.5, each averaged over the 3x3 patch
    -- then moved to (kh, kw, C) with ``transpose((1, 2, 0))``. On a uniform
    patch of colour (r, g, b) the response is r + 0.5 g - 1.5 b: a brown
    (0.6, 0.3, 0.1) gives +0.6, a blue (0.1, 0.2, 0.8) gives -1.0, and every
    shade of grey gives exactly 0 because the weights sum to zero.
    """
    ones = np.ones((3, 3)) / 9.0
    chw = np.stack([1.0 * ones, 0.5 * ones, -1.5 * ones])  # (C, kh, kw) = (3, 3, 3)
    return chw.transpose((1, 2, 0)).astype(np.float32)  # (kh, kw, C)


_HORIZONTAL_LINE = np.array([[-1, -1, -1],
                             [2, 2, 2],
                             [-1, -1, -1]])
_PREWITT_HORIZONTAL = np.array([[1, 1, 1],
                                [0, 0, 0],
                                [-1, -1, -1]])
_SOBEL_HORIZONTAL = np.array([[1, 2, 1],
                              [0, 0, 0],
                              [-1, -2, -1]])

FILTERS = types.MappingProxyType({
    "horizontal_line": _frozen(_HORIZONTAL_LINE),
    "vertical_line": _frozen(_HORIZONTAL_LINE.T),
    "prewitt_horizontal": _frozen(_PREWITT_HORIZONTAL),
    "prewitt_vertical": _frozen(_PREWITT_HORIZONTAL.T),
    "sobel_horizontal": _frozen(_SOBEL_HORIZONTAL),
    "sobel_vertical": _frozen(_SOBEL_HORIZONTAL.T),
    "sobel_horizontal_flipped": _frozen(np.flipud(_SOBEL_HORIZONTAL)),
    "sobel_vertical_flipped": _frozen(np.fliplr(_SOBEL_HORIZONTAL.T)),
    "laplacian": _frozen([[0, 1, 0],
                          [1, -4, 1],
                          [0, 1, 0]]),
    "box_blur": _frozen(box_kernel(3)),
    "gaussian_blur": _frozen(gaussian_kernel(5, 1.0)),
    "sharpen": _frozen([[0, -1, 0],
                        [-1, 5, -1],
                        [0, -1, 0]]),
    "emboss": _frozen([[-2, -1, 0],
                       [-1, 1, 1],
                       [0, 1, 2]]),
    "brown": _frozen(brown_filter()),
})

DESCRIPTIONS = types.MappingProxyType({
    "horizontal_line": "thin horizontal bright lines",
    "vertical_line": "thin vertical bright lines",
    "prewitt_horizontal": "horizontal edges, brighter above (Prewitt)",
    "prewitt_vertical": "vertical edges, brighter on the left (Prewitt)",
    "sobel_horizontal": "horizontal edges, brighter above (Sobel)",
    "sobel_vertical": "vertical edges, brighter on the left (Sobel)",
    "sobel_horizontal_flipped": "horizontal edges, brighter below (Sobel, flipped)",
    "sobel_vertical_flipped": "vertical edges, brighter on the right (Sobel, flipped)",
    "laplacian": "edges and spots in every direction (second derivative)",
    "box_blur": "3x3 mean blur",
    "gaussian_blur": "5x5 Gaussian blur, sigma 1",
    "sharpen": "sharpen: centre minus neighbours",
    "emboss": "emboss: relief lit from the bottom right",
    "brown": "colour filter: brown and warm colours up, blue down, grey zero",
})


def available():
    """The names of the library's filters, in a stable order."""
    return tuple(FILTERS)


def get_filter(name):
    """A writable float32 copy of the named filter: (kh, kw) for grey filters, (kh, kw, C) for colour."""
    if name not in FILTERS:
        raise ValueError(
            f"unknown filter {name!r}; available filters: {', '.join(available())}")
    return np.array(FILTERS[name])


def describe(name):
    """A one-line description of what the named filter responds to."""
    get_filter(name)  # validates the name
    return DESCRIPTIONS[name]


def apply_filter(image, kernel, impl="jax"):
    """Filters one image with 'valid' convolution, with the jax op or the numpy reference loops.

    image (H, W) with kernel (kh, kw) -> (H', W'); image (H, W, C) with a
    colour kernel (kh, kw, C) -> (H', W'); image (H, W, C) with a grey kernel
    (kh, kw) filters each channel separately -> (H', W', C). H' = H - kh + 1.
    Returns a float32 numpy array.
    """
    if impl not in ("jax", "numpy"):
        raise ValueError(f"impl must be 'jax' or 'numpy', got {impl!r}")
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    per_channel = image.ndim == 3 and kernel.ndim == 2
    if per_channel:
        sizes.check_filter_shapes(image.shape[:2], kernel.shape)
        if impl == "numpy":
            out = np.stack([reference.convolve(image[..., c], kernel)
                            for c in range(image.shape[-1])], axis=-1)  # (H', W', C)
        else:
            out = conv.depthwise_filter_image(image, kernel)
    else:
        sizes.check_filter_shapes(image.shape, kernel.shape)
        fn = reference.convolve if impl == "numpy" else conv.filter_image
        out = fn(image, kernel)
    return np.asarray(out, np.float32)


__all__ = [
    "FILTERS",
    "DESCRIPTIONS",
    "available",
    "get_filter",
    "describe",
    "apply_filter",
    "box_kernel",
    "gaussian_kernel",
    "brown_filter",
]
