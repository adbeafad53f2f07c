"""Heatmaps over the image: ``overlay`` and one PNG row image | Grad-CAM | saliency | IG | occlusion.

Rendered through ``cnnlab.viz`` (``as_display_image``, ``new_figure``,
``save_figure``): Agg, no pyplot state.
"""
from __future__ import annotations

import matplotlib
import numpy as np

from cnnlab.viz.figure_io import new_figure, save_figure
from cnnlab.viz.images import as_display_image


def normalize_heatmap(heatmap, clip_percentile: float | None = None) -> np.ndarray:
    """(H, W) -> (H, W) in [0, 1] by min-max (a constant map gives zeros); NaNs become 0.

    clip_percentile: the top is that percentile instead of the maximum, so a
    few extreme gradient pixels do not leave the rest of the map dark.
    """
    h = np.nan_to_num(np.asarray(heatmap, np.float32), nan=0.0)
    if h.ndim != 2:
        raise ValueError(f"Expected one heatmap shaped (H, W); got {h.shape}. Index the batch first.")
    low = float(h.min())
    high = float(h.max() if clip_percentile is None else np.percentile(h, clip_percentile))
    return np.clip((h - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(h)


def overlay(image, heatmap, alpha: float = 0.5, cmap: str = "jet", value_range=(0.0, 1.0),
            clip_percentile: float | None = None) -> np.ndarray:
    """(H, W, 3) in [0, 1]: the image blended with the colour-mapped heatmap (``normalize_heatmap``).

    image: (H, W), (H, W, 1) or (H, W, 3) displayable (``value_range`` maps to [0, 1]); heatmap: (H, W).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    base = as_display_image(image, value_range)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=-1)  # (H, W, 3)
    heat = normalize_heatmap(heatmap, clip_percentile)
    if heat.shape != base.shape[:2]:
        raise ValueError(f"heatmap {heat.shape} and image {base.shape[:2]} differ in size; "
                         "upsample the heatmap to the image first.")
    colours = matplotlib.colormaps[cmap](heat)[..., :3].astype(np.float32)  # (H, W, 3)
    return (1.0 - alpha) * base + alpha * colours


def explanation_figure(image, maps: dict, title: str | None = None, alpha: float = 0.5,
                       clip_percentile: float | None = 99.5, panel_inches: float = 2.6):
    """A one-row figure: the image, then ``overlay(image, map)`` for each ``{name: (H, W)}`` in order."""
    if not maps:
        raise ValueError("maps is empty; give at least one {name: heatmap (H, W)}.")
    panels = [("image", as_display_image(image))]
    panels += [(name, overlay(image, m, alpha, clip_percentile=clip_percentile)) for name, m in maps.items()]
    fig = new_figure(panel_inches * len(panels), panel_inches + (0.5 if title else 0.3))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_explanation_png(out_path, image, maps: dict, title: str | None = None, alpha: float = 0.5,
                         clip_percentile: float | None = 99.5) -> str:
    """Writes ``explanation_figure`` as a PNG; returns the path."""
    return save_figure(explanation_figure(image, maps, title, alpha, clip_percentile), out_path)
