"""A PNG figure of an image, the filter applied to it, and the filter's response, side by side.

Built with `cnnlab.viz.figure_io` (Agg canvas, no pyplot state), so it works
headless and inside tests.
"""
import numpy as np

from cnnlab.viz import figure_io

_CHANNEL_NAMES = ("R", "G", "B", "A")


def _show_image(ax, image, title):
    """Grey (H, W) in a grey colormap on [0, 1], colour (H, W, 3) as is (clipped to [0, 1])."""
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(np.clip(image, 0.0, 1.0))
    ax.set_title(title)
    ax.set_axis_off()


def _show_kernel(fig, ax, kernel):
    """A (kh, kw) kernel as a heat map with its weights written in; (kh, kw, C) as C maps side by side."""
    if kernel.ndim == 2:
        panels, labels = [kernel], [""]
    else:
        panels = [kernel[..., c] for c in range(kernel.shape[-1])]
        labels = [_CHANNEL_NAMES[c] if c < len(_CHANNEL_NAMES) else str(c) for c in range(len(panels))]
    kh, kw = kernel.shape[:2]
    gap = np.full((kh, 1), np.nan)
    tiles = [panels[0]]
    for p in panels[1:]:
        tiles += [gap, p]
    mosaic = np.concatenate(tiles, axis=1)  # (kh, C * kw + C - 1)
    limit = float(np.max(np.abs(kernel))) or 1.0
    im = ax.imshow(mosaic, cmap="coolwarm", vmin=-limit, vmax=limit)
    if kh * kw <= 49:
        for c, p in enumerate(panels):
            for i in range(kh):
                for j in range(kw):
                    ax.text(c * (kw + 1) + j, i, f"{p[i, j]:.2g}", ha="center", va="center", fontsize=8)
    title = "kernel" if kernel.ndim == 2 else "kernel per channel: " + " | ".join(labels)
    ax.set_title(title)
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def filter_response_figure(image, response, kernel=None, title=None):
    """Builds the figure: input, kernel (when given) and response in one row.

    image (H, W) or (H, W, 3) in [0, 1]; response (H', W') shown in grey with
    a colour bar of its real values, or (H', W', 3) (one response per channel)
    rescaled to [0, 1] for display. Returns a matplotlib Figure.
    """
    image = np.asarray(image, np.float32)
    response = np.asarray(response, np.float32)
    if image.ndim not in (2, 3) or response.ndim not in (2, 3):
        raise ValueError(
            f"image and response must be (H, W) or (H, W, C); got {image.shape} and {response.shape}")
    if not np.all(np.isfinite(response)):
        raise ValueError("the filter response has NaN or infinite values")
    columns = 3 if kernel is not None else 2
    fig = figure_io.new_figure(4.8 * columns, 4.8)
    axes = fig.subplots(1, columns)
    _show_image(axes[0], image, f"input {image.shape[0]}x{image.shape[1]}")
    if kernel is not None:
        _show_kernel(fig, axes[1], np.asarray(kernel, np.float32))
    ax = axes[-1]
    if response.ndim == 2:
        im = ax.imshow(response, cmap="gray")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(f"response {response.shape[0]}x{response.shape[1]}")
    else:
        low, high = float(response.min()), float(response.max())
        shown = (response - low) / (high - low) if high > low else np.zeros_like(response)
        ax.imshow(shown)
        ax.set_title(f"response per channel, rescaled from [{low:.2g}, {high:.2g}]")
    ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def plot_filter_response(image, response, out_path, kernel=None, title=None):
    """Writes `filter_response_figure` as the PNG ``out_path`` (parent folders created); returns the path."""
    fig = filter_response_figure(image, response, kernel=kernel, title=title)
    return figure_io.save_figure(fig, out_path)


__all__ = ["filter_response_figure", "plot_filter_response"]
