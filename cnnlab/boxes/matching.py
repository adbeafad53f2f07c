"""Anchor-to-ground-truth matching for training anchor-based detectors (jittable).

SSD / Faster R-CNN rule: an anchor whose best IoU with any real ground truth
is >= ``positive_threshold`` is matched to that box (the lowest index among
equal IoUs); below ``negative_threshold`` it is background; in between it is
ignored. With ``force_match`` every real ground truth also claims the anchor
it overlaps most (if the IoU is > 0), so small boxes get at least one anchor;
when two ground truths claim one anchor, the later one wins.
"""
import jax
import jax.numpy as jnp

from cnnlab.boxes.iou import pairwise_iou

BACKGROUND = -1
IGNORED = -2


def match_anchors(anchors, gt_boxes, gt_labels, positive_threshold=0.5,
                  negative_threshold=None, force_match: bool = True):
    """Matched ground-truth index per anchor -> int32 (A,): >= 0 matched, -1 background, -2 ignored.

    anchors (A, 4) and gt_boxes (N, 4) xyxy in the same coordinates; gt_labels
    (N,) int with -1 marking padding rows (the data contract for ``box_labels``).
    ``negative_threshold`` defaults to ``positive_threshold`` (no ignore band).
    Use ``jax.vmap`` over a batch of ground truths with shared anchors.
    """
    anchors = jnp.asarray(anchors)
    gt_boxes = jnp.asarray(gt_boxes)
    gt_labels = jnp.asarray(gt_labels)
    if anchors.ndim != 2 or anchors.shape[-1] != 4:
        raise ValueError(f"anchors must have shape (A, 4), got {anchors.shape}.")
    if gt_boxes.ndim != 2 or gt_boxes.shape[-1] != 4:
        raise ValueError(f"gt_boxes must have shape (N, 4), got {gt_boxes.shape}; vmap over batches.")
    if gt_labels.shape != gt_boxes.shape[:1]:
        raise ValueError(f"gt_labels must have shape {gt_boxes.shape[:1]}, got {gt_labels.shape}.")
    if negative_threshold is None:
        negative_threshold = positive_threshold
    num_anchors, num_gt = anchors.shape[0], gt_boxes.shape[0]
    if num_gt == 0:
        return jnp.full((num_anchors,), BACKGROUND, jnp.int32)
    valid = gt_labels >= 0  # (N,)
    iou = jnp.where(valid[None, :], pairwise_iou(anchors, gt_boxes), -1.0)  # (A, N)
    best_gt = jnp.argmax(iou, axis=1).astype(jnp.int32)  # (A,)
    best_iou = jnp.max(iou, axis=1)  # (A,)
    matched = jnp.where(
        best_iou >= positive_threshold,
        best_gt,
        jnp.where(best_iou < negative_threshold, BACKGROUND, IGNORED),
    ).astype(jnp.int32)
    if not force_match:
        return matched
    best_anchor = jnp.argmax(iou, axis=0)  # (N,)
    best_anchor_iou = jnp.max(iou, axis=0)  # (N,)

    def claim(j, matched):
        a = best_anchor[j]
        wins = valid[j] & (best_anchor_iou[j] > 0)
        return matched.at[a].set(jnp.where(wins, j, matched[a]).astype(jnp.int32))

    return jax.lax.fori_loop(0, num_gt, claim, matched)
