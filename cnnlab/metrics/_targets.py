"""scikit-learn's input rules for the functions that bear its names (numpy only).

``target_type`` is ``sklearn.utils.multiclass.type_of_target`` for arrays;
``check_targets`` is ``sklearn.metrics._classification._check_targets``:
both label arrays of one length, their types merged ("binary" + "multiclass"
is "multiclass"), the sorted union of their labels. Sparse matrices, array-API
namespaces and the legacy sequence-of-sequences format are not accepted.
"""
import numpy as np

SUPPORTED = ("binary", "multiclass", "multilabel-indicator")


class UndefinedMetricWarning(UserWarning):
    """A score is ill-defined (a 0/0) and was replaced; scikit-learn's warning of the same name."""


def as_labels(y, name: str) -> np.ndarray:
    """``y`` as a numpy array; bytes labels are refused as scikit-learn refuses them."""
    y = np.asarray(y)
    if y.dtype.kind == "S":
        raise TypeError(f"{name} holds bytes labels; convert them to str or int first.")
    return y


def target_type(y, name: str = "y") -> str:
    """'binary', 'multiclass', 'multilabel-indicator', 'continuous', ... as scikit-learn names them."""
    y = as_labels(y, name)
    if y.ndim not in (1, 2):
        return "unknown"
    if y.ndim == 2 and y.shape[1] > 1 and y.size and y.dtype.kind in "biuf":
        values = np.unique(y)
        integral = y.dtype.kind != "f" or np.all(values == values.astype(np.int64))
        if values.size < 3 and integral:
            return "multilabel-indicator"
    if not min(y.shape):
        return "binary" if y.ndim == 1 else "unknown"
    if y.dtype == object and not isinstance(y.flat[0], str):
        return "unknown"
    suffix = "-multioutput" if y.ndim == 2 and y.shape[1] > 1 else ""
    if y.dtype.kind == "f" and np.any(y != y.astype(np.int64).astype(y.dtype)):
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains nan or inf; remove or replace them first.")
        return "continuous" + suffix
    if np.unique(y).size > 2 or suffix:
        return "multiclass" + suffix
    return "binary"


def check_length(*arrays, names=None):
    """All arrays have one first dimension (scikit-learn's check_consistent_length)."""
    lengths = [len(a) for a in arrays if a is not None]
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}"
                         + (f" ({', '.join(names)})." if names else "."))


def check_sample_weight(sample_weight, n: int):
    """None, or a (n,) array of weights (a scalar is broadcast, as in scikit-learn)."""
    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight)
    if weight.ndim == 0:
        weight = np.full(n, weight, dtype=weight.dtype if weight.dtype.kind in "iuf" else np.float64)
    if weight.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), one weight per sample, got {weight.shape}.")
    if weight.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric, got dtype {weight.dtype}.")
    if not np.all(np.isfinite(weight)):
        raise ValueError("sample_weight contains nan or inf.")
    if n and not np.any(weight != 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weight


def unique_labels(*ys) -> np.ndarray:
    """The sorted union of the labels of 1-D label arrays; strings and numbers may not mix."""
    kinds = {"str" if y.dtype.kind in "UO" and y.size and isinstance(y.flat[0], str) else "num"
             for y in ys if y.size}
    if len(kinds) > 1:
        raise ValueError("Mix of label input types (string and number): use one label type for "
                         "y_true and y_pred.")
    return np.unique(np.concatenate([y.ravel() for y in ys]))


def check_targets(y_true, y_pred):
    """(type, labels, y_true, y_pred) for two label arrays, with scikit-learn's errors.

    Column vectors become 1-D; labels are the sorted union for 1-D targets
    and the column indices for multilabel indicator matrices.
    """
    y_true, y_pred = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    check_length(y_true, y_pred, names=("y_true", "y_pred"))
    type_true, type_pred = target_type(y_true, "y_true"), target_type(y_pred, "y_pred")
    if len(y_true) < 1:
        raise ValueError("Found empty input array (e.g., `y_true` or `y_pred`) while a minimum "
                         "of 1 sample is required.")
    types = {type_true, type_pred}
    if types == {"binary", "multiclass"}:
        types = {"multiclass"}
    if len(types) > 1:
        raise ValueError(f"Classification metrics can't handle a mix of {type_true} and {type_pred} "
                         "targets; give both as class labels (or both as indicator matrices).")
    kind = types.pop()
    if kind not in SUPPORTED:
        hint = (" (scores or probabilities: threshold or argmax them first)" if kind.startswith("continuous")
                else "")
        raise ValueError(f"{kind} is not supported{hint}.")
    if kind == "multilabel-indicator":
        if y_true.shape[1] != y_pred.shape[1]:
            raise ValueError(f"Multi-label binary indicator input with different numbers of labels: "
                             f"{y_true.shape[1]} and {y_pred.shape[1]}.")
        return kind, np.arange(y_true.shape[1]), y_true, y_pred
    y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    labels = unique_labels(y_true, y_pred)
    if kind == "binary" and labels.size > 2:
        kind = "multiclass"
    return kind, labels, y_true, y_pred


def label_indicator(y, classes) -> np.ndarray:
    """One-hot (N, len(classes)) int of 1-D labels ``y`` (scikit-learn's label_binarize for > 2 classes)."""
    classes = np.asarray(classes)
    return (np.asarray(y).reshape(-1)[:, None] == classes[None, :]).astype(np.int64)


def nan_average(values, weights=None) -> float:
    """scikit-learn's _nanaverage: the (weighted) mean of the non-nan entries (nan if none)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        return float("nan")
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan")
    if weights is None:
        return float(values[keep].mean())
    weights = np.asarray(weights, dtype=np.float64)[keep]
    if weights.sum() == 0:
        return float(values[keep].mean())
    return float(np.average(values[keep], weights=weights))
