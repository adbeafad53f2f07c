"""Classifier figures: confusion matrix, ROC and PR curves, a gallery of predictions.

Inputs are plain arrays (counts, curve points, predictions) as produced by
``cnnlab.metrics`` or scikit-learn; nothing is recomputed here.
"""
import math

import numpy as np

from cnnlab.viz.figure_io import new_figure, save_figure
from cnnlab.viz.images import as_display_batch

# Above this many classes the per-cell numbers would be unreadable: the
# heatmap is drawn without them.
MAX_ANNOTATED_CLASSES = 20


def _class_names(class_names, num_classes: int) -> list:
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    names = [str(n) for n in class_names]
    if len(names) < num_classes:
        raise ValueError(
            f"Got {len(names)} class names for {num_classes} classes; "
            "pass one name per class (or None for indices).")
    return names[:num_classes]


def normalize_confusion(cm) -> np.ndarray:
    """Rows of a confusion matrix (true class x predicted class) divided by their sums.

    Entry [i, j] is the fraction of class-i examples predicted as j (recall on
    the diagonal); a class with no examples gives a row of zeros.
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"A confusion matrix must be square (K, K); got {cm.shape}.")
    if (cm < 0).any():
        raise ValueError("A confusion matrix holds counts; found negative entries.")
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def confusion_matrix_figure(cm, class_names=None, title: str | None = None):
    """The figure of ``plot_confusion_matrix``, returned unsaved."""
    counts = np.asarray(cm)
    rates = normalize_confusion(counts)
    k = rates.shape[0]
    names = _class_names(class_names, k)
    side = min(max(4.0, 0.6 * k + 2.0), 30.0)
    fig = new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"Confusion matrix (accuracy {np.trace(counts) / max(counts.sum(), 1):.3f})")
    if k <= MAX_ANNOTATED_CLASSES:
        fontsize = 9 if k <= 10 else 6
        is_int = np.issubdtype(counts.dtype, np.integer) or np.all(counts == np.round(counts))
        for i in range(k):
            for j in range(k):
                count = f"{int(counts[i, j])}" if is_int else f"{counts[i, j]:.3g}"
                ax.text(j, i, f"{count}\n{rates[i, j]:.2f}", ha="center", va="center",
                        fontsize=fontsize, color="white" if rates[i, j] > 0.5 else "black")
    return fig


def plot_confusion_matrix(cm, out_path, class_names=None, title: str | None = None) -> str:
    """Heatmap of a confusion matrix (rows true, columns predicted); writes a PNG.

    Colour shows the per-true-class rate; each cell is annotated with its count
    and rate (up to ``MAX_ANNOTATED_CLASSES`` classes). Returns the path.
    """
    return save_figure(confusion_matrix_figure(cm, class_names, title), out_path)


def _check_curves(curves, what: str) -> dict:
    if not hasattr(curves, "items") or not curves:
        raise ValueError(f"Pass the {what} curves as a non-empty dict {{name: (x, y, score)}}.")
    checked = {}
    for name, value in curves.items():
        if len(value) != 3:
            raise ValueError(f"{what} curve {name!r} must be a tuple (x, y, score); got {len(value)} items.")
        xs, ys = np.asarray(value[0], dtype=np.float64), np.asarray(value[1], dtype=np.float64)
        if xs.ndim != 1 or xs.shape != ys.shape:
            raise ValueError(f"{what} curve {name!r}: x and y must be 1-D of equal length; got {xs.shape} and {ys.shape}.")
        checked[str(name)] = (xs, ys, value[2])
    return checked


def roc_figure(curves, title: str = "ROC"):
    """The figure of ``plot_roc``, returned unsaved."""
    checked = _check_curves(curves, "ROC")
    fig = new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="chance")
    for name, (fpr, tpr, auc) in checked.items():
        label = name if auc is None else f"{name} (AUC = {float(auc):.3f})"
        ax.plot(fpr, tpr, linewidth=1.8, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def plot_roc(curves, out_path, title: str = "ROC") -> str:
    """ROC curves of several models on one axis: ``{name: (fpr, tpr, auc)}``; writes a PNG.

    The legend reads ``name (AUC = 0.934)``; ``auc=None`` leaves the number out.
    The chance diagonal is dashed. Returns the path.
    """
    return save_figure(roc_figure(curves, title), out_path)


def pr_figure(curves, title: str = "Precision-recall"):
    """The figure of ``plot_pr``, returned unsaved."""
    checked = _check_curves(curves, "PR")
    fig = new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    for name, (recall, precision, ap) in checked.items():
        label = name if ap is None else f"{name} (AP = {float(ap):.3f})"
        ax.step(recall, precision, where="post", linewidth=1.8, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left")
    return fig


def plot_pr(curves, out_path, title: str = "Precision-recall") -> str:
    """Precision-recall curves: ``{name: (recall, precision, ap)}`` (x first, as in plot_roc).

    The legend reads ``name (AP = 0.812)``; ``ap=None`` leaves the number out.
    Writes a PNG and returns the path.
    """
    return save_figure(pr_figure(curves, title), out_path)


def predicted_confidence(preds, probs) -> np.ndarray | None:
    """Probability of each predicted class: probs (N,) as given, or (N, K) indexed by preds."""
    if probs is None:
        return None
    p = np.asarray(probs, dtype=np.float64)
    preds = np.asarray(preds)
    if p.ndim == 1 and p.shape[0] == preds.shape[0]:
        return p
    if p.ndim == 2 and p.shape[0] == preds.shape[0]:
        if preds.min(initial=0) < 0 or preds.max(initial=0) >= p.shape[1]:
            raise ValueError(f"Predictions index past the {p.shape[1]} probability columns.")
        return p[np.arange(p.shape[0]), preds.astype(np.int64)]
    raise ValueError(
        f"probs must be (N,) (probability of the prediction) or (N, K) with N = {preds.shape[0]}; "
        f"got {p.shape}.")


def gallery_order(labels, preds, probs=None) -> np.ndarray:
    """Indices that put mistakes first, then correct predictions.

    Within each group the most confident predictions come first when
    ``probs`` is given ((N,) or (N, K)); otherwise the original order is kept.
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.ndim != 1 or labels.shape != preds.shape:
        raise ValueError(f"labels and preds must be 1-D of equal length; got {labels.shape} and {preds.shape}.")
    correct = (labels == preds).astype(np.int64)
    conf = predicted_confidence(preds, probs)
    if conf is None:
        return np.lexsort((np.arange(len(labels)), correct))
    return np.lexsort((np.arange(len(labels)), -conf, correct))


