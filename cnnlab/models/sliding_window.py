"""The sliding-window detector of the lesson: score every window with a classifier, threshold, NMS.

The baseline that single-stage detectors replace: slide square windows of
several sizes over the image (stride a fraction of the window), resize each
crop to the classifier's input size, score it with an objectness (or
background + classes) classifier, keep windows above ``threshold`` and
remove overlapping duplicates with NMS. Every window is a separate
classifier call, which is why it is slow, and boxes can only be as good as
the window grid, which is why it is imprecise.

``training_windows`` cuts labelled crops out of a detection batch (windows
overlapping an object by IoU >= ``positive_iou`` are that object's class,
those below ``negative_iou`` background), the data to train the
classifier on with the classification task.
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.boxes import batched_nms, nms, pairwise_iou


def window_boxes(image_size, window_sizes: Sequence[int], stride_fraction: float = 0.25) -> np.ndarray:
    """Pixel (x1, y1, x2, y2) of every window, size by size, row-major -> float32 (N, 4)."""
    height, width = int(image_size[0]), int(image_size[1])
    if not 0 < stride_fraction <= 1:
        raise ValueError(f"stride_fraction must lie in (0, 1], got {stride_fraction}.")
    out = []
    for size in window_sizes:
        size = int(size)
        if not 1 <= size <= min(height, width):
            raise ValueError(f"window size {size} must lie in [1, {min(height, width)}] for a "
                             f"{height}x{width} image.")
        stride = max(1, int(round(size * stride_fraction)))
        ys = np.arange(0, height - size + 1, stride)
        xs = np.arange(0, width - size + 1, stride)
        if ys[-1] != height - size:  # always reach the bottom and right edges
            ys = np.append(ys, height - size)
        if xs[-1] != width - size:
            xs = np.append(xs, width - size)
        y, x = np.meshgrid(ys, xs, indexing="ij")
        out.append(np.stack([x, y, x + size, y + size], -1).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def crop_windows(image, boxes, out_size) -> jax.Array:
    """Pixel ``boxes`` (N, 4) cut out of ``image`` (H, W, C), resized to ``out_size`` -> (N, h, w, C)."""
    image = jnp.asarray(image, jnp.float32)
    out_h, out_w = int(out_size[0]), int(out_size[1])

    def one(box):
        scale = jnp.stack([out_h / (box[3] - box[1]), out_w / (box[2] - box[0])])
        translation = -jnp.stack([box[1], box[0]]) * scale
        return jax.image.scale_and_translate(image, (out_h, out_w, image.shape[-1]), (0, 1),
                                             scale, translation, method="linear", antialias=True)

    return jax.vmap(one)(jnp.asarray(boxes, jnp.float32))


def sliding_window_detect(score_fn: Callable, image, window_sizes: Sequence[int], input_size, *,
                          stride_fraction: float = 0.25, threshold: float = 0.5,
                          iou_threshold: float = 0.3, batch_size: int = 512,
                          max_output: int | None = None) -> dict:
    """Detections of one image (H, W, C) in [0, 1] -> {'boxes' (D, 4) normalised, 'scores', 'labels'}.

    score_fn(crops (n, h, w, C)) returns objectness (n,) (labels are then 0)
    or class probabilities (n, 1 + K) with column 0 the background, in which
    case a window's score is 1 - p(background), its label the best object
    class, and NMS runs per class.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"sliding_window_detect takes one (H, W, C) image, got shape {image.shape}.")
    height, width = image.shape[:2]
    windows = window_boxes((height, width), window_sizes, stride_fraction)  # (N, 4) pixels
    scores, labels = [], []
    for start in range(0, len(windows), batch_size):
        out = np.asarray(score_fn(crop_windows(image, windows[start:start + batch_size], input_size)))
        if out.ndim == 1:
            scores.append(out)
            labels.append(np.zeros(len(out), np.int64))
        elif out.ndim == 2 and out.shape[1] >= 2:
            scores.append(1.0 - out[:, 0])
            labels.append(np.argmax(out[:, 1:], axis=1))
        else:
            raise ValueError(f"score_fn must return (n,) objectness or (n, 1 + K) probabilities, "
                             f"got shape {out.shape}.")
    scores = np.concatenate(scores).astype(np.float64)
    labels = np.concatenate(labels)
    per_class = labels.max(initial=0) > 0
    keep = (batched_nms(windows, scores, labels, iou_threshold, threshold, max_output) if per_class
            else nms(windows, scores, iou_threshold, threshold, max_output))
    scale = np.array([width, height, width, height], np.float32)
    return {"boxes": windows[keep] / scale, "scores": scores[keep], "labels": labels[keep]}


def training_windows(images, boxes, box_labels, window_sizes: Sequence[int], input_size, *,
                     stride_fraction: float = 0.5, positive_iou: float = 0.5,
                     negative_iou: float = 0.3) -> dict:
    """Labelled crops for the window classifier from a detection batch.

    images (B, H, W, C); boxes (B, N, 4) normalised; box_labels (B, N), -1 padding.
    Returns {'image': (M, h, w, C), 'label': (M,) with 0 = background and
    k + 1 = class k}; windows with IoU in [negative_iou, positive_iou) are left out.
    """
    images = np.asarray(images, np.float32)
    height, width = images.shape[1:3]
    windows = window_boxes((height, width), window_sizes, stride_fraction)  # (W, 4) pixels
    scale = np.array([width, height, width, height], np.float32)
    crops, targets = [], []
    for image, b, lab in zip(images, np.asarray(boxes), np.asarray(box_labels)):
        real = lab >= 0
        if real.any():
            iou = np.asarray(pairwise_iou(windows, b[real] * scale))  # (W, n)
            best, cls = iou.max(axis=1), lab[real][iou.argmax(axis=1)]
        else:
            best, cls = np.zeros(len(windows)), np.zeros(len(windows), np.int64)
        target = np.where(best >= positive_iou, cls + 1, 0)
        chosen = (best >= positive_iou) | (best < negative_iou)
        if chosen.any():
            crops.append(np.asarray(crop_windows(image, windows[chosen], input_size)))
            targets.append(target[chosen])
    return {"image": np.concatenate(crops), "label": np.concatenate(targets).astype(np.int32)}
