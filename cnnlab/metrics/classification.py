"""Classification scores on the host: accuracy, top-k, confusion matrix, precision/recall/F, log loss.

Two kinds of function, told apart by their names:

scikit-learn's names, scikit-learn's arguments and results (numpy re-implementations
of scikit-learn 1.9 for 1-D label arrays and, where scikit-learn takes them,
0/1 indicator matrices):
  confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None)
  precision_recall_fscore_support, precision_score, recall_score, f1_score, fbeta_score
      (y_true, y_pred, *, labels=None, pos_label=1, average=..., sample_weight=None,
       zero_division="warn")
  log_loss(y_true, y_pred, *, normalize=True, sample_weight=None, labels=None)
Labels may be any sortable values (ints, strings, bools); the classes are the
sorted labels seen in either array unless ``labels=`` names them. As in
scikit-learn, ``average='binary'`` (the default of the ``*_score`` functions)
scores ``pos_label`` and refuses multi-class input, and
``zero_division='warn'`` gives 0 with an ``UndefinedMetricWarning``.

cnnlab's forms, for class indices 0..K-1 and the streaming totals of
``cnnlab.metrics.streaming``:
  accuracy(labels, preds, valid=None), top_k_accuracy(labels, scores, k)
  confusion_from_labels(labels, preds, num_classes, valid=None)
  accuracy_from_confusion(cm), scores_from_confusion(cm, ...),
  precision_from_confusion, recall_from_confusion, f1_from_confusion
They use every class 0..K-1 (as scikit-learn with ``labels=range(K)``), mask
padding rows with ``valid``, and give ``zero_division`` (0, 1 or nan)
silently. ``accuracy`` is scikit-learn's ``accuracy_score`` and
``top_k_accuracy`` its ``top_k_accuracy_score(..., labels=range(K))`` on
those inputs; both return nan for no rows, where scikit-learn raises.
"""
import warnings

import numpy as np

from cnnlab.metrics._targets import (UndefinedMetricWarning, as_labels, check_length,
                                     check_sample_weight, check_targets, nan_average)

AVERAGES = (None, "binary", "micro", "macro", "weighted")
SKLEARN_AVERAGES = (None, "micro", "macro", "weighted", "samples")
PRF_WARN_FOR = ("precision", "recall", "f-score")


# ----------------------------------------------------------------------------- cnnlab forms

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
            "map class names to indices first (or use the scikit-learn-named functions, "
            "which take any labels)."
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

    Column c of ``scores`` is class c. Ties rank the higher class index first,
    as scikit-learn's ``top_k_accuracy_score`` does.
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


def confusion_from_labels(labels, preds, num_classes: int, valid=None) -> np.ndarray:
    """Confusion matrix of class indices -> int64 (K, K), rows = true class, columns = predicted.

    Every class 0..K-1 has its row and column, so the result adds to the
    streaming totals; labels outside [0, K) are an error, not dropped.
    """
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
        raise ValueError(f"cm must be a square (K, K) confusion matrix, got shape {cm.shape}; "
                         "for label arrays use precision_recall_fscore_support(y_true, y_pred).")
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


def _fscore(tp, true_sum, pred_sum, precision, recall, beta, divide):
    if np.isposinf(beta):
        return recall
    if beta == 0:
        return precision
    beta2 = beta * beta
    return divide((1 + beta2) * np.asarray(tp, np.float64),
                  beta2 * np.asarray(true_sum, np.float64) + np.asarray(pred_sum, np.float64))


