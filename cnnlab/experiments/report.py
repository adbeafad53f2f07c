"""Evaluation report of a finished classification run: numbers (JSON) and figures (PNG).

`write_report(workdir)` restores the run, predicts class probabilities for
every example of a split with the run's own input transform, and writes into
the run directory:

  report_<split>.json     accuracy, per-class and macro precision/recall/F1,
                          confusion matrix, ROC AUC, average precision, log loss
  confusion_<split>.png   confusion matrix (counts and rates)
  roc_<split>.png         ROC curve (binary: of the positive class; multi-class:
                          one-vs-rest per class, macro AUC in the title)
  pr_<split>.png          precision-recall curve(s)
  gallery_<split>.png     predictions, mistakes first, most confident first

Binary runs (one sigmoid logit, or two classes) score the positive class
`pos_label` (an index or a class name; default 1, dogs in the lesson);
precision/recall/F1 headline numbers are those of that class. Multi-class
runs report macro averages and one-vs-rest macro ROC AUC / AP.

`format_segmentation_report(metrics, class_names)` is the text report of a
segmentation evaluation (scalars, then IoU and accuracy per class).
"""
import dataclasses
import json
import math
import os
from typing import Optional, Union

import jax
import numpy as np

from cnnlab.metrics import classification as cls_metrics
from cnnlab.metrics import ranking
from cnnlab.tasks.classification import Classification
from cnnlab.train.loop import restore_experiment
from cnnlab.train.step import make_predict_step
from cnnlab.viz import classification as cls_viz
from cnnlab.viz.figure_io import save_figure

MAX_CURVES = 10  # one-vs-rest curves drawn for at most this many classes


@dataclasses.dataclass
class Predictions:
    """Every example of a split with the model's class probabilities.

    labels (N,) int; probs (N, K) with K >= 2 (a one-logit binary model gives
    [P(class 0), P(class 1)]); gallery_* hold the few examples kept for the
    gallery (mistakes first): images (M, H, W, C) in [0, 1], labels, preds, probs.
    """

    labels: np.ndarray
    probs: np.ndarray
    class_names: tuple
    split: str
    step: int
    parameters: int
    gallery_images: np.ndarray
    gallery_labels: np.ndarray
    gallery_probs: np.ndarray

    @property
    def preds(self) -> np.ndarray:
        return np.argmax(self.probs, axis=1)


