"""Input-gradient attributions of a class logit: saliency, SmoothGrad, integrated gradients.

All differentiate the class logit (before softmax) w.r.t. the model input x
(B, H, W, 3), i.e. in the preprocessed space the model sees. Each image's
logit depends on that image only (``train=False``), so one gradient of the
batch sum gives every image's gradient.
- saliency (Simonyan et al. 2014): max over channels of |dy^c/dx|;
- SmoothGrad (Smilkov et al. 2017): the gradient averaged over ``samples``
  copies of x with Gaussian noise of std ``noise * (max(x) - min(x))`` per
  image, then max-abs over channels;
- integrated gradients (Sundararajan et al. 2017): (x - x') times the mean
  gradient at the midpoints x' + (k + 1/2)/steps (x - x'), k < steps; the
  attributions sum to y^c(x) - y^c(x') up to the midpoint rule's O(1/steps^2).
All share one jitted gradient function per (model, batch shape), so on CPU
the model's backward pass compiles once; the noisy copies and path points
run one batch after another (memory of one batch, dispatch asynchronous).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from cnnlab.explain.taps import as_classes, class_scores


def input_gradients(model, variables, x, classes) -> jax.Array:
    """dy^c/dx (B, H, W, 3) of each image's class logit (traceable; ``gradients`` is its jitted form)."""
    def total(x):
        return class_scores(model.apply(variables, x, train=False), classes).sum()

    return jax.grad(total)(x)


_gradients = jax.jit(input_gradients, static_argnames=("model",))


def gradients(model, variables, x, classes) -> jax.Array:
    """Jitted ``input_gradients``: one compiled function per (model, batch shape), shared by all methods here."""
    x = jnp.asarray(x)
    return _gradients(model, variables, x, as_classes(classes, x.shape[0]))


@jax.jit
def _max_abs(g):
    return jnp.abs(g).max(axis=-1)  # (B, H, W, C) -> (B, H, W)


def saliency(model, variables, x, classes) -> jax.Array:
    """Plain-gradient saliency (B, H, W): max over channels of |dy^c/dx|. x: (B, H, W, 3); classes: (B,) or int."""
    return _max_abs(gradients(model, variables, x, classes))


@jax.jit
def _noisy(x, key, noise):
    span = x.max(axis=(1, 2, 3), keepdims=True) - x.min(axis=(1, 2, 3), keepdims=True)  # (B, 1, 1, 1)
    return x + noise * span * jax.random.normal(key, x.shape, x.dtype)


def smoothgrad(model, variables, x, classes, rng, samples: int = 16, noise: float = 0.15) -> jax.Array:
    """SmoothGrad saliency (B, H, W); noise is the std as a fraction of each image's value range.

    Sample k uses ``jax.random.split(rng, samples)[k]``.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1; got {samples}.")
    if noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise}.")
    x = jnp.asarray(x)
    total = jnp.zeros_like(x)
    for key in jax.random.split(rng, samples):
        total = total + gradients(model, variables, _noisy(x, key, noise), classes)
    return _max_abs(total / samples)


def integrated_gradients(model, variables, x, classes, baseline=None, steps: int = 32) -> jax.Array:
    """Integrated-gradients attributions (B, H, W, 3) of the class logit along the straight path from ``baseline``.

    baseline: (B, H, W, 3), broadcastable, or None for zeros in the model's
    input space. ``attribution_map`` reduces the result to (B, H, W).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}.")
    x = jnp.asarray(x)
    if baseline is None:
        baseline = jnp.zeros_like(x)
    baseline = jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)
    diff = x - baseline  # (B, H, W, 3)
    total = jnp.zeros_like(x)
    for k in range(steps):  # midpoints alpha = (k + 1/2) / steps
        total = total + gradients(model, variables, baseline + ((k + 0.5) / steps) * diff, classes)
    return diff * total / steps


REDUCTIONS = ("abs_sum", "sum", "positive")


def attribution_map(attributions, reduce: str = "abs_sum") -> jax.Array:
    """(B, H, W, C) attributions -> (B, H, W).

    'abs_sum': sum of |a| over channels; 'sum': the signed sum; 'positive': ReLU of the sum.
    """
    a = jnp.asarray(attributions)
    if reduce == "abs_sum":
        return jnp.abs(a).sum(axis=-1)
    if reduce == "sum":
        return a.sum(axis=-1)
    if reduce == "positive":
        return jax.nn.relu(a.sum(axis=-1))
    raise ValueError(f"reduce must be one of {REDUCTIONS}; got {reduce!r}.")
