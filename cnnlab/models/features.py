"""Named feature maps out of any model: ``features(model, variables, x, names)``.

Two kinds of names are tappable, both through the ``intermediates``
collection of one forward pass:
- a layer's module path (``block3_pool``, ``conv4_block6_out``,
  ``backbone/block5_conv3`` for nested modules): its ``__call__`` output,
  captured by Flax's ``capture_intermediates`` filtered to just those
  layers, so nothing else is stored;
- a value the model sows with ``self.sow('intermediates', name, x)``
  (ResNet's ``conv1``..``conv5`` stage outputs, Xception's ``block1``..
  ``block14``), which lands in the same collection.
Each backbone's docstring lists its stage names and shapes;
``feature_names`` lists every tappable name of a model.
"""
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn


def features(model: nn.Module, variables, x: jax.Array, names: str | Sequence[str], *,
             train: bool = False, rngs: Any = None) -> dict[str, jax.Array]:
    """Runs ``model`` on ``x`` and returns ``{name: feature map}`` for ``names``.

    train=True runs the training-mode forward (BatchNorm on batch statistics,
    dropout from ``rngs['dropout']``) and discards the statistics update.
    Jit it with the names static, e.g.
    ``jax.jit(lambda v, x: features(model, v, x, ("conv4", "conv5")))``.
    """
    wanted = (names,) if isinstance(names, str) else tuple(names)
    if not wanted:
        raise ValueError("names is empty; pass layer or stage names "
                         "(see feature_names(model, input_shape)).")
    wanted_set = set(wanted)

    def capture(module, method_name):
        return method_name == "__call__" and "/".join(module.path) in wanted_set

    mutable = ["intermediates", "batch_stats"] if train else ["intermediates"]
    if train and (rngs is None or "dropout" not in rngs):
        rngs = {"dropout": jax.random.key(0), **(rngs or {})}

    def tap(variables, x, rngs):
        _, state = model.apply(variables, x, train=train, rngs=rngs,
                               capture_intermediates=capture, mutable=mutable)
        return _tappable(state.get("intermediates", {}))

    # One compiled program: run eagerly, every op of a deep network is
    # dispatched on its own (25 s instead of 4 s for EfficientNet-Lite0 at 224).
    tapped = jax.jit(tap)(variables, x, rngs)
    missing = [n for n in wanted if n not in tapped]
    if missing:
        known = feature_names(model, tuple(x.shape[1:]), input_dtype=x.dtype)
        raise ValueError(f"{type(model).__name__} has no feature(s) {missing}; "
                         f"tappable names: {', '.join(known)}.")
    return {n: tapped[n] for n in wanted}


def feature_names(model: nn.Module, input_shape: Sequence[int], *,
                  input_dtype: Any = jnp.float32) -> list[str]:
    """Every tappable name of ``model`` in call order (no compute: traced shapes only).

    input_shape: one example's shape without the batch axis.
    """
    names: list[str] = []

    def init(x):
        variables = model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)},
                               x, train=False, capture_intermediates=True)
        # Read the names inside the trace: eval_shape's output has its dict keys sorted.
        names.extend(_tappable(variables.get("intermediates", {})))
        return variables

    jax.eval_shape(init, jax.ShapeDtypeStruct((1,) + tuple(input_shape), input_dtype))
    return names


def _tappable(intermediates, prefix: str = "") -> dict[str, Any]:
    """Flattens an ``intermediates`` tree to {name: first recorded value}."""
    found: dict[str, Any] = {}
    for key, value in intermediates.items():
        if key == "__call__":
            if prefix:  # the root module's own output is the model output, not a feature
                found[prefix] = value[0]
            continue
        name = f"{prefix}/{key}" if prefix else key
        if isinstance(value, tuple):  # sown with self.sow('intermediates', key, v)
            found[name] = value[0]
        elif hasattr(value, "items"):
            found.update(_tappable(value, name))
    return found
