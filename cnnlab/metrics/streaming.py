"""Jittable per-batch metric sums that add across batches and devices.

Every function returns plain arrays of counts or sums (no averages), so the
train/eval step can return them, ``psum`` them across devices or add them on
the host, and the finalisers in ``classification`` and ``segmentation`` turn
the totals into scores. ``valid`` is the eval batches' (B,) bool mask for
padding rows; rows with ``valid == False`` add nothing.

Counts are int32 on device (jax's default without x64); add each batch's
counts into an int64 numpy total on the host for evaluation sets beyond
2**31 items (segmentation pixels).
"""
import jax.numpy as jnp


def _weights(labels, valid):
    """(N,) int32 weights: 1 for counted rows, 0 for padding."""
    if valid is None:
        return jnp.ones(labels.shape, jnp.int32)
    valid = jnp.asarray(valid)
    if valid.shape != labels.shape:
        raise ValueError(f"valid must have the labels' shape {labels.shape}, got {valid.shape}.")
    return valid.astype(jnp.int32)


def confusion_counts(labels, preds, num_classes: int, valid=None):
    """Confusion matrix of one batch -> int32 (K, K), rows = true class, columns = prediction.

    labels, preds: integer arrays of one shape (any rank, e.g. (B,) or (B, H, W)).
    Entries outside [0, num_classes) in either array are not counted (so an
    ignore label such as 255 drops out), nor are entries with ``valid`` False.
    """
    labels = jnp.asarray(labels)
    preds = jnp.asarray(preds)
    if labels.shape != preds.shape:
        raise ValueError(f"labels {labels.shape} and preds {preds.shape} must have one shape.")
    weights = _weights(labels, valid)
    in_range = (labels >= 0) & (labels < num_classes) & (preds >= 0) & (preds < num_classes)
    weights = jnp.where(in_range, weights, 0).ravel()
    flat = jnp.where(in_range, labels * num_classes + preds, 0).ravel().astype(jnp.int32)
    counts = jnp.bincount(flat, weights=weights, length=num_classes * num_classes)
    return counts.astype(jnp.int32).reshape(num_classes, num_classes)


def confusion_update(cm, labels, preds, valid=None):
    """Adds one batch to a running confusion matrix ``cm`` (K, K) and returns the sum."""
    cm = jnp.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (K, K) confusion matrix, got shape {cm.shape}.")
    return cm + confusion_counts(labels, preds, cm.shape[0], valid).astype(cm.dtype)


def correct_count(labels, preds, valid=None):
    """Number of rows with ``preds == labels`` -> int32 scalar (accuracy = correct / count)."""
    labels = jnp.asarray(labels)
    weights = _weights(labels, valid)
    return jnp.sum(jnp.where(jnp.asarray(preds) == labels, weights, 0))


def example_count(labels, valid=None):
    """Number of counted rows -> int32 scalar: the denominator of every mean."""
    return jnp.sum(_weights(jnp.asarray(labels), valid))


def top_k_correct(labels, scores, k: int, valid=None):
    """Rows whose true class is among the ``k`` highest scores -> int32 scalar.

    labels (N,) int, scores (N, K). Ties follow scikit-learn's
    ``top_k_accuracy_score``: among equal scores the higher class index ranks
    first. Computed as a rank count, so no sort is needed.
    """
    labels = jnp.asarray(labels)
    scores = jnp.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must have shape (N, K) with N = {labels.shape[0]}, got {scores.shape}.")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    num_classes = scores.shape[1]
    safe = jnp.clip(labels, 0, num_classes - 1)
    true_score = jnp.take_along_axis(scores, safe[:, None], axis=1)  # (N, 1)
    classes = jnp.arange(num_classes)[None, :]
    ahead = (scores > true_score) | ((scores == true_score) & (classes > safe[:, None]))
    rank = jnp.sum(ahead, axis=1)  # (N,)
    hit = (rank < k) & (labels >= 0) & (labels < num_classes)
    return jnp.sum(jnp.where(hit, _weights(labels, valid), 0))


def log_loss_sum(labels, probs, valid=None):
    """Sum of -log p(true class), probabilities clipped like scikit-learn's ``log_loss``.

    labels (N,) int class indices; probs (N, K) probabilities, or (N,) the
    probability of class 1 for a binary task. Clipping to [eps, 1 - eps] uses
    the probabilities' float eps. Divide by ``example_count`` for the mean.
    """
    labels = jnp.asarray(labels)
    probs = jnp.asarray(probs)
    if probs.ndim == 1:
        probs = jnp.stack([1 - probs, probs], axis=1)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probs must have shape (N, K) or (N,) with N = {labels.shape[0]}, got {probs.shape}.")
    eps = jnp.finfo(probs.dtype).eps
    clipped = jnp.clip(probs, eps, 1 - eps)
    safe = jnp.clip(labels, 0, probs.shape[1] - 1)
    nll = -jnp.log(jnp.take_along_axis(clipped, safe[:, None], axis=1)[:, 0])
    weights = _weights(labels, valid).astype(nll.dtype)
    return jnp.sum(nll * weights)
