"""Segmentation figures: image, true mask and predicted mask side by side.

Masks are int (H, W) class maps with 255 = ignore (design contract). Colours
come from the fixed VOC label palette, so class 3 is the same colour in
every figure; a legend names the classes present. ``write_overlays`` runs a
segmentation model over host batches and writes those figures.
"""
import os

import numpy as np
from matplotlib.patches import Patch

from cnnlab.viz.figure_io import new_figure, save_figure
from cnnlab.viz.images import as_display_image
from cnnlab.viz.palette import label_palette

IGNORE_INDEX = 255


def _check_mask(mask, what: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]  # (H, W)
    if m.ndim != 2:
        raise ValueError(f"{what} must be a class map shaped (H, W); got {m.shape}. "
                         "Take argmax over the class axis of logits first.")
    if not np.issubdtype(m.dtype, np.integer):
        if not np.all(m == np.round(m)):
            raise ValueError(f"{what} must hold integer class indices; got non-integer {m.dtype} values.")
        m = m.astype(np.int64)
    if m.size and (m.min() < 0 or m.max() > IGNORE_INDEX):
        raise ValueError(f"{what} values must be class indices in [0, 255] (255 = ignore); "
                         f"got range [{m.min()}, {m.max()}].")
    return m.astype(np.int64)


def colorize_mask(mask) -> np.ndarray:
    """(H, W) class map -> uint8 (H, W, 3) in the VOC palette (255 = ignore, pale cream)."""
    return label_palette(256)[_check_mask(mask, "mask")]


def overlay_mask(image, mask, alpha: float = 0.6) -> np.ndarray:
    """Blends the coloured mask over the image: float (H, W, 3) in [0, 1].

    ``alpha=1`` shows the mask alone, ``alpha=0`` the image alone.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    img = as_display_image(image)
    m = _check_mask(mask, "mask")
    if img.shape[:2] != m.shape:
        raise ValueError(f"Image is {img.shape[:2]} but mask is {m.shape}; they must have the same height and width.")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)  # (H, W, 3)
    colors = colorize_mask(m).astype(np.float32) / 255.0
    return (1.0 - alpha) * img + alpha * colors


def segmentation_figure(image, true_mask, pred_mask, class_names=None, alpha: float = 0.6):
    """The figure of ``plot_segmentation``, returned unsaved."""
    img = as_display_image(image)
    panels = [("image", img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=-1))]
    masks = [("truth", _check_mask(true_mask, "true_mask"))]
    if pred_mask is not None:
        masks.append(("prediction", _check_mask(pred_mask, "pred_mask")))
    for title, m in masks:
        panels.append((title, overlay_mask(img, m, alpha)))

    present = np.unique(np.concatenate([m.ravel() for _, m in masks]))
    palette = label_palette(256).astype(np.float32) / 255.0
    names = [str(n) for n in class_names] if class_names is not None else []

    def label_of(c):
        if c == IGNORE_INDEX:
            return "ignore"
        return names[c] if c < len(names) else f"class {c}"

    handles = [Patch(facecolor=palette[c], edgecolor="black", linewidth=0.5, label=label_of(int(c)))
               for c in present]
    h, w = img.shape[:2]
    panel_w = 3.2
    fig = new_figure(panel_w * len(panels) + 1.8, panel_w * h / w + 0.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, rgb) in zip(axes, panels):
        ax.imshow(np.clip(rgb, 0.0, 1.0), interpolation="nearest")
        ax.set_title(title)
        ax.axis("off")
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    return fig


def plot_segmentation(image, true_mask, pred_mask, out_path, class_names=None,
                      alpha: float = 0.6) -> str:
    """Writes image | truth | prediction panels with a class legend as a PNG.

    The masks are blended over the image with ``alpha`` (1 = plain masks);
    ``pred_mask=None`` draws image and truth only. The legend lists every
    class present in either mask, named by ``class_names`` when given.
    Returns the path.
    """
    return save_figure(segmentation_figure(image, true_mask, pred_mask, class_names, alpha), out_path)


def write_overlays(model, variables, batches, out_dir: str, class_names=None, limit: int = 8,
                   prefix: str = "example") -> list:
    """Predicts masks for ``batches`` and writes image | truth | prediction PNGs.

    model returns logits (B, H, W, K); batches: host batches with ``image``,
    ``mask`` (and ``valid``); the first ``limit`` valid examples are drawn as
    ``<out_dir>/<prefix>_<n>.png``. Returns the written paths.
    """
    import jax
    import jax.numpy as jnp

    if limit < 1:
        raise ValueError(f"limit={limit} must be >= 1.")
    os.makedirs(out_dir, exist_ok=True)
    predict = jax.jit(lambda v, x: jnp.argmax(model.apply(v, x, train=False), axis=-1))
    paths = []
    for batch in batches:
        preds = np.asarray(predict(variables, batch["image"]))  # (B, H, W)
        valid = batch.get("valid", np.ones(len(preds), bool))
        for image, mask, pred, ok in zip(batch["image"], batch["mask"], preds, valid):
            if not ok:
                continue
            path = os.path.join(out_dir, f"{prefix}_{len(paths):03d}.png")
            paths.append(plot_segmentation(image, mask, pred, path, class_names=class_names))
            if len(paths) >= limit:
                return paths
    return paths
