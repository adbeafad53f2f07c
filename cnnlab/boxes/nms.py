"""Greedy non-maximum suppression: numpy (variable length) and jittable (padded).

Both follow one rule set, so they return the same boxes:
  * candidates are boxes with ``score > score_threshold``;
  * they are visited by score, highest first; equal scores keep input order
    (the lower index wins);
  * a candidate is kept unless a box kept before it has IoU > ``iou_threshold``
    with it (strictly greater, as in torchvision); with ``classes`` given only
    boxes of the same class suppress each other (per-class NMS);
  * at most ``max_output`` boxes are kept, the highest scoring ones.
Boxes are (x1, y1, x2, y2); scores must not be nan.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.boxes.iou import elementwise_iou
from cnnlab.boxes.namespace import as_boxes


def _check_inputs(boxes, scores, classes):
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape (N, 4), got {boxes.shape}; use vmap for batches.")
    if scores.shape != boxes.shape[:1]:
        raise ValueError(
            f"scores must have shape (N,) = {boxes.shape[:1]} to match boxes, got {scores.shape}."
        )
    if classes is not None and classes.shape != boxes.shape[:1]:
        raise ValueError(
            f"classes must have shape (N,) = {boxes.shape[:1]} to match boxes, got {classes.shape}."
        )


def nms(boxes, scores, iou_threshold: float = 0.5, score_threshold: float = -np.inf,
        max_output: int | None = None, classes=None) -> np.ndarray:
    """Numpy NMS: indices (int64) of the kept boxes, highest score first.

    boxes (N, 4) xyxy, scores (N,), optional classes (N,) for per-class NMS.
    """
    boxes = np.asarray(as_boxes(boxes), dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    classes = None if classes is None else np.asarray(classes)
    _check_inputs(boxes, scores, classes)
    if np.isnan(scores).any():
        raise ValueError("scores contain nan; replace them (e.g. with -inf) before NMS.")
    if max_output is not None and max_output < 0:
        raise ValueError(f"max_output must be >= 0 or None, got {max_output}.")
    limit = boxes.shape[0] if max_output is None else max_output
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > score_threshold]
    alive = np.ones(order.shape[0], dtype=bool)
    keep = []
    for pos in range(order.shape[0]):
        if len(keep) >= limit:
            break
        if not alive[pos]:
            continue
        i = order[pos]
        keep.append(i)
        rest = order[pos + 1:]
        suppress = elementwise_iou(boxes[i], boxes[rest]) > iou_threshold
        if classes is not None:
            suppress &= classes[rest] == classes[i]
        alive[pos + 1:] &= ~suppress
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes, scores, classes, iou_threshold: float = 0.5,
                score_threshold: float = -np.inf, max_output: int | None = None) -> np.ndarray:
    """Per-class numpy NMS: boxes only suppress boxes of their own class.

    Runs plain NMS once per class and merges the survivors by score (ties by
    index), then keeps the first ``max_output``: the same set the single pass
    ``nms(..., classes=classes)`` returns.
    """
    boxes = np.asarray(as_boxes(boxes), dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    classes = np.asarray(classes)
    _check_inputs(boxes, scores, classes)
    kept = [np.zeros((0,), np.int64)]
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        local = nms(boxes[members], scores[members], iou_threshold, score_threshold, max_output)
        kept.append(members[local])
    kept = np.concatenate(kept)
    kept = kept[np.lexsort((kept, -scores[kept]))]
    return kept if max_output is None else kept[:max_output]


@functools.partial(jax.jit, static_argnames=("max_output",))
def nms_padded(boxes, scores, iou_threshold=0.5, score_threshold=-jnp.inf,
               max_output: int = 100, classes=None):
    """Jittable, vmappable NMS with a fixed-size result.

    boxes (N, 4), scores (N,), optional classes (N,) for per-class NMS.
    Returns (indices int32 (max_output,) into ``boxes``, highest score first and
    padded with -1; count int32 scalar of valid entries). Memory is O(N) and
    the loop stops after ``max_output`` boxes are kept or the scores fall to
    ``score_threshold``; thresholds may be traced values.
    """
    boxes = jnp.asarray(boxes)
    scores = jnp.asarray(scores)
    classes = None if classes is None else jnp.asarray(classes)
    _check_inputs(boxes, scores, classes)
    n = boxes.shape[0]
    indices = jnp.full((max_output,), -1, dtype=jnp.int32)
    if n == 0 or max_output == 0:
        return indices, jnp.zeros((), jnp.int32)
    order = jnp.argsort(scores, descending=True, stable=True).astype(jnp.int32)
    sorted_boxes = boxes[order]  # (N, 4)
    sorted_scores = scores[order]  # (N,)
    sorted_classes = None if classes is None else classes[order]
    alive = sorted_scores > score_threshold  # (N,)
    positions = jnp.arange(n)

    def cond(state):
        i, count, _, _ = state
        in_range = i < n
        above = sorted_scores[jnp.minimum(i, n - 1)] > score_threshold
        return in_range & above & (count < max_output)

    def body(state):
        i, count, alive, indices = state
        keep = alive[i]
        ious = elementwise_iou(sorted_boxes[i], sorted_boxes)  # (N,)
        suppress = (ious > iou_threshold) & (positions > i)
        if sorted_classes is not None:
            suppress &= sorted_classes == sorted_classes[i]
        alive = jnp.where(keep, alive & ~suppress, alive)
        indices = jnp.where(keep, indices.at[count].set(order[i]), indices)
        return i + 1, count + keep.astype(jnp.int32), alive, indices

    state = (jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), alive, indices)
    _, count, _, indices = jax.lax.while_loop(cond, body, state)
    return indices, count
