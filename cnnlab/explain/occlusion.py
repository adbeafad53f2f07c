"""Occlusion sensitivity (Zeiler & Fergus 2014): the class probability with a grey patch over each place.

A ``patch`` x ``patch`` square of ``fill`` slides over the image with
``stride``; position (i, j) covers rows i*stride .. i*stride + patch - 1 and
the same columns, giving (B, h', w') with h' = (H - patch) // stride + 1.
All positions run on device, ``chunk`` occluded batches at a time (vmapped
inside ``lax.map``). Low values mark the places the prediction needs.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.data.preprocess import preprocess
from cnnlab.explain.taps import as_classes, class_scores


def grey_fill(mode: str | None = None, grey: float = 0.5) -> np.ndarray:
    """(3,) the model-input value of the grey ``grey`` (RGB in [0, 1]) under ``preprocess`` mode ``mode``.

    mode=None: the model takes [0, 1] images as they are, so it is ``grey`` itself.
    """
    if mode is None:
        return np.full(3, grey, np.float32)
    return np.asarray(preprocess(np.full((1, 1, 1, 3), grey, np.float32), mode), np.float32).reshape(3)


def occlusion_grid(size: int, patch: int, stride: int) -> np.ndarray:
    """Top (or left) offsets of the patch positions along one side: 0, stride, ... <= size - patch."""
    if patch < 1 or stride < 1:
        raise ValueError(f"patch and stride must be >= 1; got patch={patch}, stride={stride}.")
    if patch > size:
        raise ValueError(f"patch={patch} is larger than the image side {size}.")
    return np.arange(0, size - patch + 1, stride)


@partial(jax.jit, static_argnames=("model", "patch", "stride", "chunk"))
def _occlusion(model, variables, x, classes, fill, patch, stride, chunk):
    _, height, width, _ = x.shape
    tops, lefts = occlusion_grid(height, patch, stride), occlusion_grid(width, patch, stride)
    corners = jnp.asarray(np.stack(np.meshgrid(tops, lefts, indexing="ij"), -1).reshape(-1, 2))  # (P, 2)
    rows, cols = jnp.arange(height), jnp.arange(width)

    def probability(corner):  # (2,) -> (B,)
        inside = (((rows >= corner[0]) & (rows < corner[0] + patch))[:, None]
                  & ((cols >= corner[1]) & (cols < corner[1] + patch))[None, :])  # (H, W)
        occluded = jnp.where(inside[None, :, :, None], fill, x)  # (B, H, W, C)
        logits = model.apply(variables, occluded, train=False)
        return class_scores(jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), classes)

    log_p = jax.lax.map(probability, corners, batch_size=min(chunk, corners.shape[0]))  # (P, B)
    return jnp.exp(log_p).T.reshape(x.shape[0], len(tops), len(lefts))


def occlusion(model, variables, x, classes, patch: int = 32, stride: int = 16, fill=None,
              chunk: int = 32) -> jax.Array:
    """Class probability (B, h', w') with a ``fill`` patch at each position.

    x: (B, H, W, C) model inputs; fill: a scalar or (C,) in the model's input
    space, default ``grey_fill()`` (0.5: mid-grey for unpreprocessed [0, 1]
    inputs); pass ``grey_fill(mode)`` for preprocessed ones. chunk: positions per device batch.
    """
    x = jnp.asarray(x)
    fill = grey_fill() if fill is None else fill
    fill = jnp.broadcast_to(jnp.asarray(fill, x.dtype), (x.shape[-1],))
    for side in x.shape[1:3]:
        occlusion_grid(side, patch, stride)  # raises for a patch larger than the image
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1; got {chunk}.")
    return _occlusion(model, variables, x, as_classes(classes, x.shape[0]), fill, patch, stride, chunk)


def occlusion_to_pixels(scores, height: int, width: int, patch: int, stride: int) -> np.ndarray:
    """(B, h', w') per-position values -> (B, H, W): each pixel the mean over the patches covering it (0 if none)."""
    scores = np.asarray(scores, np.float32)
    tops, lefts = occlusion_grid(height, patch, stride), occlusion_grid(width, patch, stride)
    if scores.shape[1:] != (len(tops), len(lefts)):
        raise ValueError(f"scores {scores.shape} do not match a {height}x{width} image with "
                         f"patch={patch}, stride={stride} ({len(tops)}x{len(lefts)} positions).")
    total = np.zeros((scores.shape[0], height, width), np.float32)
    count = np.zeros((height, width), np.float32)
    for i, top in enumerate(tops):
        for j, left in enumerate(lefts):
            total[:, top:top + patch, left:left + patch] += scores[:, i, j, None, None]
            count[top:top + patch, left:left + patch] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)
