"""Classification scores on the host: accuracy, top-k, confusion matrix, precision/recall/F.

Numpy functions that match scikit-learn (``accuracy_score``,
``top_k_accuracy_score``, ``confusion_matrix``,
``precision_recall_fscore_support``, ``log_loss``) for integer class labels
0..K-1. The precision/recall/F functions take a confusion matrix, so the
streaming totals from ``cnnlab.metrics.streaming`` finalise directly.

Zero division (a class never predicted has no precision; a class never true has
no recall) gives ``zero_division`` (0, 1 or nan) silently instead of a warning.
With nan, averages skip the undefined classes, as scikit-learn does.
"""
import numpy as np

AVERAGES = (None, "binary", "micro", "macro", "weighted")


def _labels(labels, name="labels"):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {labels.shape}.")
    kind = labels.dtype.kind
    if kind == "b" or (kind == "f" and np.all(np.mod(labels, 1) == 0)):
        return labels.astype(np.int64)
    if kind not in "iu" and labels.size:
        raise ValueError(
            f"{name} must hold integer class indices 0..K-1, got dtype {labels.dtype}; "
            "map class names to indices first."
        )
    return labels.astype(np.int64) if kind not in "iu" else labels


def _mask(n, valid):
    if valid is None:
        return np.ones(n, dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != (n,):
        raise ValueError(f"valid must have shape ({n},), got {valid.shape}.")
    return valid


def accuracy(labels, preds, valid=None) -> float:
    """Fraction of ``preds == labels`` over the valid rows (nan if there are none)."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.shape != preds.shape:
        raise ValueError(f"labels {labels.shape} and preds {preds.shape} must have one shape.")
    keep = _mask(labels.size, valid)
    n = int(keep.sum())
    return float(np.sum((labels.ravel() == preds.ravel()) & keep) / n) if n else float("nan")


def accuracy_from_confusion(cm) -> float:
    """Accuracy = trace / total of a (K, K) confusion matrix (nan when empty)."""
    cm = _confusion(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def top_k_accuracy(labels, scores, k: int = 5) -> float:
    """Fraction of rows whose label is among the ``k`` highest ``scores`` (N, K).

    Ties rank the higher class index first, as scikit-learn's
    ``top_k_accuracy_score`` does.
    """
    labels = _labels(labels)
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must have shape (N, K) with N = {labels.shape[0]}, got {scores.shape}.")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    _check_range(labels, scores.shape[1], "labels")
    if labels.size == 0:
        return float("nan")
    true_score = scores[np.arange(labels.size), labels][:, None]
    classes = np.arange(scores.shape[1])[None, :]
    ahead = (scores > true_score) | ((scores == true_score) & (classes > labels[:, None]))
    return float(np.mean(ahead.sum(axis=1) < k))


def _check_range(values, num_classes, name):
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(
            f"{name} must be class indices in [0, {num_classes}), got values in "
            f"[{values.min()}, {values.max()}]; check num_classes or filter ignore labels."
        )


def confusion_matrix(labels, preds, num_classes: int, valid=None) -> np.ndarray:
    """Confusion matrix -> int64 (K, K), rows = true class, columns = predicted class."""
    labels, preds = _labels(labels), _labels(preds, "preds")
    if labels.shape != preds.shape:
        raise ValueError(f"labels {labels.shape} and preds {preds.shape} must have one shape.")
    keep = _mask(labels.size, valid)
    labels, preds = labels[keep], preds[keep]
    _check_range(labels, num_classes, "labels")
    _check_range(preds, num_classes, "preds")
    flat = labels.astype(np.int64) * num_classes + preds
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _confusion(cm) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (K, K) confusion matrix, got shape {cm.shape}.")
    return cm.astype(np.float64)


def _check_zero_division(zero_division) -> float:
    value = float(zero_division)
    if not (value in (0.0, 1.0) or np.isnan(value)):
        raise ValueError(f"zero_division must be 0, 1 or nan, got {zero_division!r}.")
    return value


def _divide(num, den, zero_division):
    out = np.full(np.shape(num), zero_division, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nan_average(values, weights=None) -> float:
    """scikit-learn's average that skips nan entries (and falls back to equal weights)."""
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    if weights is None:
        return float(values[keep].mean())
    weights = np.asarray(weights, dtype=np.float64)[keep]
    if weights.sum() == 0:
        return float(values[keep].mean())
    return float(np.average(values[keep], weights=weights))


def precision_recall_fscore_support(cm, *, beta: float = 1.0, average=None, pos_label: int = 1,
                                    zero_division=0.0):
    """Precision, recall, F-beta and support from a confusion matrix ``cm`` (K, K).

    average: None (per class arrays), "binary" (class ``pos_label`` of a 2x2
    matrix), "micro" (pooled counts), "macro" (unweighted mean over all K
    classes) or "weighted" (mean weighted by support). Averages return floats
    and support None, like scikit-learn with ``labels=range(K)``.
    """
    cm = _confusion(cm)
    zero_division = _check_zero_division(zero_division)
    if average not in AVERAGES:
        raise ValueError(f"average={average!r} is not supported; use one of {AVERAGES}.")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}.")
    num_classes = cm.shape[0]
    if average == "binary":
        if num_classes != 2:
            raise ValueError(
                f"average='binary' needs a 2x2 confusion matrix, got {cm.shape}; "
                "use average='macro', 'micro', 'weighted' or None for multi-class."
            )
        if pos_label not in (0, 1):
            raise ValueError(f"pos_label must be 0 or 1 (a class index), got {pos_label!r}.")
    tp = np.diag(cm)
    pred_sum = cm.sum(axis=0)
    true_sum = cm.sum(axis=1)
    if average == "micro":
        tp, pred_sum, true_sum = tp.sum(keepdims=True), pred_sum.sum(keepdims=True), true_sum.sum(keepdims=True)
    precision = _divide(tp, pred_sum, zero_division)
    recall = _divide(tp, true_sum, zero_division)
    if np.isposinf(beta):
        fscore = recall
    elif beta == 0:
        fscore = precision
    else:
        beta2 = beta * beta
        fscore = _divide((1 + beta2) * tp, beta2 * true_sum + pred_sum, zero_division)
    if average is None:
        return precision, recall, fscore, true_sum.astype(np.int64)
    if average == "binary":
        return float(precision[pos_label]), float(recall[pos_label]), float(fscore[pos_label]), None
    weights = true_sum if average == "weighted" else None
    return (_nan_average(precision, weights), _nan_average(recall, weights),
            _nan_average(fscore, weights), None)


