"""Steady-state training throughput of the real cnnlab train step (`JitMesh`).

Each step feeds a fresh host numpy batch through `put_batch`, exactly as
`cnnlab.train.run` does, so the number includes the host-to-device copy.
"""
import time

import cnnlab  # noqa: F401  (sets cnnlab's XLA CPU flags before jax starts)
import jax
import jax.numpy as jnp

from cnnlab import tasks
from cnnlab.ops import conv
from cnnlab.train.defaults import base_config
from cnnlab.train.optim import make_optimizer
from cnnlab.train.parallel import JitMesh
from cnnlab.train.state import create_state

from benchmarks import measure, specs

DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}


def bench_optim(lr_decay_per_epoch: float = 1.0, steps_per_epoch: int = 1):
    """cnnlab's `config.optim` for the benchmark recipe: Adam, lr 1e-3, eps 1e-7, constant, or
    multiplied by `lr_decay_per_epoch` after every `steps_per_epoch` steps ('step' schedule)."""
    optim = base_config().optim
    optim.lr = specs.LEARNING_RATE
    optim.eps = specs.ADAM_EPS
    if lr_decay_per_epoch != 1.0:
        optim.schedule, optim.decay_rate, optim.decay_steps = "step", lr_decay_per_epoch, steps_per_epoch
    return optim


def build(spec: specs.BenchModel, dtype: str = "float32", seed: int = 0, lr_decay_per_epoch: float = 1.0,
          steps_per_epoch: int = 1):
    """The model, the parallel wrapper and the initial on-device state for `spec` (see `bench_optim`)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not benchmarked; use one of {sorted(DTYPES)}.")
    model = spec.cnnlab_model(DTYPES[dtype])
    task = tasks.create("classification", num_classes=specs.NUM_CLASSES)
    optim = bench_optim(lr_decay_per_epoch, steps_per_epoch)
    sample = jnp.zeros((1,) + spec.image_shape, jnp.float32)
    state = create_state(model, lambda p: make_optimizer(optim, p, total_steps=1), sample,
                         jax.random.key(seed))
    par = JitMesh(model, task)
    return model, par, par.put_state(state)


def _flops(lowered_or_compiled) -> float:
    cost = lowered_or_compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax returned one dict per device
        cost = cost[0]
    return float(cost["flops"])


def step_flops(model, state, device_batch) -> float:
    """FLOPs of one train step as XLA counts them with XLA's own convolutions.

    oneDNN's convolutions are custom calls, which XLA's cost analysis counts as
    zero, so the count comes from a separate trace of the step with
    CNNLAB_CONV_BACKEND=xla: the arithmetic of the model, whichever kernels run it."""
    with conv.backend_override("xla"):
        par = JitMesh(model, tasks.create("classification", num_classes=specs.NUM_CLASSES))
        return _flops(par.train_step.lower(state, device_batch))


def compile_step(par: JitMesh, state, device_batch) -> float:
    """Compiles the train step ahead of time and returns the seconds it took. Later
    `par.train_step` calls reuse this executable."""
    start = time.perf_counter()
    par.train_step.lower(state, device_batch).compile()
    return time.perf_counter() - start


def measure_cnnlab(spec: specs.BenchModel, batch_size: int, steps: int, repeats: int,
                   dtype: str = "float32", system: str = "cnnlab") -> dict:
    """Trains `repeats` x `steps` steps after one compile step; returns a result row."""
    if steps < 1 or repeats < 1:
        raise ValueError(f"steps and repeats must be >= 1, got {steps} and {repeats}.")
    model, par, state = build(spec, dtype)
    images, labels = specs.synthetic_data(spec.image_shape, steps * batch_size)
    host_batches = [{"image": images[i * batch_size:(i + 1) * batch_size],  # (B, H, W, C)
                     "label": labels[i * batch_size:(i + 1) * batch_size]}
                    for i in range(steps)]

    compile_s = compile_step(par, state, par.put_batch(host_batches[0]))
    flops = step_flops(model, state, par.put_batch(host_batches[0]))
    start = time.perf_counter()
    state, sums = par.train_step(state, par.put_batch(host_batches[0]))
    jax.block_until_ready(sums)
    first_step_s = compile_s + time.perf_counter() - start

    timer = measure.RepeatTimer()
    for _ in range(repeats):
        with timer:
            for batch in host_batches:
                state, sums = par.train_step(state, par.put_batch(batch))
            jax.block_until_ready((state, sums))
    loss = par.fetch(sums)["loss_sum"] / batch_size
    if not jnp.isfinite(loss):
        raise FloatingPointError(f"{spec.name}: the cnnlab training loss became {loss}.")
    return measure.result_row(spec.name, system, batch_size, steps, timer.wall, first_step_s,
                              flops_per_image=flops / batch_size, note=f"dtype={dtype}, conv={conv.backend().name}",
                              repeat_cpu_seconds=timer.cpu)
