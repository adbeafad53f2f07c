"""Semantic segmentation scores from a confusion matrix summed over the whole set.

``confusion_update`` is jittable and runs inside the eval step; the finalisers
read the (K, K) total on the host (rows = true class, columns = prediction):
  pixel accuracy          sum_i n_ii / sum_ij n_ij
  mean class accuracy     mean over classes present in the truth of n_ii / t_i
  IoU_i                   n_ii / (t_i + p_i - n_ii), nan when class i is in neither
  mean IoU                mean of IoU_i skipping nan (classes absent from both)
  frequency-weighted IoU  sum_i (t_i / total) IoU_i  (Long et al. 2015, FCN)
with t_i = sum_j n_ij true pixels and p_i = sum_j n_ji predicted pixels.
"""
import jax.numpy as jnp
import numpy as np

from cnnlab.metrics.streaming import confusion_counts

IGNORE_LABEL = 255


def confusion_update(cm, masks, preds, ignore_label: int = IGNORE_LABEL):
    """Adds a batch of label maps to the running confusion matrix ``cm`` (K, K).

    masks: int (B, H, W) true labels with ``ignore_label`` for unlabelled
    pixels; preds: int (B, H, W) predicted classes (argmax of the logits).
    Pixels with the ignore label, or any label outside [0, K), are not counted.
    """
    cm = jnp.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (K, K) confusion matrix, got shape {cm.shape}.")
    masks = jnp.asarray(masks)
    valid = masks != ignore_label
    counts = confusion_counts(masks, preds, cm.shape[0], valid=valid)
    return cm + counts.astype(cm.dtype)


def _confusion(cm) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square (K, K) confusion matrix, got shape {cm.shape}.")
    return cm.astype(np.float64)


def _ratio(num, den):
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def pixel_accuracy(cm) -> float:
    """Correct pixels / counted pixels (nan for an empty matrix)."""
    cm = _confusion(cm)
    return float(_ratio(np.trace(cm), cm.sum()))


def class_accuracy(cm) -> np.ndarray:
    """Per-class recall n_ii / t_i -> (K,), nan for classes with no true pixels."""
    cm = _confusion(cm)
    return _ratio(np.diag(cm), cm.sum(axis=1))


def mean_class_accuracy(cm) -> float:
    """Mean of ``class_accuracy`` over classes that occur in the truth."""
    return _nanmean(class_accuracy(cm))


def per_class_iou(cm) -> np.ndarray:
    """IoU_i = n_ii / (t_i + p_i - n_ii) -> (K,), nan where class i is in neither."""
    cm = _confusion(cm)
    tp = np.diag(cm)
    return _ratio(tp, cm.sum(axis=1) + cm.sum(axis=0) - tp)


def mean_iou(cm) -> float:
    """Mean of ``per_class_iou`` over classes present in the truth or the prediction."""
    return _nanmean(per_class_iou(cm))


def frequency_weighted_iou(cm) -> float:
    """sum_i (t_i / total) IoU_i: IoU weighted by how often each class is true."""
    cm = _confusion(cm)
    total = cm.sum()
    if total == 0:
        return float("nan")
    iou = np.nan_to_num(per_class_iou(cm), nan=0.0)
    return float(np.sum(cm.sum(axis=1) / total * iou))


def segmentation_scores(cm) -> dict:
    """All of the above in one dict (floats and (K,) arrays) for logging."""
    return {
        "pixel_accuracy": pixel_accuracy(cm),
        "mean_class_accuracy": mean_class_accuracy(cm),
        "mean_iou": mean_iou(cm),
        "frequency_weighted_iou": frequency_weighted_iou(cm),
        "per_class_iou": per_class_iou(cm),
        "class_accuracy": class_accuracy(cm),
    }


def _nanmean(values) -> float:
    values = np.asarray(values)
    keep = ~np.isnan(values)
    return float(values[keep].mean()) if keep.any() else float("nan")
