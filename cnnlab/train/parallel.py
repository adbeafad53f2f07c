"""Two ways to run the one step on many devices: `jax.jit` on a mesh, or `jax.pmap`.

Both expose the same small interface, so the loop never branches on the mode:
  put_state / get_state   move the state onto the devices, and back to one global
                          array per leaf replicated on every device of every
                          process (`state_sharding`: what checkpoints hold)
  put_batch               host-local numpy batch -> device batch
  train_step / eval_step  compiled steps
  fetch                   device metric sums -> host floats
"""
import flax.jax_utils
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from cnnlab.train.step import StepOptions, make_eval_outputs_step, make_eval_step, make_train_step

PMAP_AXIS = "batch"
MODES = ("jit", "pmap")


def _add(a, b):
    return jax.tree.map(jnp.add, a, b)


def _host(value):
    """Scalars as Python floats, arrays (confusion matrices) as numpy."""
    value = np.asarray(value)
    return float(value) if value.ndim == 0 else value


def check_batch_size(batch_size: int, n: int, what: str = "config.train.batch_size"):
    if batch_size % n:
        raise ValueError(
            f"{what}={batch_size} does not split evenly over {n} devices; "
            f"use a multiple of {n}.")


def replicated_sharding(devices=None) -> NamedSharding:
    """One copy of a leaf on every device (of every process): how states are saved."""
    devices = jax.devices() if devices is None else devices
    return NamedSharding(Mesh(np.array(devices), ("data",)), P())


class JitMesh:
    """`jax.jit` over a 1-D mesh: the batch sharded on 'data', the state replicated.

    The compiler sees the global batch, so gradients and BatchNorm statistics
    are those of one device on the whole batch; no explicit collectives.
    """

    mode = "jit"

    def __init__(self, model, task, augment=None, devices=None, input_fn=None,
                 options: StepOptions = StepOptions()):
        devices = jax.devices() if devices is None else devices
        self.mesh = Mesh(np.array(devices), ("data",))
        self.num_devices = len(devices)
        self.replicated = NamedSharding(self.mesh, P())
        self.state_sharding = self.replicated
        self.data = NamedSharding(self.mesh, P("data"))
        self.train_step = jax.jit(make_train_step(model, task, augment, input_fn=input_fn,
                                                  options=options),
                                  in_shardings=(self.replicated, self.data),
                                  out_shardings=(self.replicated, self.replicated),
                                  donate_argnums=(0,))
        self.eval_step = jax.jit(make_eval_step(model, task, input_fn=input_fn),
                                 in_shardings=(self.replicated, self.data),
                                 out_shardings=self.replicated)
        self.accumulate = jax.jit(_add, donate_argnums=(0,))
        self.eval_outputs = (jax.jit(make_eval_outputs_step(model, task, input_fn),
                                     in_shardings=(self.replicated, self.data))
                             if task.host_metrics else None)

    def put_state(self, state):
        """Replicates a state; on several processes every one must hold the same values
        (jax checks it)."""
        return jax.device_put(state, self.replicated)

    def get_state(self, state):
        return state

    def put_batch(self, batch):
        return {k: jax.make_array_from_process_local_data(self.data, np.asarray(v))
                for k, v in batch.items()}

    def fetch(self, sums):
        return {k: _host(v) for k, v in jax.device_get(sums).items()}

    def fetch_outputs(self, outputs):
        return jax.device_get(outputs)


class Pmap:
    """`jax.pmap` over local devices with axis 'batch': the batch split per device,
    the state replicated; gradients and BatchNorm statistics are `pmean`-ed.

    On several processes the axis spans every device of every process (pmap's
    `devices=None`); pinning `devices` to this process's devices would make
    the collectives process-local and train one model per host.
    """

    mode = "pmap"

    def __init__(self, model, task, augment=None, devices=None, input_fn=None,
                 options: StepOptions = StepOptions()):
        self.devices = jax.local_devices() if devices is None else devices
        self.num_devices = len(self.devices)
        self.state_sharding = replicated_sharding(None if devices is None else devices)
        kw = dict(axis_name=PMAP_AXIS, devices=devices)
        self.train_step = jax.pmap(make_train_step(model, task, augment, axis_name=PMAP_AXIS,
                                                   input_fn=input_fn, options=options),
                                   donate_argnums=(0,), **kw)
        self.eval_step = jax.pmap(make_eval_step(model, task, axis_name=PMAP_AXIS, input_fn=input_fn),
                                  **kw)
        self.accumulate = jax.pmap(_add, devices=devices)
        self.eval_outputs = (jax.pmap(make_eval_outputs_step(model, task, input_fn),
                                      devices=devices)
                             if task.host_metrics else None)

    def put_state(self, state):
        def local(x):  # a global replicated leaf (restored) -> this process's copy
            return x.addressable_data(0) if isinstance(x, jax.Array) else x

        return flax.jax_utils.replicate(jax.tree.map(local, state), self.devices)

    def get_state(self, state):
        """Device replicas (n_local, ...) -> one global replicated array per leaf, without
        copying to the host: the form checkpoints are written in, once for all hosts."""
        def merge(x):
            shards = [s.data.reshape(s.data.shape[1:]) for s in x.addressable_shards]
            return jax.make_array_from_single_device_arrays(x.shape[1:], self.state_sharding, shards)

        return jax.tree.map(merge, state)

    def put_batch(self, batch):
        n = self.num_devices

        def split(v):
            v = np.asarray(v)
            check_batch_size(v.shape[0], n, "the per-process batch")
            return v.reshape((n, v.shape[0] // n) + v.shape[1:])

        return {k: split(v) for k, v in batch.items()}

    def fetch(self, sums):
        return {k: _host(v[0]) for k, v in jax.device_get(sums).items()}

    def fetch_outputs(self, outputs):
        """Per-device outputs (n, b, ...) -> one host batch (n*b, ...)."""
        return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), jax.device_get(outputs))


def create(mode: str, model, task, augment=None, input_fn=None,
           options: StepOptions = StepOptions()):
    """Builds the parallel wrapper for `config.train.parallel`."""
    if mode == "jit":
        return JitMesh(model, task, augment, input_fn=input_fn, options=options)
    if mode == "pmap":
        return Pmap(model, task, augment, input_fn=input_fn, options=options)
    raise ValueError(f"config.train.parallel={mode!r} is not known; use one of {MODES}.")
