"""Siamese embedding network: one shared conv tower embeds both (or all three) images.

Contrastive loss (Hadsell et al. 2006) on pairs and triplet loss (Schroff et
al. 2015) on (anchor, positive, negative) triplets train unit-length
embeddings whose distance says "same class or not". Pairs and triplets are
drawn from any labelled set through a class index; verification is scored by
ROC AUC of -distance, retrieval by 1-nearest-neighbour accuracy.
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.metrics.ranking import roc_auc_score
from cnnlab.models.layers import Conv
from cnnlab.ops import pool

LOSSES = ("contrastive", "triplet")


class EmbeddingNet(nn.Module):
    """Conv3x3/ReLU/MaxPool2 stages, Dense(hidden)/ReLU, Dense(embed_dim), L2-normalised."""
    features: Sequence[int] = (32, 64)
    hidden: int = 128
    embed_dim: int = 32

    @nn.compact
    def __call__(self, x):  # (B, H, W, C)
        for i, f in enumerate(self.features):
            x = nn.relu(Conv(f, (3, 3), padding="SAME", name=f"conv{i + 1}")(x))
            x = pool.max_pool(x, 2)
        x = nn.relu(nn.Dense(self.hidden, name="fc1")(x.reshape(x.shape[0], -1)))
        e = nn.Dense(self.embed_dim, name="embedding")(x)  # (B, D)
        return e / jnp.sqrt(jnp.sum(jnp.square(e), axis=-1, keepdims=True) + 1e-12)


def distance(a, b):
    """Euclidean distance between rows, (B,)."""
    return jnp.sqrt(jnp.sum(jnp.square(a - b), axis=-1) + 1e-12)


def contrastive_loss(e1, e2, same, margin: float = 1.0):
    """mean(same * d^2 + (1 - same) * max(0, margin - d)^2); same (B,) in {0, 1}."""
    d = distance(e1, e2)
    same = same.astype(d.dtype)
    return jnp.mean(same * jnp.square(d) + (1.0 - same) * jnp.square(jax.nn.relu(margin - d)))


def triplet_loss(anchor, positive, negative, margin: float = 0.2):
    """mean(max(0, |a - p|^2 - |a - n|^2 + margin))."""
    d_pos = jnp.sum(jnp.square(anchor - positive), axis=-1)
    d_neg = jnp.sum(jnp.square(anchor - negative), axis=-1)
    return jnp.mean(jax.nn.relu(d_pos - d_neg + margin))


def class_index(labels) -> dict:
    """Arrays for sampling by class: examples sorted by class, class starts/counts, each example's rank.

    Needs at least two classes and at least two examples in every class.
    """
    labels = np.asarray(labels).reshape(-1)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"pair sampling needs at least 2 classes; the labels hold {len(classes)}.")
    if counts.min() < 2:
        raise ValueError(f"pair sampling needs >= 2 examples per class; class {classes[counts.argmin()]} has "
                         f"{counts.min()}.")
    order = np.argsort(labels, kind="stable")  # example ids grouped by class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cls = np.searchsorted(classes, labels)  # each example's class position
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels)) - starts[cls[order]]
    return {"order": order, "starts": starts, "counts": counts, "cls": cls, "rank": rank,
            "classes": classes}


def _same_class_other(key, index, anchors):
    """Another example of each anchor's class (never the anchor itself)."""
    c = index["cls"][anchors]
    count = index["counts"][c]
    shift = jax.random.randint(key, anchors.shape, 1, 1 << 30) % (count - 1) + 1  # 1..count-1
    return index["order"][index["starts"][c] + (index["rank"][anchors] + shift) % count]


def _other_class(key, index, anchors):
    """A random example of a class other than each anchor's."""
    k_c, k_e = jax.random.split(key)
    num_classes = len(index["classes"])
    c = (index["cls"][anchors] + jax.random.randint(k_c, anchors.shape, 1, num_classes)) % num_classes
    pick = jax.random.randint(k_e, anchors.shape, 0, 1 << 30) % index["counts"][c]
    return index["order"][index["starts"][c] + pick]


def sample_pairs(key, index: dict, n: int):
    """(first, second, same) example ids, (n,) each; half the pairs share a class (same=1)."""
    k_a, k_p, k_n = jax.random.split(key, 3)
    index = {k: jnp.asarray(v) for k, v in index.items()}
    first = jax.random.randint(k_a, (n,), 0, len(index["cls"]))
    same = (jnp.arange(n) % 2 == 0).astype(jnp.int32)
    second = jnp.where(same == 1, _same_class_other(k_p, index, first), _other_class(k_n, index, first))
    return first, second, same


def sample_triplets(key, index: dict, n: int):
    """(anchor, positive, negative) example ids, (n,) each."""
    k_a, k_p, k_n = jax.random.split(key, 3)
    index = {k: jnp.asarray(v) for k, v in index.items()}
    anchor = jax.random.randint(k_a, (n,), 0, len(index["cls"]))
    return anchor, _same_class_other(k_p, index, anchor), _other_class(k_n, index, anchor)


def verification_auc(embeddings, labels, key, num_pairs: int = 10000) -> float:
    """ROC AUC of -distance for telling same-class from different-class pairs (balanced pairs)."""
    first, second, same = sample_pairs(key, class_index(labels), num_pairs)
    e = np.asarray(embeddings)
    d = np.sqrt(((e[np.asarray(first)] - e[np.asarray(second)]) ** 2).sum(-1))
    return float(roc_auc_score(np.asarray(same), -d))


def retrieval_accuracy(embeddings, labels) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy: is the closest other embedding of the same class?"""
    e = np.asarray(embeddings, np.float64)
    labels = np.asarray(labels)
    sq = (e ** 2).sum(1)
    d = sq[:, None] + sq[None] - 2 * e @ e.T  # (N, N) squared distances
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[np.argmin(d, axis=1)] == labels))
