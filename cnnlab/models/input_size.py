"""Is the image size big enough for the model? A shapes-only check with a clear error.

A convnet with 'valid' convolutions and poolings shrinks its input at every
stage; an image that is too small reaches a layer with nothing left and
fails deep inside ("input size must be a positive integer, got 0").
``check_input_size(model, (H, W, C))`` traces ``model.init`` with
``jax.eval_shape`` (no compile, no FLOPs) under a Flax method interceptor
that records each layer's call; when the trace fails, or a layer's output
would have a zero or negative spatial size, it raises a ValueError naming
the config field, the given size, the layer (its Flax module path), and the
smallest square size that works, found the same way (doubling from 1,
then bisection: about 2 log2(N) traces, a few seconds at most).
"""
import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from cnnlab.models.registry import name_of

FIELD = "config.data.image_size"
MAX_SIZE = 8192  # the largest square side the search tries


@dataclasses.dataclass(frozen=True)
class _Failure:
    """Where and why one trace failed."""

    layer: str  # Flax module path ('conv4', 'block5_pool'), or '' for the model's own code
    after: str | None  # the last layer that finished before a failure in the model's own code
    after_shape: tuple | None  # that layer's output
    input_shape: tuple | None  # the failing layer's (first) input
    output_shape: tuple | None  # set when the layer ran but produced a non-positive spatial size
    error: str | None  # set when the trace raised


class _EmptyOutput(Exception):
    """Raised inside the trace when a layer's output has a spatial size <= 0."""

    def __init__(self, path, input_shape, output_shape):
        super().__init__(path)
        self.path, self.input_shape, self.output_shape = path, input_shape, output_shape


def _first_shape(tree) -> tuple | None:
    for leaf in jax.tree.leaves(tree):
        if hasattr(leaf, "shape"):
            return tuple(leaf.shape)
    return None


def _empty_spatial_shape(tree) -> tuple | None:
    """The first array shape (B, *spatial, C) in ``tree`` with a spatial size <= 0, or None."""
    for leaf in jax.tree.leaves(tree):
        shape = getattr(leaf, "shape", None)
        if shape is not None and len(shape) >= 3 and any(d <= 0 for d in shape[1:-1]):
            return tuple(shape)
    return None


def _probe(model: nn.Module, shape: tuple) -> _Failure | None:
    """None when ``model.init`` traces at input ``shape`` with no empty layer output, else the failure."""
    seen: dict[str, Any] = {}
    last_done: list[Any] = [None, None]  # path, output shape

    def interceptor(next_fun, args, kwargs, context):
        path = "/".join(context.module.path)
        try:
            out = next_fun(*args, **kwargs)
        except _EmptyOutput:
            raise
        except Exception:
            if "layer" not in seen:  # the innermost module sees the exception first
                seen.update(layer=path, after=last_done[0], after_shape=last_done[1],
                            input_shape=_first_shape((args, kwargs)))
            raise
        if context.method_name == "__call__":
            empty = _empty_spatial_shape(out)
            if empty is not None:
                raise _EmptyOutput(path, _first_shape((args, kwargs)), empty)
            if path:
                last_done[:] = [path, _first_shape(out)]
        return out

    key = jax.random.key(0)

    def init(x):
        with nn.intercept_methods(interceptor):
            return model.init({"params": key, "dropout": key}, x)

    try:
        jax.eval_shape(init, jax.ShapeDtypeStruct(shape, jnp.float32))
    except _EmptyOutput as e:
        return _Failure(e.path, None, None, e.input_shape, e.output_shape, None)
    except Exception as e:  # noqa: BLE001  (any failure of the trace is a failure at this size)
        message = (str(e).strip().splitlines() or [""])[0][:300].rstrip(".")
        return _Failure(seen.get("layer", ""), seen.get("after"), seen.get("after_shape"),
                        seen.get("input_shape"), None, f"{type(e).__name__}: {message}")
    return None