def prediction_gallery_figure(images, labels, preds, probs, class_names,
                              max_images: int = 25, ncols: int | None = None):
    """The figure of ``prediction_gallery``, returned unsaved."""
    display = as_display_batch(images)  # (N, H, W[, 3])
    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.shape != (display.shape[0],):
        raise ValueError(f"Got {display.shape[0]} images but labels of shape {labels.shape}; pass one label per image.")
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1; got {max_images}.")
    if labels.size and (labels.min() < 0 or np.asarray(preds).min() < 0):
        raise ValueError("labels and preds must be class indices >= 0; drop padded examples first.")
    order = gallery_order(labels, preds, probs)[:max_images]
    conf = predicted_confidence(preds, probs)
    num_classes = int(max(labels.max(), preds.max())) + 1
    names = _class_names(class_names, num_classes)
    n = len(order)
    ncols = ncols or min(n, math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncols)
    fig = new_figure(2.0 * ncols, 2.25 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, idx in zip(axes.flat, order):
        img = display[idx]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0)
        title = f"{names[labels[idx]]} / {names[preds[idx]]}"
        if conf is not None:
            title += f" ({conf[idx]:.2f})"
        ax.set_title(title, fontsize=8, color="green" if labels[idx] == preds[idx] else "red")
    mistakes = int((labels != preds).sum())
    fig.suptitle(f"true / predicted: {mistakes} of {len(labels)} wrong", fontsize=10)
    return fig


def prediction_gallery(images, labels, preds, probs, class_names, out_path,
                       max_images: int = 25, ncols: int | None = None) -> str:
    """Grid of images titled 'true / predicted (probability)', mistakes first.

    images (N, H, W[, C]) in [0, 1] (or uint8); labels, preds (N,) ints;
    probs (N,), (N, K) or None; class_names a list or None (indices).
    Titles of mistakes are red, correct ones green; the most confident
    mistakes lead. Shows at most ``max_images``. Writes a PNG, returns the path.
    """
    fig = prediction_gallery_figure(images, labels, preds, probs, class_names, max_images, ncols)
    return save_figure(fig, out_path)
