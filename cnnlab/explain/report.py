"""Every method on one batch, as display maps (B, H, W) where higher means "more evidence for the class".

Grad-CAM: the normalised heatmap; saliency / SmoothGrad: the max-abs
gradient; IG: sum over channels of |attribution|; occlusion: the probability
drop p(x) - p(occluded), each position's drop spread over the pixels its
patch covers (``occlusion_to_pixels``).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.explain.attribution import attribution_map, integrated_gradients, saliency, smoothgrad
from cnnlab.explain.gradcam import grad_cam
from cnnlab.explain.occlusion import occlusion, occlusion_to_pixels
from cnnlab.explain.taps import as_classes, class_scores

@partial(jax.jit, static_argnames=("model",))
def class_probability(model, variables, x, classes):
    """(B,) softmax probability of each image's class."""
    logits = model.apply(variables, x, train=False)
    return jnp.exp(class_scores(jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1), classes))


METHODS = ("gradcam", "saliency", "smoothgrad", "ig", "occlusion")
TITLES = {"gradcam": "Grad-CAM", "saliency": "saliency", "smoothgrad": "SmoothGrad",
          "ig": "integrated gradients", "occlusion": "occlusion (p drop)"}


def check_methods(methods) -> tuple[str, ...]:
    """The method names, validated against ``METHODS``, in the given order."""
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown explanation method(s) {unknown}; choose from {', '.join(METHODS)}.")
    return methods


def explanation_maps(model, variables, x, classes, methods=METHODS, *, layer: str | None = None,
                     rng=None, samples: int = 16, noise: float = 0.15, steps: int = 32, baseline=None,
                     patch: int = 32, stride: int = 16, fill=None) -> dict[str, np.ndarray]:
    """{method: (B, H, W) numpy map} for x (B, H, W, 3) model inputs and classes (B,) or int."""
    methods = check_methods(methods)
    x = jnp.asarray(x)
    height, width = x.shape[1:3]
    maps: dict[str, np.ndarray] = {}
    for method in methods:
        if method == "gradcam":
            result = grad_cam(model, variables, x, classes, layer)
        elif method == "saliency":
            result = saliency(model, variables, x, classes)
        elif method == "smoothgrad":
            result = smoothgrad(model, variables, x, classes, jax.random.key(0) if rng is None else rng,
                                samples, noise)
        elif method == "ig":
            result = attribution_map(integrated_gradients(model, variables, x, classes, baseline, steps))
        else:
            p = class_probability(model, variables, x, as_classes(classes, x.shape[0]))  # (B,)
            scores = occlusion(model, variables, x, classes, patch, stride, fill)  # (B, h', w')
            result = occlusion_to_pixels(np.asarray(p)[:, None, None] - np.asarray(scores),
                                         height, width, patch, stride)
        maps[method] = np.asarray(result, np.float32)
    return maps
