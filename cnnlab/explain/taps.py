"""Differentiating a class score w.r.t. a feature map inside any Linen model.

A *tap* says where a zero perturbation ``delta`` (shaped like the feature
map) is added during ``model.apply``, so that ``d score / d delta`` is the
gradient w.r.t. that feature map. It is placed by a Flax method interceptor
(``flax.linen.intercept_methods``), so no model needs changing:

- a module path (``top_bn``, ``block5_conv3``, ``conv5_block3_out``,
  ``backbone/block5_conv3``): ``delta`` is added to that module's
  ``__call__`` output (its first call if it is called several times). A
  layer's output is what it returns: for a BatchNorm (``top_bn``) that is
  the normalised value *before* the activation that follows it, and so it is
  for cnnlab's VGG convs (``block5_conv3``: ``nn.relu`` is applied after the
  module); ``Activation`` layers (ResNet's ``conv5_block3_out``, Xception's
  ``*_act``) and pooling layers (``block5_pool``) give post-activation maps;
- a sown name (``self.sow('intermediates', name, x)``: EfficientNet-Lite's
  ``top``, ResNet's ``conv5``): when a module returned that very array, as
  above; otherwise ``delta`` is added wherever that array enters a module
  call (EfficientNet-Lite's post-ReLU6 ``top`` enters ``avg_pool``). Uses of
  it by plain ``jnp`` code rather than modules are not perturbed, so such
  names are offered only when at least one module consumes them.

Calls are matched by their order (deterministic for one model, input shape
and ``train=False``), found once by tracing shapes only (``feature_tap``).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnnlab.models.features import _tappable


@dataclasses.dataclass(frozen=True)
class Tap:
    """Where a feature map is read and perturbed; hashable, so it can be a static jit argument.

    sites: (call index, argument leaf index) pairs; leaf index -1 means the call's output.
    """

    name: str
    kind: str  # 'output' (a module's output) or 'input' (the inputs of the modules consuming a sown value)
    sites: tuple[tuple[int, int], ...]
    shape: tuple[int, ...]
    dtype: str


_CACHE: dict[Any, tuple[list[str], dict[str, Tap]]] = {}


def _model_variables(variables):
    """Drops a stale 'intermediates' collection (e.g. from init with capture_intermediates)."""
    return {k: v for k, v in variables.items() if k != "intermediates"}


def _probe(model: nn.Module, variables, x) -> tuple[list[str], dict[str, Tap]]:
    """Every tappable name in call order, and a Tap for each that can be perturbed (shapes only)."""
    key = (model, tuple(x.shape), str(x.dtype))
    if key in _CACHE:
        return _CACHE[key]
    found: dict[str, Tap] = {}
    order: list[str] = []

    def fun(variables, x):
        calls: list[list[Any]] = []  # [path, argument leaves, output] in call-start order

        def interceptor(next_fun, args, kwargs, context):
            if context.method_name != "__call__":
                return next_fun(*args, **kwargs)
            record = ["/".join(context.module.path), jax.tree.leaves((args, kwargs)), None]
            calls.append(record)
            record[2] = out = next_fun(*args, **kwargs)
            return out

        with nn.intercept_methods(interceptor):
            _, state = model.apply(variables, x, train=False, capture_intermediates=True,
                                   mutable=["intermediates"])
        tapped = _tappable(state.get("intermediates", {}))
        first_call = {}
        for index, (path, _, _) in enumerate(calls):
            if path:
                first_call.setdefault(path, index)
        for name, value in tapped.items():
            order.append(name)
            if not isinstance(value, jax.Array):
                continue
            tap = None
            if name in first_call and calls[first_call[name]][2] is value:
                tap = Tap(name, "output", ((first_call[name], -1),), tuple(value.shape), str(value.dtype))
            else:
                producer = [i for i, c in enumerate(calls) if c[0] and c[2] is value]
                consumers = tuple((i, j) for i, c in enumerate(calls) if c[0]
                                  for j, leaf in enumerate(c[1]) if leaf is value)
                if producer:
                    tap = Tap(name, "output", ((producer[0], -1),), tuple(value.shape), str(value.dtype))
                elif consumers:
                    tap = Tap(name, "input", consumers, tuple(value.shape), str(value.dtype))
            if tap is not None:
                found[name] = tap
        return jnp.zeros(())

    jax.eval_shape(fun, _model_variables(variables), jax.ShapeDtypeStruct(x.shape, x.dtype))
    _CACHE[key] = (order, found)
    return order, found


def tap_names(model: nn.Module, variables, x) -> list[str]:
    """Names usable as a Grad-CAM layer: 4-d (B, h, w, C) feature maps that can be perturbed, in call order."""
    order, found = _probe(model, variables, x)
    return [n for n in order if n in found and len(found[n].shape) == 4 and found[n].shape[0] == x.shape[0]]


def feature_tap(model: nn.Module, variables, x, layer: str | None = None) -> Tap:
    """The Tap of ``layer``, or by default of the last 4-d feature map the model produces (before pooling)."""
    names = tap_names(model, variables, x)
    if layer is None:
        if not names:
            raise ValueError(f"{type(model).__name__} produces no 4-d (B, h, w, C) feature map a module "
                             "outputs or consumes; pass layer= explicitly.")
        return _probe(model, variables, x)[1][names[-1]]
    if layer not in names:
        order, found = _probe(model, variables, x)
        why = ("is not 4-d (B, h, w, C)" if layer in found else
               "is only used by plain jnp code, not by a module, so it cannot be perturbed"
               if layer in order else "is not a layer or sown name of this model")
        raise ValueError(f"layer {layer!r} {why}; feature maps to choose from: {', '.join(names)}.")
    return _probe(model, variables, x)[1][layer]


def apply_with_tap(model: nn.Module, variables, x, tap: Tap, delta):
    """``model.apply(variables, x, train=False)`` with ``delta`` added at ``tap``.

    Returns (model output, the feature map at the tap before ``delta``).
    """
    sites: dict[int, list[int]] = {}
    for call, leaf in tap.sites:
        sites.setdefault(call, []).append(leaf)
    counter = [0]
    captured: list[Any] = []

    def interceptor(next_fun, args, kwargs, context):
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        index = counter[0]
        counter[0] += 1
        leaves = sites.get(index)
        if leaves is None:
            return next_fun(*args, **kwargs)
        if leaves == [-1]:
            out = next_fun(*args, **kwargs)
            captured.append(out)
            return out + delta.astype(out.dtype)
        flat, treedef = jax.tree.flatten((args, kwargs))
        for j in leaves:
            if not captured:
                captured.append(flat[j])
            flat[j] = flat[j] + delta.astype(flat[j].dtype)
        args, kwargs = jax.tree.unflatten(treedef, flat)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
        out = model.apply(_model_variables(variables), x, train=False)
    if not captured:
        raise ValueError(f"tap {tap.name!r} was not reached; it was found for another model or input shape.")
    return out, captured[0]


def as_classes(classes, batch: int) -> jax.Array:
    """classes (B,) or one int -> (B,) int32, so every call of a jitted function sees one shape."""
    classes = jnp.asarray(classes, jnp.int32)
    if classes.ndim > 1 or (classes.ndim == 1 and classes.shape[0] != batch):
        raise ValueError(f"classes must be one int or shaped ({batch},); got shape {classes.shape}.")
    return jnp.broadcast_to(classes, (batch,))


def class_scores(logits, classes):
    """logits (B, K), classes (B,) or a scalar -> (B,) the chosen logit of each image."""
    if logits.ndim != 2:
        raise ValueError("explanations need class logits shaped (B, classes); "
                         f"the model returned {logits.shape}.")
    classes = jnp.broadcast_to(jnp.asarray(classes, jnp.int32), logits.shape[:1])
    return jnp.take_along_axis(logits, classes[:, None], axis=1)[:, 0]
