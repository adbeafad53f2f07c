"""Drawing detection boxes, their class names and scores, on an image.

Boxes follow the library convention (x1, y1, x2, y2), normalised to [0, 1]
by default; ``normalized=False`` takes pixel coordinates. Labels of -1 mark
padding (as in batches) and are skipped. Each class has a fixed colour.
``draw_predictions`` writes one PNG per image of a detector's batched output
(``cnnlab.tasks.detection.predict``).
"""
import os

import numpy as np
from matplotlib.patches import Rectangle

from cnnlab.viz.figure_io import new_figure, save_figure
from cnnlab.viz.images import as_display_image
from cnnlab.viz.palette import class_color


def boxes_to_pixels(boxes, height: int, width: int, normalized: bool = True) -> np.ndarray:
    """(N, 4) boxes (x1, y1, x2, y2) -> pixel coordinates, float64 (N, 4).

    Normalised boxes scale x by ``width`` and y by ``height``; pixel boxes are
    returned as they are. Rejects boxes with x2 < x1 or y2 < y1, and
    "normalised" boxes far above 1 (pixel boxes passed by mistake).
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"Boxes must be shaped (N, 4) as (x1, y1, x2, y2); got {b.shape}.")
    if ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
        raise ValueError(
            "Found boxes with x2 < x1 or y2 < y1; boxes must be (x1, y1, x2, y2) "
            "(convert (y1, x1, y2, x2) or (x, y, w, h) first).")
    if normalized:
        if b.size and b.max() > 1.5:
            raise ValueError(
                f"Normalised boxes should lie in [0, 1] but reach {b.max():.1f}; "
                "pass normalized=False for pixel coordinates.")
        return b * np.array([width, height, width, height], dtype=np.float64)
    return b


def _valid(labels, n: int, what: str) -> np.ndarray:
    labels = np.asarray(labels).astype(np.int64)
    if labels.shape != (n,):
        raise ValueError(f"{what} must be shaped ({n},), one per box; got {labels.shape}.")
    return labels


def _draw(ax, boxes_px, labels, scores, names, dashed: bool):
    for i, (x1, y1, x2, y2) in enumerate(boxes_px):
        if labels[i] < 0:
            continue
        color = class_color(labels[i])
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color,
                               linewidth=2, linestyle="--" if dashed else "-"))
        text = names[labels[i]] if labels[i] < len(names) else str(labels[i])
        if scores is not None:
            text += f" {scores[i]:.2f}"
        ax.text(x1, y2 if dashed else y1, text, fontsize=8, color="white",
                va="top" if dashed else "bottom", ha="left",
                bbox=dict(facecolor=color, edgecolor="none", pad=1.0, alpha=0.85))


def boxes_figure(image, boxes, labels, scores=None, class_names=None,
                 normalized: bool = True, score_threshold: float = 0.0,
                 true_boxes=None, true_labels=None, min_size: int = 512):
    """The figure of ``draw_boxes``, returned unsaved."""
    img = as_display_image(image)  # (H, W[, 3])
    h, w = img.shape[:2]
    b = boxes_to_pixels(boxes, h, w, normalized)
    lab = _valid(labels, len(b), "labels")
    sc = None
    if scores is not None:
        sc = np.asarray(scores, dtype=np.float64)
        if sc.shape != (len(b),):
            raise ValueError(f"scores must be shaped ({len(b)},), one per box; got {sc.shape}.")
        lab = np.where(sc >= score_threshold, lab, -1)
    names = [str(n) for n in class_names] if class_names is not None else []

    scale = max(1.0, min_size / max(h, w))
    dpi = 100
    fig = new_figure(w * scale / dpi, h * scale / dpi, dpi=dpi, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0,
              extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    if true_boxes is not None:
        tb = boxes_to_pixels(true_boxes, h, w, normalized)
        if true_labels is None:
            raise ValueError("true_boxes need true_labels (one class index per box).")
        _draw(ax, tb, _valid(true_labels, len(tb), "true_labels"), None, names, dashed=True)
    _draw(ax, b, lab, sc, names, dashed=False)
    return fig


def draw_boxes(image, boxes, labels, out_path, scores=None, class_names=None,
               normalized: bool = True, score_threshold: float = 0.0,
               true_boxes=None, true_labels=None, min_size: int = 512) -> str:
    """Writes ``image`` with its boxes, class names and scores drawn on it as a PNG.

    image (H, W[, C]) in [0, 1] or uint8; boxes (N, 4); labels (N,) with -1
    for padding; scores (N,) optional, boxes under ``score_threshold`` are
    hidden. Optional ``true_boxes``/``true_labels`` are drawn dashed with
    their name under the box, for comparing predictions with ground truth.
    The image is upscaled so its longer side is at least ``min_size``
    pixels. Returns the path.
    """
    fig = boxes_figure(image, boxes, labels, scores, class_names, normalized, score_threshold,
                       true_boxes, true_labels, min_size)
    return save_figure(fig, out_path, dpi=fig.dpi)


def draw_predictions(images, predictions, out_dir, class_names, *, score_threshold: float = 0.3,
                     true_boxes=None, true_labels=None, names=None) -> list:
    """One PNG per image with its predicted boxes, class names and scores (and dashed truths).

    predictions: batched detections {"boxes" (N, M, 4) normalised, "scores"
    (N, M), "labels" (N, M) with -1 padding}; boxes scoring under
    ``score_threshold`` are hidden. true_boxes/true_labels (N, G, 4)/(N, G)
    with -1 padding are drawn dashed. Files are ``<out_dir>/<name>.png`` with
    ``names[i]`` or ``prediction_<i>``. Returns the paths.
    """
    images = np.asarray(images)
    if names is not None and len(names) != len(images):
        raise ValueError(f"names has {len(names)} entries for {len(images)} images; give one name per image.")
    if (true_boxes is None) != (true_labels is None):
        raise ValueError("true_boxes and true_labels go together: give both or neither.")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        labels = np.asarray(predictions["labels"][i])
        scores = np.asarray(predictions["scores"][i])
        shown = (labels >= 0) & (scores >= score_threshold)
        name = names[i] if names is not None else f"prediction_{i:03d}"
        truth = {}
        if true_boxes is not None:
            real = np.asarray(true_labels[i]) >= 0
            truth = {"true_boxes": np.asarray(true_boxes[i])[real], "true_labels": np.asarray(true_labels[i])[real]}
        paths.append(draw_boxes(image, np.clip(np.asarray(predictions["boxes"][i])[shown], 0, 1),
                                labels[shown], os.path.join(out_dir, f"{name}.png"),
                                scores=scores[shown], class_names=class_names, **truth))
    return paths
