"""Grad-CAM (Selvaraju et al. 2017): where in a feature map the evidence for a class lies.

For the class logit y^c (before softmax) and a feature map F (B, h, w, C),
the channel weights are alpha_k = mean over (h, w) of dy^c/dF_k, and the map
is ReLU(sum_k alpha_k F_k) (B, h, w). ``grad_cam`` upsamples it bilinearly to
the input size and divides each image's map by its maximum. The layer is a
module path or sown name (``cnnlab.explain.taps``); the default is the last
4-d feature map the model produces, for EfficientNet-Lite the post-ReLU6
``top`` map, for ResNet ``conv5`` (= ``conv5_block3_out``), for VGG ``block5_pool``.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from cnnlab.explain.taps import Tap, apply_with_tap, as_classes, class_scores, feature_tap


@partial(jax.jit, static_argnames=("model", "tap"))
def _grad_cam_map(model, tap: Tap, variables, x, classes):
    def score(delta):
        logits, feature = apply_with_tap(model, variables, x, tap, delta)
        return class_scores(logits, classes).sum(), feature

    grads, feature = jax.grad(score, has_aux=True)(jnp.zeros(tap.shape, tap.dtype))  # (B, h, w, C) each
    weights = grads.astype(jnp.float32).mean(axis=(1, 2))  # (B, C)
    return jax.nn.relu(jnp.einsum("bhwc,bc->bhw", feature.astype(jnp.float32), weights))  # (B, h, w)


def grad_cam_map(model, variables, x, classes, layer: str | None = None) -> jax.Array:
    """The raw Grad-CAM map (B, h, w) at the layer's resolution: ReLU(sum_k alpha_k F_k), unnormalised.

    x: (B, H, W, 3) model inputs (preprocessed); classes: (B,) or one int.
    """
    x = jnp.asarray(x)
    tap = feature_tap(model, variables, x, layer)
    return _grad_cam_map(model, tap, variables, x, as_classes(classes, x.shape[0]))


def upsample_heatmap(cam, height: int, width: int):
    """(B, h, w) maps -> (B, H, W) bilinear, each divided by its maximum (an all-zero map stays zero)."""
    up = jax.image.resize(cam, (cam.shape[0], height, width), "bilinear")  # (B, H, W)
    up = jnp.maximum(up, 0.0)
    peak = up.max(axis=(1, 2), keepdims=True)
    return jnp.where(peak > 0, up / jnp.where(peak > 0, peak, 1.0), 0.0)


@partial(jax.jit, static_argnames=("model", "tap"))
def _grad_cam(model, tap: Tap, variables, x, classes):
    return upsample_heatmap(_grad_cam_map(model, tap, variables, x, classes), x.shape[1], x.shape[2])


def grad_cam(model, variables, x, classes, layer: str | None = None) -> jax.Array:
    """Grad-CAM heatmaps (B, H, W) in [0, 1] at the input size; ``grad_cam_map`` gives the raw (B, h, w).

    x: (B, H, W, 3) model inputs (preprocessed); classes: (B,) or one int;
    layer: module path or sown name (``tap_names`` lists them), default the last 4-d feature map.
    """
    x = jnp.asarray(x)
    tap = feature_tap(model, variables, x, layer)
    return _grad_cam(model, tap, variables, x, as_classes(classes, x.shape[0]))
