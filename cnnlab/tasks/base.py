"""What a task is: how a model's outputs meet a batch, and the registry of tasks.

A task turns model outputs and a batch into a scalar loss and into metric
*sums* (totals and counts), so metrics add across batches and devices and
are finalised on the host as ratios. Tasks whose metrics need every
prediction on the host (detection mAP) say `host_metrics = True` and keep
only what the metric needs, image by image (`host_update`).

A task holds its loss, metrics and prediction decoding only; drawing and
reports live in `cnnlab.viz` and `cnnlab.experiments`.
"""
import abc
from typing import Any, Callable, Mapping, Optional, Tuple

import jax.numpy as jnp

Batch = Mapping[str, Any]

_REGISTRY = {}


def register(name: str):
    """Class decorator: `@register("classification")` makes `create('classification', ...)` build it."""
    def add(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"task name {name!r} is already registered by {_REGISTRY[name].__name__}.")
        _REGISTRY[name] = cls
        return cls
    return add


def names() -> list:
    """The registered task names."""
    return sorted(_REGISTRY)


def create(name: str, **kwargs) -> "Task":
    """Builds a task by name, e.g. create('classification', num_classes=10)."""
    if name not in _REGISTRY:
        raise ValueError(f"config.task.name={name!r} is not a known task; choose one of {names()}.")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad settings for task {name!r} (config.task): {e}") from None


class Task(abc.ABC):
    """The base every task derives from; the defaults are those of a task whose metrics are
    sums computed on device (classification). A task without `loss` or `metric_sums` cannot
    be built, and one that sets `host_metrics` must define the four host-side methods."""

    #: Batch keys the step feeds to the model and the loss.
    keys: Tuple[str, ...] = ("image", "label")
    #: True when the metrics need every prediction on the host (`host_*` below).
    host_metrics = False

    _HOST_METHODS = ("eval_outputs", "host_init", "host_update", "host_finalize")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.host_metrics:
            missing = [m for m in cls._HOST_METHODS if getattr(cls, m) is getattr(Task, m)]
            if missing:
                raise TypeError(f"{cls.__name__} sets host_metrics but does not define {missing}.")

    @abc.abstractmethod
    def loss(self, outputs, batch: Batch) -> Tuple[jnp.ndarray, dict]:
        """Mean loss over valid examples, and auxiliary values."""

    @abc.abstractmethod
    def metric_sums(self, outputs, batch: Batch) -> dict:
        """Metric numerators and denominators as scalars (or arrays) that add up."""

    def finalize(self, sums: Mapping[str, float]) -> dict:
        """Turns accumulated sums into metric values (host side)."""
        return ratio_metrics(sums)

    def make_augment(self, fields: dict) -> Optional[Callable]:
        """fn(batch, rng) -> batch for targets that move with the pixels (boxes, masks), or None
        for the images-only augmentation of `cnnlab.data.augment`."""
        return None

    # Host-side metrics (host_metrics = True): eval_outputs runs compiled on device; the host
    # folds each batch into a small accumulator and scores it once at the end. A task that
    # sets host_metrics overrides all four (checked when the class is defined).
    def eval_outputs(self, outputs, batch: Batch):
        """What the host needs of a batch's outputs (compiled, on device)."""

    def host_init(self):
        """The empty accumulator."""

    def host_update(self, acc, outputs, batch: Batch):
        """The accumulator with one batch folded in."""

    def host_finalize(self, acc) -> dict:
        """The metrics of the whole split."""


def valid_mask(batch: Batch, n: int) -> jnp.ndarray:
    """Float mask (B,) of real examples; padded eval batches carry `valid`."""
    if "valid" in batch:
        return jnp.asarray(batch["valid"], jnp.float32)
    return jnp.ones((n,), jnp.float32)


def ratio_metrics(sums: Mapping[str, float], count_key: str = "count") -> dict:
    """Divides every `<name>_sum` by the count: {'loss_sum': 6, 'count': 3} -> {'loss': 2}."""
    count = float(sums.get(count_key, 0.0))
    out = {}
    for key, value in sums.items():
        if key.endswith("_sum"):
            out[key[: -len("_sum")]] = float(value) / count if count else float("nan")
    return out