def scores_from_confusion(cm, *, beta: float = 1.0, average=None, pos_label: int = 1,
                          zero_division=0.0):
    """(precision, recall, F-beta, support) of a confusion matrix ``cm`` (K, K).

    average: None (per-class arrays), "binary" (class index ``pos_label`` of a
    2x2 matrix), "micro" (pooled counts), "macro" (unweighted mean over all K
    classes) or "weighted" (mean weighted by support). Averages return floats
    and support None: scikit-learn's ``precision_recall_fscore_support`` of
    the labels behind ``cm`` with ``labels=range(K)``.
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
    fscore = _fscore(tp, true_sum, pred_sum, precision, recall, beta,
                     lambda n, d: _divide(n, d, zero_division))
    if average is None:
        return precision, recall, fscore, true_sum.astype(np.int64)
    if average == "binary":
        return float(precision[pos_label]), float(recall[pos_label]), float(fscore[pos_label]), None
    weights = true_sum if average == "weighted" else None
    return (nan_average(precision, weights), nan_average(recall, weights),
            nan_average(fscore, weights), None)


def precision_from_confusion(cm, *, average=None, pos_label: int = 1, zero_division=0.0):
    """Precision tp / (tp + fp) of a confusion matrix; see ``scores_from_confusion``."""
    return scores_from_confusion(cm, average=average, pos_label=pos_label, zero_division=zero_division)[0]


def recall_from_confusion(cm, *, average=None, pos_label: int = 1, zero_division=0.0):
    """Recall tp / (tp + fn) of a confusion matrix; see ``scores_from_confusion``."""
    return scores_from_confusion(cm, average=average, pos_label=pos_label, zero_division=zero_division)[1]


def f1_from_confusion(cm, *, average=None, pos_label: int = 1, zero_division=0.0):
    """F1 = 2 tp / (2 tp + fp + fn) of a confusion matrix; see ``scores_from_confusion``."""
    return scores_from_confusion(cm, average=average, pos_label=pos_label, zero_division=zero_division)[2]


# ----------------------------------------------------------------------------- scikit-learn's names

def confusion_matrix(y_true, y_pred, *, labels=None, sample_weight=None, normalize=None) -> np.ndarray:
    """scikit-learn's ``confusion_matrix``: rows = true label, columns = predicted label.

    The classes are ``labels`` in the order given (pairs with a label outside
    them are dropped), or the sorted labels of either array. int64 counts, or
    float64 sums of a float ``sample_weight``; ``normalize`` 'true', 'pred' or
    'all' divides by row, column or grand totals (0 where a total is 0). For
    the class-index form that adds to streaming totals see ``confusion_from_labels``.
    """
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"normalize={normalize!r} is not supported; use None, 'true', 'pred' or 'all'.")
    kind, present, y_true, y_pred = check_targets(y_true, y_pred)
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"{kind} is not supported by confusion_matrix; give 1-D labels.")
    weight = check_sample_weight(sample_weight, len(y_true))
    if weight is None:
        weight = np.ones(len(y_true), dtype=np.int64)
    if labels is None:
        labels = present
    else:
        labels = np.asarray(labels)
        if labels.size == 0:
            raise ValueError("'labels' should contain at least one label.")
        if len(np.intersect1d(y_true, labels)) == 0:
            raise ValueError("At least one label specified must be in y_true.")
    n = labels.size
    t, p = _positions(labels, y_true), _positions(labels, y_pred)
    keep = (t < n) & (p < n)
    dtype = np.int64 if weight.dtype.kind in "iub" else np.float64
    cm = np.zeros((n, n), dtype=dtype)
    np.add.at(cm, (t[keep], p[keep]), weight[keep].astype(dtype))
    with np.errstate(all="ignore"):
        if normalize == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        elif normalize == "all":
            cm = cm / cm.sum()
    if cm.shape == (1, 1):
        warnings.warn("A single label was found in 'y_true' and 'y_pred'. For the confusion matrix to "
                      "have the correct shape, use the 'labels' parameter to pass all known labels.",
                      UserWarning, stacklevel=2)
    return np.nan_to_num(cm)


def _positions(labels, values) -> np.ndarray:
    """Index of each value in ``labels`` (any order), ``len(labels)`` for values not among them."""
    order = np.argsort(labels, kind="stable")
    ranked = labels[order]
    at = np.minimum(np.searchsorted(ranked, values), len(labels) - 1)
    found = ranked[at] == values
    return np.where(found, order[at], len(labels)).astype(np.int64)


def _sk_zero_division(zero_division) -> float:
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise ValueError(f"zero_division must be 'warn', 0, 1 or nan, got {zero_division!r}.")
        return 0.0
    return _check_zero_division(zero_division)


def _set_wise_labels(kind, present, average, labels, pos_label):
    """scikit-learn's _check_set_wise_labels: which labels the scores are for."""
    if average not in SKLEARN_AVERAGES and average != "binary":
        raise ValueError(f"average={average!r} is not supported; use one of "
                         f"{SKLEARN_AVERAGES + ('binary',)}.")
    if average == "binary":
        if kind == "binary":
            if not np.any(present == pos_label) and len(present) >= 2:
                raise ValueError(f"pos_label={pos_label!r} is not a valid label. It should be one of "
                                 f"{present.tolist()}.")
            return np.asarray([pos_label])
        options = [None, "micro", "macro", "weighted"] + (["samples"] if kind != "multiclass" else [])
        raise ValueError(f"Target is {kind} but average='binary'. Please choose another average "
                         f"setting, one of {options}.")
    if pos_label not in (None, 1):
        warnings.warn(f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
                      f"(got {average!r}). You may use labels=[pos_label] to specify a single "
                      "positive class.", UserWarning, stacklevel=3)
    return labels


