"""How many images per class the bottleneck recipe needs: dense heads on cached features vs data size.

The lesson's claim is that with a pretrained backbone, 200-1000 images per
class suffice. ``bottleneck_curve`` takes cached features of a training and
a test split (``cnnlab.pretrained.features.cache_bottleneck_features``),
trains ``train_dense_head`` on the first ``n`` images of every class (in a
seeded shuffle), for each ``n`` and seed, and scores each head on the whole
test split: accuracy and, for two classes, ROC AUC of the positive class.
"""
from __future__ import annotations

import jax
import numpy as np

from cnnlab.metrics.ranking import roc_auc_score
from cnnlab.pretrained.features import DenseHead, train_dense_head


def per_class_subset(labels, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` examples of every class, drawn without replacement by ``seed``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} training examples, fewer than the {per_class} asked for.")
        picked.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picked))


def head_probabilities(head: DenseHead, params, features) -> np.ndarray:
    """Softmax probabilities (N, classes) of a trained head."""
    logits = jax.jit(lambda p, x: head.apply({"params": p}, x))(params, np.asarray(features, np.float32))
    return np.asarray(jax.nn.softmax(logits, axis=-1))


def bottleneck_curve(train: dict, test: dict, sizes, *, seeds=(0,), pos_label: int = 1, epochs: int = 30,
                     hidden: int = 256, dropout_rate: float = 0.5, lr: float = 1e-3) -> list[dict]:
    """One row per (images per class, seed): test accuracy and (binary tasks) AUC of P(pos_label)."""
    num_classes = int(max(train["labels"].max(), test["labels"].max())) + 1
    rows = []
    for per_class in sizes:
        for seed in seeds:
            idx = per_class_subset(train["labels"], int(per_class), seed)
            head, params, history = train_dense_head(
                train["features"][idx], train["labels"][idx], num_classes, hidden=hidden,
                dropout_rate=dropout_rate, epochs=epochs, lr=lr, seed=seed)
            probs = head_probabilities(head, params, test["features"])
            row = {"per_class": int(per_class), "seed": int(seed), "train_images": int(len(idx)),
                   "accuracy": float(np.mean(probs.argmax(-1) == test["labels"])),
                   "final_train_loss": float(history[-1])}
            if num_classes == 2:
                row["auc"] = float(roc_auc_score(np.asarray(test["labels"]) == pos_label, probs[:, pos_label]))
            rows.append(row)
    return rows


def summarise(rows: list[dict], metrics=("accuracy", "auc")) -> list[dict]:
    """Mean and spread (min, max) per number of images per class."""
    out = []
    for per_class in sorted({r["per_class"] for r in rows}):
        group = [r for r in rows if r["per_class"] == per_class]
        entry = {"per_class": per_class, "seeds": len(group)}
        for m in metrics:
            values = [r[m] for r in group if m in r]
            if values:
                entry[m] = float(np.mean(values))
                entry[f"{m}_min"], entry[f"{m}_max"] = float(min(values)), float(max(values))
        out.append(entry)
    return out
