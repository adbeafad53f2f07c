"""Score-ranking metrics on the host: ROC curve, ROC AUC, precision-recall curve, AP.

Numpy re-implementations of scikit-learn 1.9, with its names, arguments and
results:
  roc_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True)
  precision_recall_curve(y_true, y_score, *, pos_label=None, sample_weight=None,
                         drop_intermediate=False)
  roc_auc_score(y_true, y_score, *, average='macro', sample_weight=None, max_fpr=None,
                multi_class='raise', labels=None)
  average_precision_score(y_true, y_score, *, average='macro', pos_label=1, sample_weight=None)
  auc(x, y)
They need every score of the evaluation set, so gather scores on the host
rather than accumulating them on device.

Binary inputs: ``y_true`` (N,) of any two labels and ``y_score`` (N,) for the
positive class (``pos_label``; when it is None the labels must be {0, 1} or
{-1, 1}). Multi-class ROC AUC takes (N, K) probabilities with
``multi_class='ovr'`` or ``'ovo'``; one-vs-rest over the columns of any (N, K)
scores, with classes allowed to be absent, is a 0/1 indicator ``y_true``
(N, K): ``roc_auc_score(onehot, scores)``, ``average_precision_score(onehot,
scores)``.

Undefined cases give scikit-learn's values without its warnings: ``roc_curve``
with no negatives gives an all-nan FPR (no positives: all-nan TPR);
``roc_auc_score`` with one class present is nan; ``precision_recall_curve``
with no positives sets recall to 1, so AP is 0.
"""
from itertools import combinations

import numpy as np

from cnnlab.metrics._targets import (as_labels, check_length, check_sample_weight, label_indicator,
                                     target_type)

AVERAGES = (None, "micro", "macro", "weighted", "samples")


def _scores(y_score, name="y_score") -> np.ndarray:
    scores = np.asarray(y_score)
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric scores, got dtype {scores.dtype}.")
    if scores.size and not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} contains nan or inf; remove or replace them first.")
    return scores


def _column(y, name) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,), got shape {y.shape}; (N, K) multi-class scores go "
                         "to roc_auc_score / average_precision_score.")
    return y


def _pos_label(pos_label, y_true):
    """scikit-learn's _check_pos_label_consistency: None is 1 for {0, 1} or {-1, 1} labels only."""
    if pos_label is not None:
        return pos_label
    classes = np.unique(y_true)
    numeric = classes.dtype.kind in "biuf"
    known = [[0, 1], [-1, 1], [0], [-1], [1]]
    if not numeric or classes.size > 2 or not any(classes.tolist() == k for k in known):
        raise ValueError(f"y_true takes value in {{{', '.join(repr(c) for c in classes.tolist())}}} and "
                         "pos_label is not specified: either make y_true take value in {0, 1} or "
                         "{-1, 1} or pass pos_label explicitly.")
    return 1


def _descending(scores) -> np.ndarray:
    """Stable descending order (ties keep their input order), as scikit-learn sorts."""
    n = scores.shape[0]
    return n - 1 - np.argsort(scores[::-1], kind="stable")[::-1]


def _binary_clf_curve(y_true, y_score, pos_label, sample_weight):
    """(fps, tps, thresholds) at each distinct score, highest first (confusion_matrix_at_thresholds)."""
    y_true = as_labels(y_true, "y_true")
    kind = target_type(y_true, "y_true")
    if not (kind == "binary" or (kind == "multiclass" and pos_label is not None)):
        raise ValueError(f"{kind} format is not supported; give binary labels, or multi-class labels "
                         "with pos_label.")
    pos_label = _pos_label(pos_label, y_true)
    y_true = _column(y_true, "y_true")
    y_score = _column(_scores(y_score), "y_score")
    check_length(y_true, y_score, names=("y_true", "y_score"))
    positive = (y_true == pos_label).astype(np.float64)
    weight = check_sample_weight(sample_weight, len(y_true))
    if weight is not None:
        nonzero = weight != 0
        positive, y_score, weight = positive[nonzero], y_score[nonzero], weight[nonzero].astype(np.float64)
    order = _descending(y_score)
    y_score, positive = y_score[order], positive[order]
    if weight is not None:
        weight = weight[order]
    last = np.concatenate([np.flatnonzero(np.diff(y_score)), [y_score.size - 1]]).astype(np.int64)
    w = 1.0 if weight is None else weight
    tps = np.cumsum(positive * w)[last]
    if weight is not None:
        fps = np.cumsum((1 - positive) * w)[last]
    else:
        fps = 1 + last - tps
    return fps, tps, y_score[last]