def precision_score(cm, *, average=None, pos_label: int = 1, zero_division=0.0):
    """Precision tp / (tp + fp) from a confusion matrix; see ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(cm, average=average, pos_label=pos_label,
                                           zero_division=zero_division)[0]


def recall_score(cm, *, average=None, pos_label: int = 1, zero_division=0.0):
    """Recall tp / (tp + fn) from a confusion matrix; see ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(cm, average=average, pos_label=pos_label,
                                           zero_division=zero_division)[1]


def f1_score(cm, *, average=None, pos_label: int = 1, zero_division=0.0):
    """F1 = 2 tp / (2 tp + fp + fn) from a confusion matrix; see ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(cm, average=average, pos_label=pos_label,
                                           zero_division=zero_division)[2]


def log_loss(labels, probs, *, pos_label=1, normalize: bool = True) -> float:
    """Cross-entropy of probabilities, clipped to [eps, 1 - eps] as scikit-learn does.

    Multi-class: labels (N,) class indices 0..K-1, probs (N, K) whose columns
    are those classes. Binary: probs (N,) is the probability of ``pos_label``
    and labels may be any values (a row is positive when it equals
    ``pos_label``). eps is the float eps of ``probs``' dtype.
    """
    probs = np.asarray(probs)
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float64)
    labels = np.asarray(labels)
    if labels.ndim != 1 or probs.shape[:1] != labels.shape:
        raise ValueError(f"labels must be (N,) and probs (N,) or (N, K); got {labels.shape} and {probs.shape}.")
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        raise ValueError("probs must lie in [0, 1]; apply softmax/sigmoid to logits first.")
    if probs.ndim == 1:
        target = (labels == pos_label).astype(np.int64)
        probs = np.stack([1 - probs, probs], axis=1)
    elif probs.ndim == 2:
        target = _labels(labels)
        _check_range(target, probs.shape[1], "labels")
    else:
        raise ValueError(f"probs must be (N,) or (N, K), got shape {probs.shape}.")
    if labels.size == 0:
        return float("nan") if normalize else 0.0
    eps = np.finfo(probs.dtype).eps
    clipped = np.clip(probs, eps, 1 - eps)
    losses = -np.log(clipped[np.arange(target.size), target])
    return float(losses.mean() if normalize else losses.sum())