def _label_sums(kind, present, y_true, y_pred, weight, labels, samplewise):
    """(tp, predicted, true) sums per label (per sample with ``samplewise``), weighted."""
    if kind == "multilabel-indicator":
        yt, yp = y_true != 0, y_pred != 0
        if labels is not None:
            labels = np.asarray(labels)
            if labels.size and labels.max() > present.max():
                raise ValueError(f"All labels must be in [0, n labels) for multilabel targets. "
                                 f"Got {labels.max()} > {present.max()}")
            if labels.size and labels.min() < 0:
                raise ValueError(f"All labels must be in [0, n labels) for multilabel targets. "
                                 f"Got {labels.min()} < 0")
            yt, yp = yt[:, labels], yp[:, labels]
        axis = 1 if samplewise else 0
        w = np.ones((yt.shape[0], 1), np.int64) if weight is None else weight[:, None]

        def count(x):
            return np.sum(np.where(x, w, 0), axis=axis)

        return count(yt & yp), count(yp), count(yt)
    if samplewise:
        raise ValueError("Samplewise metrics are not available outside of multilabel classification.")
    selected = present if labels is None else np.asarray(labels)
    every = np.unique(np.concatenate([selected, np.setdiff1d(present, selected)]))
    t = np.searchsorted(every, y_true)
    p = np.searchsorted(every, y_pred)
    hit = t == p
    size = every.size
    tp = np.bincount(t[hit], weights=None if weight is None else weight[hit], minlength=size)
    pred = np.bincount(p, weights=weight, minlength=size)
    true = np.bincount(t, weights=weight, minlength=size)
    if not hit.any():  # scikit-learn's counts (and so the support) are float when nothing matches
        tp, pred, true = (a.astype(np.float64) for a in (tp, pred, true))
    index = np.searchsorted(every, selected)
    return tp[index], pred[index], true[index]


def _prf_divide(num, den, metric, modifier, average, warn_for, zero_division):
    value = _sk_zero_division(zero_division)
    den = np.asarray(den)
    out = np.full(den.shape, value, dtype=np.float64)
    np.divide(np.asarray(num, np.float64), den, out=out, where=den != 0)
    if zero_division == "warn" and metric in warn_for and np.any(den == 0):
        axis0, axis1 = ("label", "sample") if average == "samples" else ("sample", "label")
        where = "due to" if out.shape[0] == 1 else f"in {axis1}s with"
        warnings.warn(f"{metric.capitalize()} is ill-defined and being set to 0.0 {where} no "
                      f"{modifier} {axis0}s. Use `zero_division` parameter to control this behavior.",
                      UndefinedMetricWarning, stacklevel=3)
    return out


def precision_recall_fscore_support(y_true, y_pred, *, beta: float = 1.0, labels=None, pos_label=1,
                                    average=None, warn_for=PRF_WARN_FOR, sample_weight=None,
                                    zero_division="warn"):
    """scikit-learn's ``precision_recall_fscore_support`` of label arrays.

    Returns (precision, recall, F-beta, support): per-label float arrays and
    the support array with ``average=None``; floats and None otherwise
    ("binary": ``pos_label`` only, "micro": pooled counts, "macro": the mean
    over labels, "weighted": weighted by support, "samples": per-row means of
    indicator matrices). For a confusion matrix use ``scores_from_confusion``.
    """
    _sk_zero_division(zero_division)
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}.")
    kind, present, y_true, y_pred = check_targets(y_true, y_pred)
    labels = _set_wise_labels(kind, present, average, labels, pos_label)
    weight = check_sample_weight(sample_weight, len(y_true))
    samplewise = average == "samples"
    tp, pred_sum, true_sum = _label_sums(kind, present, y_true, y_pred, weight, labels, samplewise)
    if average == "micro":
        tp, pred_sum, true_sum = (np.reshape(np.sum(a), (1,)) for a in (tp, pred_sum, true_sum))
    precision = _prf_divide(tp, pred_sum, "precision", "predicted", average, warn_for, zero_division)
    recall = _prf_divide(tp, true_sum, "recall", "true", average, warn_for, zero_division)
    fscore = _fscore(tp, true_sum, pred_sum, precision, recall, beta,
                     lambda n, d: _prf_divide(n, d, "f-score", "true nor predicted", average, warn_for,
                                              zero_division))
    if average is None:
        return precision, recall, fscore, true_sum
    weights = true_sum if average == "weighted" else (weight if samplewise else None)
    return nan_average(precision, weights), nan_average(recall, weights), nan_average(fscore, weights), None


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
                    zero_division="warn"):
    """scikit-learn's ``precision_score``: tp / (tp + fp); see ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, warn_for=("precision",),
                                           sample_weight=sample_weight, zero_division=zero_division)[0]


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division="warn"):
    """scikit-learn's ``recall_score``: tp / (tp + fn); see ``precision_recall_fscore_support``."""
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, pos_label=pos_label,
                                           average=average, warn_for=("recall",),
                                           sample_weight=sample_weight, zero_division=zero_division)[1]


