"""What a task is: how a model's outputs meet a batch.

A task turns model outputs and a host batch into a scalar loss and into
metric *sums* (totals and counts), so metrics add across batches and devices
and are finalised on the host as ratios.
"""
from typing import Any, Mapping, Protocol, Tuple

import jax.numpy as jnp

Batch = Mapping[str, Any]


class Task(Protocol):
    """The protocol every task implements (see `classification.Classification`)."""

    #: Batch keys the step feeds to the model and the loss.
    keys: Tuple[str, ...]

    def loss(self, outputs, batch: Batch) -> Tuple[jnp.ndarray, dict]:
        """Mean loss over valid examples, and auxiliary values."""

    def metric_sums(self, outputs, batch: Batch) -> dict:
        """Metric numerators and denominators as scalars that add up."""

    def finalize(self, sums: Mapping[str, float]) -> dict:
        """Turns accumulated sums into metric values (host side)."""


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
