"""Image embeddings and the "bottleneck" recipe: cached backbone features + a small dense head.

``embed`` runs a backbone built without its top (``include_top=False``,
``pooling='avg'``) and returns one vector per image. ``cache_bottleneck_features``
runs it once over a split of any ``cnnlab.data`` source and stores
``features`` (N, C), ``labels`` (N,) and ``class_names`` in an ``.npz``;
``train_dense_head`` then fits a ``DenseHead`` on those arrays in seconds, the
frozen backbone never running again.
"""
from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnlab.data.preprocess import preprocess


def backbone(model_name: str, pooling: str = "avg", **kwargs):
    """A zoo model without its top, pooled to one vector per image (Keras options for Keras families)."""
    from cnnlab import models
    from cnnlab.pretrained import name_maps_kwargs

    extra = name_maps_kwargs(model_name)  # {} for a family Keras does not publish
    return models.create(model_name.lower(), include_top=False, pooling=pooling, **{**extra, **kwargs})


def embed(model, variables, images, *, batch_size: int = 32, preprocess_mode: str | None = None) -> np.ndarray:
    """Pooled features (N, C) of RGB images (N, H, W, 3) in [0, 1], ``batch_size`` at a time."""
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
    images = np.asarray(images, np.float32)
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        if preprocess_mode is not None:
            x = preprocess(x, preprocess_mode)
        out.append(_pooled(np.asarray(apply(variables, x))))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _pooled(features: np.ndarray) -> np.ndarray:
    if features.ndim == 4:  # a backbone built with pooling=None: average it here
        return features.mean(axis=(1, 2))
    if features.ndim != 2:
        raise ValueError(f"a backbone should give (B, C) or (B, h, w, C) features, got shape {features.shape}.")
    return features


def cache_bottleneck_features(model, variables, data_config, split: str, path: str, *,
                              batch_size: int = 32, preprocess_mode: str | None = None,
                              seed: int = 0) -> dict:
    """Runs the backbone over ``split`` once and writes features, labels and class names to ``path``."""
    from cnnlab import data

    if not str(path).endswith(".npz"):
        raise ValueError(f"bottleneck features are written as .npz; got path={path!r}.")
    dataset = data.build(data_config, split, batch_size, train=False, seed=seed)
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
    features, labels = [], []
    for batch in dataset.epoch(0):
        x = batch["image"]  # (B, H, W, C) in [0, 1]
        if preprocess_mode is not None:
            x = preprocess(x, preprocess_mode)
        keep = batch.get("valid", np.ones(len(x), bool))
        features.append(_pooled(np.asarray(apply(variables, x)))[keep])
        labels.append(np.asarray(batch["label"])[keep])
    result = {
        "features": np.concatenate(features).astype(np.float32),  # (N, C)
        "labels": np.concatenate(labels).astype(np.int32),  # (N,)
        "class_names": np.asarray(list(dataset.info.class_names or []), dtype=str),
    }
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    np.savez_compressed(path, **result)
    return result


def load_bottleneck(path: str) -> dict:
    """The arrays ``cache_bottleneck_features`` wrote."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no bottleneck file at {path!r}; write it with cache_bottleneck_features "
                                "or scripts/extract_features.py.")
    with np.load(path) as f:
        missing = {"features", "labels"} - set(f.files)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}; it was not written by cache_bottleneck_features.")
        return {k: f[k] for k in f.files}


class DenseHead(nn.Module):
    """[Dense(hidden) -> ReLU -> Dropout] -> Dense(num_classes) logits on (B, C) features."""

    num_classes: int
    hidden: int = 256  # 0: a linear classifier
    dropout_rate: float = 0.5

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, C)
        if self.hidden:
            x = nn.relu(nn.Dense(self.hidden, name="fc")(x))
            x = nn.Dropout(self.dropout_rate, deterministic=not train, name="dropout")(x)
        return nn.Dense(self.num_classes, name="logits")(x)  # (B, num_classes)


def train_dense_head(features, labels, num_classes: int, *, hidden: int = 256, dropout_rate: float = 0.5,
                     epochs: int = 30, batch_size: int = 32, lr: float = 1e-3, seed: int = 0):
    """Fits a ``DenseHead`` with Adam and cross-entropy; returns (head, params, mean loss per epoch)."""
    features = np.asarray(features, np.float32)
    labels = np.asarray(labels, np.int32)
    if features.ndim != 2 or len(features) != len(labels):
        raise ValueError(f"need features (N, C) and labels (N,), got {features.shape} and {labels.shape}.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}.")
    head = DenseHead(num_classes, hidden, dropout_rate)
    key = jax.random.PRNGKey(seed)
    init_key, key = jax.random.split(key)
    params = head.init(init_key, features[:1])["params"]
    tx = optax.adam(lr)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y, rng):
        def loss_fn(p):
            logits = head.apply({"params": p}, x, train=True, rngs={"dropout": rng})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    history = []
    for epoch in range(epochs):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), len(features)))
        losses = []
        for i, start in enumerate(range(0, len(order), batch_size)):
            idx = order[start:start + batch_size]
            rng = jax.random.fold_in(jax.random.fold_in(key, epoch), i)
            params, opt_state, loss = step(params, opt_state, jnp.asarray(features[idx]), jnp.asarray(labels[idx]), rng)
            losses.append(float(loss) * len(idx))
        history.append(sum(losses) / len(order))
    return head, params, history


def head_accuracy(head, params, features, labels) -> float:
    """Top-1 accuracy of a trained head on cached features."""
    logits = head.apply({"params": params}, jnp.asarray(features, jnp.float32))
    return float(np.mean(np.asarray(jnp.argmax(logits, -1)) == np.asarray(labels)))
