"""The machine's dense float32 matmul rate: the yardstick for every throughput.

A jitted (n, n) @ (n, n) float32 product, best of several runs, in FLOP/s.
Runs under cnnlab's XLA flags (it imports cnnlab), in the same benchmark run
as the training measurements.
"""
import time

import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import measure


def matmul_flops_per_s(n: int = 2048, runs: int = 10) -> float:
    """Best observed FLOP/s of a jitted float32 (n, n) @ (n, n)."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((n, n), dtype=np.float32))
    b = jnp.asarray(rng.standard_normal((n, n), dtype=np.float32))
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best


def measure_matmul(n: int = 2048, runs: int = 10) -> dict:
    """A result row carrying the matmul rate (GFLOP/s) and the machine description."""
    row = measure.missing_row("-", "float32 matmul", 0, "ok", "")
    row["gflops"] = matmul_flops_per_s(n, runs) / 1e9
    row["machine"] = measure.cpu_description()
    row["note"] = f"jitted ({n}, {n}) @ ({n}, {n}) float32, best of {runs}"
    row["peak_rss_mb"] = measure.peak_rss_mb()
    return row