def roc_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate: bool = True):
    """(fpr, tpr, thresholds), decreasing thresholds starting at +inf (scikit-learn's ``roc_curve``).

    ``drop_intermediate`` removes points collinear on a horizontal or vertical
    run (where neither fps nor tps changes slope).
    """
    if np.size(y_score) == 0:
        raise ValueError("roc_curve needs at least one score.")
    fps, tps, thresholds = _binary_clf_curve(y_true, y_score, pos_label, sample_weight)
    if drop_intermediate and fps.shape[0] > 2:
        corner = np.concatenate([[True], (np.diff(fps, 2) != 0) | (np.diff(tps, 2) != 0), [True]])
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps = np.concatenate([[0.0], fps])
    tps = np.concatenate([[0.0], tps])
    thresholds = np.concatenate([[np.inf], thresholds.astype(np.float64)])
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def precision_recall_curve(y_true, y_score, *, pos_label=None, sample_weight=None,
                           drop_intermediate: bool = False):
    """(precision, recall, thresholds), increasing thresholds; the last point is (1, 0).

    ``drop_intermediate`` keeps only the first and last threshold of each run
    of equal true-positive counts (scikit-learn's ``precision_recall_curve``).
    """
    if np.size(y_score) == 0:
        raise ValueError("precision_recall_curve needs at least one score.")
    fps, tps, thresholds = _binary_clf_curve(y_true, y_score, pos_label, sample_weight)
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.concatenate([[True], (np.diff(tps[:-1]) != 0) | (np.diff(tps[1:]) != 0), [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    predicted = tps + fps
    precision = np.zeros(tps.shape)
    np.divide(tps, predicted, out=precision, where=predicted != 0)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones(tps.shape)
    return (np.concatenate([precision[::-1], [1.0]]),
            np.concatenate([recall[::-1], [0.0]]),
            thresholds[::-1])


def auc(x, y) -> float:
    """Area under a curve by the trapezoidal rule; x must be monotonic (scikit-learn's ``auc``)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"auc needs two 1-D arrays of one length, got {x.shape} and {y.shape}.")
    if x.shape[0] < 2:
        raise ValueError(f"At least 2 points are needed to compute area under curve, but x.shape = {x.shape}.")
    dx = np.diff(x)
    direction = 1.0
    if np.any(dx < 0):
        if not np.all(dx <= 0):
            raise ValueError("x is neither increasing nor decreasing: auc needs monotonic x.")
        direction = -1.0
    return float(direction * np.trapezoid(y, x))


def _average_binary_score(metric, y_true, y_score, average, sample_weight):
    """scikit-learn's _average_binary_score: a binary metric per column of indicator targets."""
    if average not in AVERAGES:
        raise ValueError(f"average={average!r} is not supported; use one of {AVERAGES}.")
    kind = target_type(y_true, "y_true")
    if kind not in ("binary", "multilabel-indicator"):
        raise ValueError(f"{kind} format is not supported.")
    if kind == "binary":
        return metric(y_true, y_score, sample_weight)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score)
    if y_score.shape != y_true.shape:
        raise ValueError(f"y_score must have y_true's shape {y_true.shape} for indicator targets, "
                         f"got {y_score.shape}.")
    check_length(y_true, y_score, sample_weight)
    score_weight, average_weight, axis = sample_weight, None, 1
    if average == "micro":
        if score_weight is not None:
            score_weight = np.repeat(score_weight, y_true.shape[1])
        y_true, y_score = y_true.ravel()[:, None], y_score.ravel()[:, None]
    elif average == "weighted":
        if score_weight is not None:
            average_weight = np.sum(y_true * np.reshape(score_weight, (-1, 1)), axis=0)
        else:
            average_weight = np.sum(y_true, axis=0)
        if np.isclose(np.sum(average_weight), 0):
            return 0.0
    elif average == "samples":
        average_weight, score_weight, axis = score_weight, None, 0
    count = y_score.shape[axis]
    score = np.zeros(count)
    for c in range(count):
        score[c] = metric(np.take(y_true, c, axis=axis), np.take(y_score, c, axis=axis), score_weight)
    if average is None:
        return score
    if average_weight is not None:
        score[np.asarray(average_weight) == 0] = 0
    return float(np.average(score, weights=average_weight))


def _binary_roc_auc(y_true, y_score, sample_weight, max_fpr=None) -> float:
    if np.unique(y_true).size != 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(y_true, y_score, sample_weight=sample_weight)
    if max_fpr is None or max_fpr == 1:
        return auc(fpr, tpr)
    stop = np.searchsorted(fpr, max_fpr, "right")
    x_interp, y_interp = [fpr[stop - 1], fpr[stop]], [tpr[stop - 1], tpr[stop]]
    tpr = np.append(tpr[:stop], np.interp(max_fpr, x_interp, y_interp))
    fpr = np.append(fpr[:stop], max_fpr)
    partial = auc(fpr, tpr)
    min_area, max_area = 0.5 * max_fpr ** 2, max_fpr
    return float(0.5 * (1 + (partial - min_area) / (max_area - min_area)))  # McClish correction


def roc_auc_score(y_true, y_score, *, average="macro", sample_weight=None, max_fpr=None,
                  multi_class="raise", labels=None):
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``).

    Binary: ``y_score`` (N,) scores the greater label; nan when one class is
    present. ``max_fpr`` < 1: McClish-standardised partial AUC. Indicator
    ``y_true`` (N, K): per column, averaged ("macro", "weighted" by
    positives, "micro" pooled, "samples" per row, None: the array).
    Multi-class labels: ``multi_class='ovr'`` or ``'ovo'`` (Hand & Till) on
    (N, K) probabilities whose rows sum to 1; columns are the sorted classes
    (or ``labels``).
    """
    y_true = as_labels(y_true, "y_true")
    kind = target_type(y_true, "y_true")
    y_score = _scores(y_score)
    weight = None if sample_weight is None else check_sample_weight(sample_weight, len(y_true))
    if max_fpr is not None and not 0 < max_fpr <= 1:
        raise ValueError(f"Expected max_fpr in range (0, 1], got: {max_fpr!r}")
    if multi_class not in ("raise", "ovr", "ovo"):
        raise ValueError(f"multi_class={multi_class!r} is not supported; use 'raise', 'ovr' or 'ovo'.")
    if kind == "multiclass" or (kind == "binary" and y_score.ndim == 2 and y_score.shape[1] > 2):
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError("Partial AUC computation not available in multiclass setting, 'max_fpr' "
                             f"must be set to `None`, received `max_fpr={max_fpr}` instead")
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr') for multi-class y_true; or pass a 0/1 "
                             "indicator matrix (N, K) as y_true for one-vs-rest over the columns.")
        return _multiclass_roc_auc(_column(y_true, "y_true"), y_score, labels, multi_class, average, weight)

    def metric(t, s, w):
        return _binary_roc_auc(t, _column(s, "y_score"), w, max_fpr)

    if kind == "binary":
        y_true = _column(y_true, "y_true")
        classes = np.unique(y_true)
        y_true = (y_true == classes[-1]).astype(np.int64) if classes.size == 2 else np.zeros(len(y_true), int)
    return _average_binary_score(metric, y_true, y_score, average, weight)


def _multiclass_roc_auc(y_true, y_score, labels, multi_class, average, weight):
    if y_score.ndim != 2:
        raise ValueError("`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
                         f"multiple classes. Got `y_score.shape={y_score.shape}`.")
    check_length(y_true, y_score, names=("y_true", "y_score"))
    if not np.allclose(1, y_score.sum(axis=1)):
        raise ValueError("Target scores need to be probabilities for multiclass roc_auc, i.e. they should "
                         "sum up to 1.0 over classes (for scores that are not, pass a 0/1 indicator "
                         "y_true for one-vs-rest per column).")
    if average is None and multi_class == "ovo":  # one-vs-one scores are per pair, not per class
        raise ValueError("average=None (a score per class) needs multi_class='ovr'; one-vs-one "
                         "averages over class pairs, so use average='macro' or 'weighted' with 'ovo'.")
    options = ("macro", "weighted") if multi_class == "ovo" else ("micro", "macro", "weighted", None)
    if average not in options:
        raise ValueError(f"average must be one of {options} for multiclass problems")
    if labels is not None:
        given = np.asarray(labels).reshape(-1)
        classes = np.unique(given)
        if classes.size != given.size:
            raise ValueError("Parameter 'labels' must be unique")
        if np.any(classes != given):
            raise ValueError("Parameter 'labels' must be ordered")
        if classes.size != y_score.shape[1]:
            raise ValueError(f"Number of given labels, {classes.size}, not equal to the number of columns "
                             f"in 'y_score', {y_score.shape[1]}")
        if np.setdiff1d(y_true, classes).size:
            raise ValueError("'y_true' contains labels not in parameter 'labels'")
    else:
        classes = np.unique(y_true)
        if classes.size != y_score.shape[1]:
            raise ValueError("Number of classes in y_true not equal to the number of columns in 'y_score'; "
                             "pass labels= naming every column's class.")
    if multi_class == "ovo":
        if weight is not None:
            raise ValueError("sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                             "'sample_weight' must be None in this case.")
        encoded = np.searchsorted(classes, y_true)
        present = np.unique(encoded)
        pair_scores, prevalence = [], []
        for a, b in combinations(present, 2):
            a_mask, b_mask = encoded == a, encoded == b
            both = a_mask | b_mask
            prevalence.append(np.average(both))
            pair_scores.append((_binary_roc_auc(a_mask[both], y_score[both, a], None)
                                + _binary_roc_auc(b_mask[both], y_score[both, b], None)) / 2)
        return float(np.average(pair_scores, weights=prevalence if average == "weighted" else None))
    return _average_binary_score(lambda t, s, w: _binary_roc_auc(t, s, w), label_indicator(y_true, classes),
                                 y_score, average, weight)


def average_precision_score(y_true, y_score, *, average="macro", pos_label=1, sample_weight=None):
    """Average precision: sum over thresholds of (R_n - R_{n-1}) P_n (scikit-learn's, no interpolation).

    Binary: ``y_score`` (N,) scores ``pos_label``; 0 when there are no
    positives. Multi-class labels: one-vs-rest over the present classes, so
    ``y_score`` is (N, number of classes present). Indicator ``y_true``
    (N, K): per column, averaged like ``roc_auc_score``; an all-zero column
    scores 0.
    """
    y_true = as_labels(y_true, "y_true")
    y_score = _scores(y_score)
    weight = None if sample_weight is None else check_sample_weight(sample_weight, len(y_true))
    kind = target_type(y_true, "y_true")
    present = np.unique(y_true)
    if kind == "binary":
        if present.size == 2 and not np.any(present == pos_label):
            raise ValueError(f"pos_label={pos_label!r} is not a valid label. It should be one of "
                             f"{present.tolist()}")
    elif kind == "multilabel-indicator" and pos_label != 1:
        raise ValueError("Parameter pos_label is fixed to 1 for multilabel-indicator y_true. Do not set "
                         "pos_label or set pos_label to 1.")
    elif kind == "multiclass":
        if pos_label != 1:
            raise ValueError("Parameter pos_label is fixed to 1 for multiclass y_true. Do not set pos_label "
                             "or set pos_label to 1 (for one class vs the rest pass y_true == that class).")
        y_true = label_indicator(_column(y_true, "y_true"), present)
        if y_score.shape != y_true.shape:
            raise ValueError("`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
                             f"multiple classes. Got `y_score.shape={y_score.shape}`.")

    def metric(t, s, w):
        precision, recall, _ = precision_recall_curve(t, s, pos_label=pos_label, sample_weight=w)
        return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))

    return _average_binary_score(metric, y_true, y_score, average, weight)
