"""Tiling many small images into one grid image, and writing grids as PNG.

``vis_square`` is the filter/activation view of the VGG lesson (one
normalisation for the whole figure, square layout); ``image_grid`` lays out
samples of a generative model. Both build on ``tile_images``.
"""
import math

import matplotlib
import numpy as np
from PIL import Image

from cnnlab.viz.figure_io import check_png_path
from cnnlab.viz.images import as_display_batch, to_uint8


def _check_tiles(tiles) -> np.ndarray:
    arr = np.asarray(tiles)
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]  # (N, H, W)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3):
        raise ValueError(
            f"Expected tiles shaped (N, H, W), (N, H, W, 1) or (N, H, W, 3); got {arr.shape}. "
            "For a conv kernel use filter_grid, for a feature map activation_grid.")
    if arr.shape[0] == 0:
        raise ValueError("Got zero tiles (N = 0); pass at least one.")
    return arr


def tile_images(tiles, ncols: int | None = None, padding: int = 1,
                pad_value: float = 1.0) -> np.ndarray:
    """Lays N tiles row by row into one image, ``padding`` pixels between tiles.

    tiles: (N, H, W) or (N, H, W, 3). ``ncols`` defaults to ceil(sqrt(N)); rows
    are ceil(N / ncols). Gaps and empty trailing slots hold ``pad_value``.
    Returns (rows*H + (rows-1)*padding, ncols*W + (ncols-1)*padding[, 3]),
    float32; values are not rescaled.
    """
    arr = _check_tiles(tiles).astype(np.float32)
    if padding < 0:
        raise ValueError(f"padding must be >= 0; got {padding}.")
    n, h, w = arr.shape[:3]
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1; got {ncols}.")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    out_shape = (nrows * h + (nrows - 1) * padding, ncols * w + (ncols - 1) * padding) + arr.shape[3:]
    grid = np.full(out_shape, pad_value, dtype=np.float32)
    for k in range(n):
        r, c = divmod(k, ncols)
        top, left = r * (h + padding), c * (w + padding)
        grid[top:top + h, left:left + w] = arr[k]
    return grid


def normalize01(data) -> np.ndarray:
    """Rescales the whole array so its minimum is 0 and maximum 1 (all zeros if constant).

    NaNs become 0 after rescaling; infinities are not allowed.
    """
    arr = np.asarray(data, dtype=np.float32)
    if np.isinf(arr).any():
        raise ValueError("Cannot normalise data holding infinities; check the layer output.")
    finite = arr[~np.isnan(arr)]
    if finite.size == 0:
        return np.zeros_like(arr)
    low, high = float(finite.min()), float(finite.max())
    if high == low:
        return np.zeros_like(arr)
    return np.nan_to_num((arr - low) / (high - low), nan=0.0)


def vis_square(data, padding: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Normalises (N, H, W[, 3]) to [0, 1] over the whole figure and tiles it square-ish.

    One normalisation for all tiles keeps their relative strengths visible,
    as in the VGG lesson. ``pad_value`` is in the normalised scale (1 = white).
    Returns the tiled (H', W'[, 3]) array from ``tile_images``.
    """
    arr = _check_tiles(data)
    return tile_images(normalize01(arr), padding=padding, pad_value=pad_value)


def grid_to_rgb(grid, cmap: str | None = None) -> np.ndarray:
    """(H, W) or (H, W, 3) in [0, 1] -> uint8 (H, W, 3); a 2-D grid goes through ``cmap``.

    ``cmap=None`` renders a 2-D grid in grey; a name such as 'viridis' picks a
    matplotlib colormap.
    """
    arr = np.clip(np.asarray(grid, dtype=np.float32), 0.0, 1.0)
    if arr.ndim == 3 and arr.shape[-1] == 3:
        if cmap is not None:
            raise ValueError("cmap applies to 2-D (grey) grids only; this grid already has colour.")
        return to_uint8(arr)
    if arr.ndim != 2:
        raise ValueError(f"Expected a grid shaped (H, W) or (H, W, 3); got {arr.shape}.")
    if cmap is None:
        return np.repeat(to_uint8(arr)[..., None], 3, axis=-1)
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"Unknown matplotlib colormap {cmap!r}; try 'gray', 'viridis' or 'magma'.") from None
    return to_uint8(colormap(arr)[..., :3])


def save_grid_png(grid, out_path, scale: int | None = None, cmap: str | None = None) -> str:
    """Writes a [0, 1] grid image as a PNG, each pixel a ``scale x scale`` block.

    ``scale=None`` picks the smallest integer that makes the longer side at
    least 256 pixels (1 for grids already that large), so tiny filter grids
    stay visible without blurring. Returns the path.
    """
    rgb = grid_to_rgb(grid, cmap)  # (H, W, 3) uint8
    h, w = rgb.shape[:2]
    if scale is None:
        scale = max(1, math.ceil(256 / max(h, w)))
    if scale < 1:
        raise ValueError(f"scale must be an integer >= 1; got {scale}.")
    rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    path = check_png_path(out_path)
    Image.fromarray(rgb).save(path, format="PNG")
    return path


def image_grid(images, nrow: int, out_path, padding: int = 2, pad_value: float = 1.0,
               value_range=(0.0, 1.0), scale: int | None = None) -> str:
    """Writes a grid of samples (e.g. from a generator) as one PNG; returns the path.

    images: (N, H, W, C) with C in {1, 3}, or (N, H, W). ``nrow`` is the number
    of images in each row (torchvision's meaning). ``value_range`` maps to
    [0, 1] (use (-1, 1) for tanh outputs); nothing is renormalised, so sample
    grids from different steps compare directly.
    """
    if int(nrow) < 1:
        raise ValueError(f"nrow (images per row) must be >= 1; got {nrow}.")
    display = as_display_batch(images, value_range)  # (N, H, W[, 3]) in [0, 1]
    grid = tile_images(display, ncols=int(nrow), padding=padding, pad_value=pad_value)
    return save_grid_png(grid, out_path, scale=scale)
