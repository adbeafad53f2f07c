"""Keras-style ``model.summary()`` for Linen modules, traced without compute.

``summary(model, (28, 28, 1))`` traces ``model.init`` under
``jax.eval_shape`` (no FLOPs, no memory for the weights, so VGG19 or
ResNet152 take a fraction of a second), records every submodule call with
``nn.intercept_methods`` (name, type, output shape) and sums each layer's
variables. Counts follow Keras: ``params`` are trainable, every other
variable collection (``batch_stats``: BatchNorm moving mean and variance) is
non-trainable, and "Total params" is their sum. torchvision's figure for
the same network is the trainable count alone (its running statistics are
buffers, not parameters).
"""
import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn

# Collections that hold activations or sown values, never parameters.
NOT_PARAMETERS = frozenset({"intermediates"})


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One row of the table: a submodule call."""

    name: str  # module path, '/'-joined ("block1_conv1", "backbone/conv1_conv")
    type: str  # module class name ("Conv", "BatchNorm", ...)
    output_shape: Any  # tuple with None for the batch axis, or a pytree of them
    trainable: int  # size of its `params`
    non_trainable: int  # size of its other collections (batch_stats)

    @property
    def params(self) -> int:
        """Keras's "Param #": trainable + non-trainable."""
        return self.trainable + self.non_trainable


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """The rows and totals of ``summary``; ``str()`` renders the table."""

    model_name: str
    input_shape: tuple
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int

    def row(self, name: str) -> LayerRow:
        """The first row whose name is ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise ValueError(
            f"no layer {name!r} in the summary; layers: {[r.name for r in self.rows]}."
        )

    def table(self) -> str:
        """The Keras-like text table."""
        header = ("Layer (type)", "Output Shape", "Param #")
        body = [(f"{r.name} ({r.type})", _format_shape(r.output_shape), f"{r.params:,}")
                for r in self.rows]
        widths = [max([len(header[i])] + [len(b[i]) for b in body]) + 2 for i in range(3)]
        rule = "_" * (sum(widths) + 1)

        def line(cells):
            return " " + "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

        inputs = ", ".join(map(str, self.input_shape))
        lines = [f'Model: "{self.model_name}"  input (None, {inputs})',
                 rule, line(header), "=" * len(rule)]
        lines += [line(b) for b in body]
        lines += ["=" * len(rule),
                  f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}",
                  rule]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _size(tree) -> int:
    """Number of scalars in a pytree of arrays or ShapeDtypeStructs."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def parameter_counts(variables) -> dict[str, int]:
    """Keras-style counts of a variables dict (real or from ``jax.eval_shape``).

    Returns ``trainable`` (the ``params`` collection; torchvision's figure),
    ``non_trainable`` (every other collection except ``intermediates``,
    i.e. BatchNorm ``batch_stats``) and ``total`` (Keras's figure).
    """
    if not hasattr(variables, "items"):
        raise ValueError(f"expected a variables dict like {{'params': ...}}, "
                         f"got {type(variables).__name__}.")
    trainable = _size(variables.get("params", {}))
    non_trainable = sum(_size(tree) for col, tree in variables.items()
                        if col != "params" and col not in NOT_PARAMETERS)
    return {"trainable": trainable, "non_trainable": non_trainable,
            "total": trainable + non_trainable}


def summary(model: nn.Module, input_shape: Sequence[int], *, depth: int | None = 1,
            input_dtype: Any = jnp.float32, print_fn: Callable[[str], Any] | None = print,
            ) -> ModelSummary:
    """Prints (via ``print_fn``; None prints nothing) and returns the layer table.

    input_shape: one example's shape without the batch axis, e.g. (28, 28, 1).
    depth: list submodules at most this deep (1 = the model's own layers,
    like Keras; None = every level). Output shapes come from a traced
    forward pass in eval mode, with None for the batch axis.
    """
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"input_shape is one example's shape without the batch axis, e.g. "
                         f"(28, 28, 1); got {tuple(input_shape)}.")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1 or None, got {depth}.")
    calls: list[list] = []  # [path, type name, output shape tree], in call order

    def record(next_fun, args, kwargs, context):
        path = context.module.path
        if context.method_name != "__call__" or not path:
            return next_fun(*args, **kwargs)
        entry = [tuple(path), type(context.module).__name__, None]
        calls.append(entry)  # before the call, so parents precede their children
        out = next_fun(*args, **kwargs)
        entry[2] = jax.tree.map(_batchless_shape, out)
        return out

    def init(x):
        with nn.intercept_methods(record):
            return model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)},
                              x, train=False)

    variables = jax.eval_shape(init, jax.ShapeDtypeStruct((1,) + shape, input_dtype))
    counts = parameter_counts(variables)
    rows, seen = [], set()
    for path, type_name, out_shape in calls:
        if depth is not None and len(path) > depth:
            continue
        trainable = non_trainable = 0
        if path not in seen:  # a shared module's variables are counted on its first call
            seen.add(path)
            for col, tree in variables.items():
                if col in NOT_PARAMETERS:
                    continue
                n = _size(_subtree(tree, path))
                if col == "params":
                    trainable += n
                else:
                    non_trainable += n
        rows.append(LayerRow("/".join(path), type_name, out_shape, trainable, non_trainable))
    result = ModelSummary(type(model).__name__, shape, rows, counts["total"],
                          counts["trainable"], counts["non_trainable"])
    if print_fn is not None:
        print_fn(result.table())
    return result


def _batchless_shape(leaf) -> tuple:
    """(B, ...) -> (None, ...); scalars and non-arrays -> ()."""
    shape = tuple(getattr(leaf, "shape", ()))
    return (None,) + shape[1:] if shape else ()


def _subtree(tree, path):
    for key in path:
        if not hasattr(tree, "get") or key not in tree:
            return {}
        tree = tree[key]
    return tree


def _format_shape(shape_tree) -> str:
    if isinstance(shape_tree, tuple) and all(d is None or isinstance(d, (int, np.integer))
                                             for d in shape_tree):
        return "(" + ", ".join("None" if d is None else str(d) for d in shape_tree) + \
            ("," if len(shape_tree) == 1 else "") + ")"
    if isinstance(shape_tree, dict):
        return "{" + ", ".join(f"{k}: {_format_shape(v)}" for k, v in shape_tree.items()) + "}"
    if isinstance(shape_tree, (list, tuple)):
        return "[" + ", ".join(_format_shape(v) for v in shape_tree) + "]"
    return str(shape_tree)