def smallest_square_size(model: nn.Module, channels: int, start: int = 1,
                         max_size: int = MAX_SIZE) -> int | None:
    """The smallest side N such that ``model`` initialises on (1, N, N, channels) and N-1 fails.

    Doubles from ``start`` until a size works, then bisects between the last
    failing and the first working size (shapes only). Assumes that a size
    that works keeps working when it grows, as it does for convnets; None
    when nothing up to ``max_size`` works.
    """
    def works(n):
        return _probe(model, (1, n, n, channels)) is None

    lo, hi = 0, max(1, int(start))  # lo: fails (0 always does), hi: the candidate
    while not works(hi):
        if hi >= max_size:
            return None
        lo, hi = hi, min(2 * hi, max_size)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return hi


def _image_shape(image_shape: Sequence[int], field: str) -> tuple[int, int, int, int]:
    """(H, W, C) or (B, H, W, C) -> (B, H, W, C), checked."""
    shape = tuple(image_shape)
    if len(shape) == 3:
        shape = (1,) + shape
    if len(shape) != 4 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ValueError(
            f"check_input_size needs the image shape (H, W, C) as positive integers, got "
            f"{tuple(image_shape)!r}; pass {field} with the channel count, e.g. (150, 150, 3).")
    return shape


def _what(failure: _Failure, model_name: str) -> str:
    """'layer 'conv4' turns its 2x2 input into 0x0 ...' and the like."""
    if failure.output_shape is not None:
        return (f"layer '{failure.layer}' turns its {_hw(failure.input_shape)} input into "
                f"{_hw(failure.output_shape)} (output shape {failure.output_shape})")
    if failure.layer:
        got = f" on its {_hw(failure.input_shape)} input" if failure.input_shape else ""
        return f"layer '{failure.layer}' fails{got} with {failure.error}"
    if failure.after:
        return (f"{model_name}'s own code right after layer '{failure.after}' (output "
                f"{_hw(failure.after_shape)}) fails with {failure.error}")
    return f"{model_name}'s input check, before any layer, fails with {failure.error}"


def _hw(shape) -> str:
    return "x".join(str(d) for d in shape[1:-1]) if shape and len(shape) >= 3 else str(shape)


def check_input_size(model: nn.Module, image_shape: Sequence[int], *, field: str = FIELD,
                     max_size: int = MAX_SIZE) -> None:
    """Raises ValueError when ``model`` cannot take images of ``image_shape`` (H, W, C).

    Shapes only (``jax.eval_shape`` of ``model.init``): cheap for any model.
    Returns None when the size works. The error names ``field`` and the
    given size, the failing layer's module path and the smallest square size
    that works, and says what to change.
    """
    batch, height, width, channels = _image_shape(image_shape, field)
    failure = _probe(model, (batch, height, width, channels))
    if failure is None:
        return
    name = name_of(model) or type(model).__name__
    what = _what(failure, name)
    given = f"{field}=({height}, {width}) (image shape {(height, width, channels)})"
    smallest = smallest_square_size(model, channels, max_size=max_size)
    if smallest is None:
        raise ValueError(
            f"{name} does not initialise at {given}: {what}; nor at any square size up to "
            f"{max_size}x{max_size}, so the cause is not the image size: check the model's "
            "options and input channels.")
    if min(height, width) >= smallest:
        raise ValueError(
            f"{name} does not initialise at {given}: {what}; the square {smallest}x{smallest} "
            f"works, so this size fails for its shape, not its scale; set {field} to a square "
            "size, or to one the model's strides divide.")
    raise ValueError(
        f"{field}=({height}, {width}) is too small for {name}: {what}. The smallest square size "
        f"that works is {smallest}x{smallest}: raise {field} to at least ({smallest}, {smallest}), "
        "or pick a model that shrinks the image less (fewer pooling or stride-2 stages, 'same' "
        f"padding; e.g. {_suggestion(name)}).")


def _suggestion(name) -> str:
    if name == "simple_cnn":
        return "simple_cnn with fewer model.widths, or a ResNet with model.stem='cifar'"
    if name and name.startswith("resnet"):
        return f"{name} with model.stem='cifar', or simple_cnn"
    return "simple_cnn, or a ResNet with model.stem='cifar'"
