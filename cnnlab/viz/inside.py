"""Figures of the "look inside a network" lesson: first-layer filters and named activations.

``filters_figure`` shows a first-layer kernel (kh, kw, 3, F) as one colour
tile per filter (``filter_grid``, i.e. ``vis_square``); ``activations_figure``
shows the input photo and, per named layer, its feature map channels as a
grey grid (``activation_grid``), so early edge/colour detectors and late,
coarse class-specific maps sit side by side.
"""
import numpy as np

from cnnlab.viz.activations import activation_grid, filter_grid
from cnnlab.viz.figure_io import new_figure, save_figure


def filters_figure(kernel, out_path, title: str = "", inches: float = 4.0) -> str:
    """PNG of a first-layer kernel (kh, kw, 3, F): one colour tile per filter, upscaled for display."""
    grid = filter_grid(kernel)  # (H', W', 3) normalised over all filters
    fig = new_figure(inches, inches + 0.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid, interpolation="nearest")
    ax.set_title(title or f"{np.asarray(kernel).shape[-1]} filters {np.asarray(kernel).shape[:3]}", fontsize=8)
    ax.axis("off")
    return save_figure(fig, out_path)


def activations_figure(photo, maps: dict, out_path, max_channels: int = 64) -> str:
    """PNG: the photo (H, W, 3) in [0, 1], then each named map (h, w, C) as a grid of channels."""
    fig = new_figure(3.2 * (len(maps) + 1), 3.6)
    ax = fig.add_subplot(1, len(maps) + 1, 1)
    ax.imshow(np.clip(photo, 0, 1))
    ax.set_title("input", fontsize=9)
    ax.axis("off")
    for i, (name, fmap) in enumerate(maps.items(), start=2):
        fmap = np.asarray(fmap)
        ax = fig.add_subplot(1, len(maps) + 1, i)
        ax.imshow(activation_grid(fmap, max_channels=max_channels), cmap="viridis")
        ax.set_title(f"{name} {tuple(fmap.shape)}", fontsize=9)
        ax.axis("off")
    return save_figure(fig, out_path)