def count_parameters(params) -> int:
    """Number of trainable parameters (every leaf of the params tree)."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def probabilities(logits, loss_type: str = "softmax") -> np.ndarray:
    """Class probabilities (N, K >= 2) from model logits (N, K).

    One logit (binary sigmoid): [1 - p, p] with p = sigmoid(logit). Softmax
    logits: softmax. Several sigmoid logits: the sigmoids normalised to sum to
    1 (their ranking and argmax are those of the logits).
    """
    z = np.asarray(logits, np.float64)
    if z.ndim != 2 or z.shape[1] < 1:
        raise ValueError(f"logits must be (N, K); got shape {z.shape}.")
    if z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1.0 - p, p], axis=1)
    if loss_type == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s / np.maximum(s.sum(axis=1, keepdims=True), 1e-300)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _GalleryKeeper:
    """Keeps the `n` most confident mistakes and `n` most confident hits seen so far."""

    def __init__(self, n: int):
        self.n = n
        self.groups = {False: None, True: None}  # correct? -> (images, labels, probs)

    def add(self, images, labels, probs):
        correct = np.argmax(probs, 1) == labels
        for flag in (False, True):
            pick = correct == flag
            new = (images[pick], labels[pick], probs[pick])
            old = self.groups[flag]
            if old is not None:
                new = tuple(np.concatenate([a, b]) for a, b in zip(old, new))
            order = np.argsort(-new[2].max(axis=1), kind="stable")[: self.n]
            self.groups[flag] = tuple(a[order] for a in new)

    def result(self, image_shape):
        parts = [g for g in (self.groups[False], self.groups[True]) if g is not None]
        if not parts:
            return np.zeros((0,) + tuple(image_shape), np.float32), np.zeros(0, int), np.zeros((0, 2))
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def predict_split(workdir: str, split: str = "test", which: str = "latest",
                  batch_size: Optional[int] = None, gallery_size: int = 25) -> Predictions:
    """Restores the run in `workdir` and predicts every example of `split`."""
    exp, state = restore_experiment(workdir, which, split=split, batch_size=batch_size)
    config, model, task, dataset = exp.config, exp.model, exp.task, exp.data
    if not isinstance(task, Classification):
        raise ValueError(f"{workdir} is not a classification run (task {config.task.name!r}); "
                         "reports cover classifiers only.")
    loss_type = task.loss_type
    predict = jax.jit(make_predict_step(model, exp.input_fn))
    keeper = _GalleryKeeper(gallery_size)
    labels, probs = [], []
    for batch in dataset.epoch(0):
        logits = np.asarray(predict(state, batch["image"]))  # (B, K)
        valid = np.asarray(batch.get("valid", np.ones(len(logits), bool)), bool)
        batch_probs = probabilities(logits[valid], loss_type)  # (b, K >= 2)
        batch_labels = np.asarray(batch["label"])[valid].astype(np.int64)
        keeper.add(np.asarray(batch["image"])[valid], batch_labels, batch_probs)
        labels.append(batch_labels)
        probs.append(batch_probs)
    if not labels:
        raise ValueError(f"split {split!r} of {workdir} has no examples.")
    g_images, g_labels, g_probs = keeper.result(dataset.info.image_shape)
    names = tuple(dataset.info.class_names) or tuple(str(i) for i in range(probs[0].shape[1]))
    if len(names) < probs[0].shape[1]:
        names = tuple(str(i) for i in range(probs[0].shape[1]))
    return Predictions(labels=np.concatenate(labels), probs=np.concatenate(probs),
                       class_names=names, split=split, step=int(state.step),
                       parameters=count_parameters(state.params), gallery_images=g_images,
                       gallery_labels=g_labels, gallery_probs=g_probs)


def positive_index(pos_label: Union[int, str, None], class_names) -> int:
    """The class index of `pos_label` (an index or a class name; None means 1)."""
    if pos_label is None:
        return 1
    names = [str(n) for n in class_names]
    if isinstance(pos_label, str) and not pos_label.lstrip("-").isdigit():
        if pos_label not in names:
            raise ValueError(f"pos_label={pos_label!r} is not a class; the classes are {names}.")
        return names.index(pos_label)
    index = int(pos_label)
    if not 0 <= index < len(names):
        raise ValueError(f"pos_label={index} is out of range for the {len(names)} classes {names}.")
    return index


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None


def classification_report(labels, probs, class_names=None, pos_label=None):
    """(numbers, curves) of a classifier from its probabilities.

    labels (N,) class indices; probs (N, K >= 2). numbers: a JSON-ready dict;
    curves: {'roc': {name: (fpr, tpr, auc)}, 'pr': {name: (recall, precision, ap)}}
    for the viz functions. Undefined values (AUC with one class present) are None.
    """
    labels = np.asarray(labels).astype(np.int64)
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probs must be (N, K >= 2) with N = {labels.shape[0]}; got {probs.shape}.")
    k = probs.shape[1]
    names = [str(n) for n in (class_names or range(k))][:k]
    preds = np.argmax(probs, axis=1)
    cm = cls_metrics.confusion_from_labels(labels, preds, k)
    p, r, f, support = cls_metrics.scores_from_confusion(cm, average=None)
    macro = cls_metrics.scores_from_confusion(cm, average="macro")
    numbers = {
        "num_examples": int(labels.size),
        "class_names": names,
        "accuracy": cls_metrics.accuracy(labels, preds),
        "per_class": {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                          "support": int(support[i])} for i, n in enumerate(names)},
        "macro": {"precision": macro[0], "recall": macro[1], "f1": macro[2]},
        "confusion_matrix": cm.astype(int).tolist(),
        "log_loss": cls_metrics.log_loss(labels, probs, labels=np.arange(k)),
    }
    curves = {"roc": {}, "pr": {}}
    if k == 2:
        pos = positive_index(pos_label, names)
        scores = probs[:, pos]
        binary = cls_metrics.scores_from_confusion(cm, average="binary", pos_label=pos)
        auc = _finite(ranking.roc_auc_score(labels == pos, scores))
        ap = _finite(ranking.average_precision_score(labels == pos, scores))
        numbers.update(averaging=f"binary, positive class {names[pos]!r}", positive_class=names[pos],
                       precision=binary[0], recall=binary[1], f1=binary[2], auc=auc,
                       average_precision=ap)
        fpr, tpr, _ = ranking.roc_curve(labels, scores, pos_label=pos)
        prec, rec, _ = ranking.precision_recall_curve(labels, scores, pos_label=pos)
        curves["roc"][names[pos]] = (fpr, tpr, auc)
        curves["pr"][names[pos]] = (rec, prec, ap)
    else:
        present = np.bincount(labels, minlength=k) > 0
        onehot = (labels[:, None] == np.arange(k)[None, :]).astype(np.int64)  # one-vs-rest per column
        auc = _finite(ranking.roc_auc_score(onehot, probs, average="macro")) if present.all() else None
        ap = _finite(ranking.average_precision_score(onehot, probs, average="macro"))
        numbers.update(averaging="macro over classes (one-vs-rest for AUC/AP)",
                       precision=macro[0], recall=macro[1], f1=macro[2], auc=auc,
                       average_precision=ap)
        for i in range(min(k, MAX_CURVES)):
            if not present[i] or present.sum() < 2:
                continue
            fpr, tpr, _ = ranking.roc_curve(labels, probs[:, i], pos_label=i)
            prec, rec, _ = ranking.precision_recall_curve(labels, probs[:, i], pos_label=i)
            curves["roc"][names[i]] = (fpr, tpr, ranking.auc(fpr, tpr))
            curves["pr"][names[i]] = (rec, prec, ranking.average_precision_score(
                labels == i, probs[:, i]))
    return numbers, curves


def report_paths(workdir: str, split: str) -> dict:
    """Where `write_report` puts each file of a split's report."""
    return {kind: os.path.join(workdir, f"{kind}_{split}.{'json' if kind == 'report' else 'png'}")
            for kind in ("report", "confusion", "roc", "pr", "gallery")}


