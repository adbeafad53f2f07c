"""Anchor boxes on feature-map grids, for single- and multi-level detectors.

Anchors are normalised (x1, y1, x2, y2) relative to the image. On a feature
map of size (fh, fw) anchor centres sit at ((x + offset) / fw, (y + offset) / fh);
each location carries the same ``A`` shapes. The flat order is
(level, y, x, shape), which is what a head's output (B, fh, fw, A * 4)
reshaped to (B, fh * fw * A, 4) and concatenated over levels lines up with.
Anchors are constants, so these are numpy (float32) functions.
"""
from collections.abc import Sequence

import numpy as np


def anchor_shapes(scales, aspect_ratios) -> np.ndarray:
    """(width, height) of every scale x aspect-ratio pair -> (A, 2), scale-major.

    An aspect ratio is width / height; a box of scale s and ratio r has
    w = s * sqrt(r), h = s / sqrt(r), so its area is s**2.
    """
    scales = np.atleast_1d(np.asarray(scales, dtype=np.float64))
    ratios = np.atleast_1d(np.asarray(aspect_ratios, dtype=np.float64))
    if scales.ndim != 1 or ratios.ndim != 1 or scales.size == 0 or ratios.size == 0:
        raise ValueError("scales and aspect_ratios must be non-empty numbers or 1-D sequences.")
    if (scales <= 0).any() or (ratios <= 0).any():
        raise ValueError(f"scales and aspect_ratios must be positive, got {scales} and {ratios}.")
    root = np.sqrt(ratios)
    widths = scales[:, None] * root[None, :]
    heights = scales[:, None] / root[None, :]
    return np.stack([widths.ravel(), heights.ravel()], axis=-1).astype(np.float32)


def grid_anchors(feature_size: Sequence[int], shapes, offset: float = 0.5) -> np.ndarray:
    """Anchors for one feature map: ``shapes`` (A, 2) at every cell -> (fh * fw * A, 4)."""
    if len(feature_size) != 2 or min(feature_size) < 1:
        raise ValueError(f"feature_size must be (height, width) >= 1, got {feature_size}.")
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 2 or shapes.shape[1] != 2:
        raise ValueError(f"shapes must be (A, 2) widths and heights, got shape {shapes.shape}.")
    fh, fw = int(feature_size[0]), int(feature_size[1])
    cy = (np.arange(fh, dtype=np.float64) + offset) / fh
    cx = (np.arange(fw, dtype=np.float64) + offset) / fw
    cy, cx = np.meshgrid(cy, cx, indexing="ij")  # (fh, fw)
    centres = np.stack([cx, cy, cx, cy], axis=-1)[:, :, None, :]  # (fh, fw, 1, 4)
    half = np.concatenate([-shapes / 2, shapes / 2], axis=-1)[None, None]  # (1, 1, A, 4)
    return (centres + half).reshape(-1, 4).astype(np.float32)


def multilevel_anchors(feature_sizes, scales, aspect_ratios=(0.5, 1.0, 2.0),
                       offset: float = 0.5, clip: bool = False) -> np.ndarray:
    """Anchors for several feature maps, concatenated level by level -> (total, 4).

    feature_sizes: one (fh, fw) per level. scales: one entry per level, each a
    number or a sequence of numbers (fractions of the image side).
    aspect_ratios: one sequence shared by all levels, or one sequence per level.
    clip: clip anchors to [0, 1].
    """
    feature_sizes = list(feature_sizes)
    scales = list(scales)
    if len(scales) != len(feature_sizes):
        raise ValueError(
            f"scales needs one entry per feature map: {len(feature_sizes)} maps, {len(scales)} entries."
        )
    per_level = (len(aspect_ratios) == len(feature_sizes)
                 and all(isinstance(r, Sequence) or np.ndim(r) == 1 for r in aspect_ratios))
    ratios = list(aspect_ratios) if per_level else [aspect_ratios] * len(feature_sizes)
    levels = [grid_anchors(size, anchor_shapes(s, r), offset)
              for size, s, r in zip(feature_sizes, scales, ratios)]
    anchors = np.concatenate(levels, axis=0)
    return np.clip(anchors, 0.0, 1.0) if clip else anchors


def anchors_per_location(scales, aspect_ratios) -> int:
    """A, the number of anchors each cell of one level gets: len(scales) * len(ratios)."""
    return int(np.atleast_1d(scales).size * np.atleast_1d(aspect_ratios).size)


def linear_scales(num_levels: int, min_scale: float = 0.2, max_scale: float = 0.9) -> np.ndarray:
    """SSD's scales s_k = min + (max - min) * k / (L - 1), k = 0..L-1 -> (L,)."""
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}.")
    if num_levels == 1:
        return np.asarray([min_scale], dtype=np.float64)
    return np.linspace(min_scale, max_scale, num_levels)
