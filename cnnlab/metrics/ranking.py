"""Score-ranking metrics on the host: ROC curve, ROC AUC, precision-recall curve, AP.

Numpy re-implementations that return the same arrays as scikit-learn 1.9's
``roc_curve`` (``drop_intermediate=True`` by default, first threshold +inf),
``roc_auc_score``, ``precision_recall_curve`` and ``average_precision_score``.
They need every score of the evaluation set, so gather scores on the host
rather than accumulating them on device.

Binary inputs: ``labels`` (N,) of any values, ``scores`` (N,) for the
positive class ``pos_label`` (e.g. P(dog) with dogs as the positive class).
Multi-class inputs: ``labels`` (N,) class indices 0..K-1 and ``scores`` (N, K);
each column is scored one-vs-rest.

Undefined cases follow scikit-learn without its warnings: ``roc_curve`` with no
negatives gives an all-nan FPR (no positives: all-nan TPR); ``roc_auc_score``
with one class present is nan; ``precision_recall_curve`` with no positives
sets recall to 1, so AP is 0. Unlike scikit-learn, multi-class ROC AUC does not
insist that each row of scores sums to 1 (one-vs-rest only ranks each column).
"""
import numpy as np

from cnnlab.metrics.classification import _check_range, _labels


def _binary_inputs(labels, scores, pos_label):
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(
            f"binary labels and scores must both be (N,), got {labels.shape} and {scores.shape}; "
            "for (N, K) scores use the multi-class functions."
        )
    if scores.size and not np.all(np.isfinite(scores)):
        raise ValueError("scores contain nan or inf; remove or replace them first.")
    return (labels == pos_label).astype(np.float64), scores


def _counts_at_thresholds(positive, scores):
    """Cumulative (fps, tps) at each distinct score, highest first, and the thresholds."""
    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], positive[order]
    distinct = np.flatnonzero(np.diff(scores))
    last = np.concatenate([distinct, [scores.size - 1]])
    tps = np.cumsum(positive)[last]
    fps = 1 + last - tps
    return fps, tps, scores[last]


def roc_curve(labels, scores, *, pos_label=1, drop_intermediate: bool = True):
    """(fpr, tpr, thresholds), decreasing thresholds starting at +inf.

    ``drop_intermediate`` removes points collinear on a horizontal or vertical
    run (where neither fps nor tps changes slope), like scikit-learn.
    """
    positive, scores = _binary_inputs(labels, scores, pos_label)
    if scores.size == 0:
        raise ValueError("roc_curve needs at least one score.")
    fps, tps, thresholds = _counts_at_thresholds(positive, scores)
    if drop_intermediate and fps.size > 2:
        corner = np.concatenate([[True], (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), [True]])
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps = np.concatenate([[0.0], fps])
    tps = np.concatenate([[0.0], tps])
    thresholds = np.concatenate([[np.inf], thresholds.astype(np.float64)])
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def auc(x, y) -> float:
    """Area under a curve by the trapezoidal rule; x must be monotonic."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"auc needs two 1-D arrays of >= 2 points, got {x.shape} and {y.shape}.")
    dx = np.diff(x)
    if np.all(dx <= 0):
        return float(-np.trapezoid(y, x))
    if not np.all(dx >= 0):
        raise ValueError("x must be monotonic increasing or decreasing for auc.")
    return float(np.trapezoid(y, x))


def _binary_roc_auc(positive, scores) -> float:
    if np.unique(positive).size != 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(positive, scores, pos_label=1.0)
    return auc(fpr, tpr)


def _one_vs_rest(labels, scores):
    labels = _labels(labels)
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"multi-class scores must be (N, K) with N = {labels.shape[0]}, got {scores.shape}.")
    _check_range(labels, scores.shape[1], "labels")
    onehot = (labels[:, None] == np.arange(scores.shape[1])[None, :]).astype(np.float64)
    return onehot, scores


def _average(per_class, onehot, average):
    if average is None:
        return per_class
    if average == "macro":
        return float(np.mean(per_class))
    support = onehot.sum(axis=0)
    if support.sum() == 0:
        return 0.0
    per_class = np.where(support == 0, 0.0, per_class)
    return float(np.average(per_class, weights=support))


def _check_average(average):
    if average not in (None, "micro", "macro", "weighted"):
        raise ValueError(f"average={average!r} is not supported; use 'macro', 'weighted', 'micro' or None.")


def roc_auc_score(labels, scores, *, pos_label=1, average="macro"):
    """Area under the ROC curve.

    Binary (scores (N,)): one number; nan when only one class is present.
    Multi-class (scores (N, K)): one-vs-rest per column, averaged ("macro",
    "weighted" by support, "micro" over all pooled columns, or None for the
    per-class array); a class absent from ``labels`` has nan AUC, which makes
    the macro average nan, as in scikit-learn with ``labels=range(K)``.
    """
    scores = np.asarray(scores)
    if scores.ndim == 1:
        positive, scores = _binary_inputs(labels, scores, pos_label)
        return _binary_roc_auc(positive, scores)
    _check_average(average)
    onehot, scores = _one_vs_rest(labels, scores)
    if average == "micro":
        return _binary_roc_auc(onehot.ravel(), scores.ravel())
    per_class = np.array([_binary_roc_auc(onehot[:, c], scores[:, c]) for c in range(scores.shape[1])])
    return _average(per_class, onehot, average)


def precision_recall_curve(labels, scores, *, pos_label=1, drop_intermediate: bool = False):
    """(precision, recall, thresholds) with increasing thresholds; the last point is (1, 0).

    ``drop_intermediate`` keeps only the first and last threshold of each run
    of equal true-positive counts, like scikit-learn.
    """
    positive, scores = _binary_inputs(labels, scores, pos_label)
    if scores.size == 0:
        raise ValueError("precision_recall_curve needs at least one score.")
    fps, tps, thresholds = _counts_at_thresholds(positive, scores)
    if drop_intermediate and fps.size > 2:
        keep = np.concatenate([[True], (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    predicted = tps + fps
    precision = np.zeros(tps.shape)
    np.divide(tps, predicted, out=precision, where=predicted != 0)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones(tps.shape)
    return (np.concatenate([precision[::-1], [1.0]]),
            np.concatenate([recall[::-1], [0.0]]),
            thresholds[::-1])


def _binary_average_precision(positive, scores) -> float:
    precision, recall, _ = precision_recall_curve(positive, scores, pos_label=1.0)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def average_precision_score(labels, scores, *, pos_label=1, average="macro"):
    """Average precision: sum over thresholds of (R_n - R_{n-1}) P_n (no interpolation).

    Binary (scores (N,)): one number, 0 when there are no positives.
    Multi-class (scores (N, K)): one-vs-rest per column, averaged like
    ``roc_auc_score``; an absent class scores 0 (scikit-learn's value for its
    all-negative column).
    """
    scores = np.asarray(scores)
    if scores.ndim == 1:
        positive, scores = _binary_inputs(labels, scores, pos_label)
        return _binary_average_precision(positive, scores)
    _check_average(average)
    onehot, scores = _one_vs_rest(labels, scores)
    if average == "micro":
        return _binary_average_precision(onehot.ravel(), scores.ravel())
    per_class = np.array([_binary_average_precision(onehot[:, c], scores[:, c])
                          for c in range(scores.shape[1])])
    return _average(per_class, onehot, average)
