"""Picks numpy or jax.numpy for box functions that accept either.

Box arithmetic is the same on host arrays (data pipelines, evaluation) and on
device arrays (losses, post-processing under ``jit``); one function body serves
both by asking which namespace its inputs belong to.
"""
import jax
import jax.numpy as jnp
import numpy as np


def array_namespace(*arrays):
    """Returns ``jax.numpy`` if any input is a jax array or tracer, else ``numpy``."""
    for a in arrays:
        if isinstance(a, jax.Array):
            return jnp
    return np


def as_array(x):
    """Keeps jax arrays (and tracers) as they are; turns anything else into numpy."""
    return x if isinstance(x, jax.Array) else np.asarray(x)


def as_boxes(boxes, name: str = "boxes"):
    """Returns ``boxes`` as an array, raising ValueError unless its shape is (..., 4)."""
    boxes = as_array(boxes)
    shape = boxes.shape
    if len(shape) == 0 or shape[-1] != 4:
        raise ValueError(
            f"{name} must have shape (..., 4) with 4 coordinates on the last axis, "
            f"got shape {shape}; reshape it to (N, 4)."
        )
    return boxes