def write_report(workdir: str, split: str = "test", which: str = "latest", pos_label=None,
                 gallery_size: int = 25, predictions: Optional[Predictions] = None) -> dict:
    """Evaluates the run in `workdir` on `split`; writes the JSON and PNGs; returns the numbers.

    The returned dict also holds `paths` (the files written) and `curves`
    (ROC/PR points, not written to JSON).
    """
    pred = predictions or predict_split(workdir, split, which, gallery_size=gallery_size)
    numbers, curves = classification_report(pred.labels, pred.probs, pred.class_names, pos_label)
    numbers.update(split=split, checkpoint=which, step=pred.step, parameters=pred.parameters)
    paths = report_paths(workdir, split)
    with open(paths["report"], "w") as f:
        json.dump(numbers, f, indent=2)
    cm = np.asarray(numbers["confusion_matrix"])
    cls_viz.plot_confusion_matrix(cm, paths["confusion"], pred.class_names,
                                  title=f"{split}: accuracy {numbers['accuracy']:.3f}")
    auc_text = "n/a" if numbers["auc"] is None else f"{numbers['auc']:.3f}"
    if curves["roc"]:
        cls_viz.plot_roc(curves["roc"], paths["roc"], title=f"ROC ({split}, AUC {auc_text})")
        cls_viz.plot_pr(curves["pr"], paths["pr"], title=f"Precision-recall ({split})")
    else:
        paths.pop("roc"), paths.pop("pr")
    if len(pred.gallery_labels):
        fig = cls_viz.prediction_gallery_figure(
            pred.gallery_images, pred.gallery_labels, np.argmax(pred.gallery_probs, 1),
            pred.gallery_probs, pred.class_names, max_images=gallery_size)
        wrong = int((pred.preds != pred.labels).sum())
        # The figure only sees the kept images: title it with the whole split's count.
        fig.suptitle(f"true / predicted (confidence), most confident mistakes first: "
                     f"{wrong} of {pred.labels.size} {split} images wrong", fontsize=10)
        save_figure(fig, paths["gallery"])
    else:
        paths.pop("gallery")
    return dict(numbers, paths=paths, curves=curves)


def format_segmentation_report(metrics: dict, class_names=None) -> str:
    """Multi-line text: the scalar metrics, then IoU and accuracy per class by name.

    metrics: a segmentation evaluation (``Segmentation.finalize``, ``train.evaluate``
    or ``cnnlab.metrics.segmentation.segmentation_scores``; keys may carry a
    split prefix such as ``test/``).
    """
    lines = [" ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))]
    per_iou = next((v for k, v in metrics.items() if k.endswith("per_class_iou")), None)
    per_acc = next((v for k, v in metrics.items() if k.endswith("class_accuracy")
                    and not k.endswith("mean_class_accuracy")), None)
    if per_iou is not None:
        names = list(class_names or [])
        lines.append(f"{'class':<16} {'IoU':>7} {'accuracy':>9}")
        for k, iou in enumerate(per_iou):
            name = names[k] if k < len(names) else f"class {k}"
            acc = per_acc[k] if per_acc is not None else float("nan")
            lines.append(f"{name:<16} {iou:>7.4f} {acc:>9.4f}")
    return "\n".join(lines)