def fbeta_score(y_true, y_pred, *, beta, labels=None, pos_label=1, average="binary", sample_weight=None,
                zero_division="warn"):
    """scikit-learn's ``fbeta_score``: (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)."""
    return precision_recall_fscore_support(y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label,
                                           average=average, warn_for=("f-score",),
                                           sample_weight=sample_weight, zero_division=zero_division)[2]


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
             zero_division="warn"):
    """scikit-learn's ``f1_score``: 2 tp / (2 tp + fp + fn); see ``precision_recall_fscore_support``."""
    return fbeta_score(y_true, y_pred, beta=1.0, labels=labels, pos_label=pos_label, average=average,
                       sample_weight=sample_weight, zero_division=zero_division)


def log_loss(y_true, y_pred, *, normalize: bool = True, sample_weight=None, labels=None) -> float:
    """scikit-learn's ``log_loss``: mean (or summed) -log p(true label), p clipped to [eps, 1 - eps].

    y_pred (N, C): column j is the j-th sorted class (of ``labels`` when given,
    else of ``y_true``); y_pred (N,) is the probability of the greater of two
    classes. eps is the float eps of ``y_pred``'s dtype (float64 for ints).
    """
    y_true = as_labels(y_true, "y_true")
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true[:, 0]
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D labels, got shape {y_true.shape}; cnnlab's log_loss does "
                         "not take indicator matrices.")
    probs = np.asarray(y_pred)
    if probs.dtype not in (np.float16, np.float32, np.float64):
        probs = probs.astype(np.float64)
    if probs.ndim not in (1, 2):
        raise ValueError(f"y_pred must be (N,) or (N, C) probabilities, got shape {probs.shape}.")
    if not np.all(np.isfinite(probs)):
        raise ValueError("y_pred contains nan or inf; pass probabilities (softmax/sigmoid of logits).")
    if probs.size and probs.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {probs.max()}; apply softmax/sigmoid "
                         "to logits first.")
    if probs.size and probs.min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {probs.min()}; apply softmax/sigmoid "
                         "to logits first.")
    weight = check_sample_weight(sample_weight, len(y_true))
    check_length(probs, y_true, names=("y_pred", "y_true"))
    if labels is not None:
        given = np.asarray(labels)
        classes = np.unique(given)
        if given.shape != classes.shape or np.any(given != classes):
            warnings.warn(f"Labels passed were {given.tolist()}. But this function assumes labels are "
                          f"ordered lexicographically. Pass the ordered labels={classes.tolist()} and "
                          "ensure that the columns of y_prob correspond to this ordering.",
                          UserWarning, stacklevel=2)
        undeclared = np.setdiff1d(y_true, classes)
        if undeclared.size:
            raise ValueError(f"y_true contains values {set(undeclared.tolist())} not belonging to the "
                             f"passed labels {given.tolist()}.")
    else:
        classes = np.unique(y_true)
    if classes.size == 1:
        if labels is None:
            raise ValueError(f"y_true contains only one label ({classes[0]!r}). Please provide the list "
                             "of all expected class labels explicitly through the labels argument.")
        raise ValueError(f"The labels array needs to contain at least two labels, got {classes.tolist()}.")
    target = (y_true[:, None] == classes[None, :]).astype(probs.dtype)  # (N, C) one-hot
    if probs.ndim == 1:
        probs = probs[:, None]
    if probs.shape[1] == 1:
        probs = np.concatenate([1 - probs, probs], axis=1)
    eps = np.finfo(probs.dtype).eps
    if not np.all(np.isclose(probs.sum(axis=1), 1, rtol=np.sqrt(eps))):
        warnings.warn("The y_prob values do not sum to one. Make sure to pass probabilities.",
                      UserWarning, stacklevel=2)
    if classes.size != probs.shape[1]:
        if labels is None:
            raise ValueError(f"y_true and y_prob contain different number of classes: {classes.size} vs "
                             f"{probs.shape[1]}. Please provide the true labels explicitly through the "
                             f"labels argument. Classes found in y_true: {classes.tolist()}")
        raise ValueError(f"The number of classes in labels is different from that in y_prob. Classes "
                         f"found in labels: {classes.tolist()}")
    clipped = np.clip(probs, eps, 1 - eps)
    loss = -np.sum(np.where(target > 0, target * np.log(clipped), 0), axis=1)
    if normalize:
        return float(np.average(loss, weights=weight))
    return float(loss.sum() if weight is None else np.dot(loss, weight))

