"""Runs the same training three ways and prints the loss trajectories as JSON.

Started by tests/test_train_parallel.py in a subprocess with 8 simulated CPU
devices (the device count is fixed when jax starts, so it cannot be changed
inside the test process).
"""
import json
import sys

import cnnlab  # noqa: F401
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab import tasks
from cnnlab.train import optim, parallel
from cnnlab.train.defaults import base_config
from cnnlab.train.state import create_state
from cnnlab.train.step import StepOptions


class TinyNet(nn.Module):
    batch_norm: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(8, (3, 3), name="conv1")(x)
        if self.batch_norm:
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn1")(x)
        x = nn.relu(x)
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape((x.shape[0], -1))
        return nn.Dense(4, name="head")(x)


def trajectory(mode, devices, batch_norm, steps=5, batch_size=16, options=StepOptions()):
    model = TinyNet(batch_norm=batch_norm)
    task = tasks.create("classification", num_classes=4)
    cfg = base_config().optim
    cfg.name, cfg.lr = "sgd", 0.05
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(batch_size, 8, 8, 3)).astype(np.float32)  # one batch, fitted
    labels = rng.integers(0, 4, size=(batch_size,)).astype(np.int32)
    state = create_state(model, lambda p: optim.make_optimizer(cfg, p, steps),
                         np.zeros((1, 8, 8, 3), np.float32), jax.random.PRNGKey(0),
                         ema=options.ema_decay > 0)
    par = (parallel.JitMesh if mode == "jit" else parallel.Pmap)(model, task, devices=devices,
                                                                 options=options)
    state = par.put_state(state)
    losses = []
    for i in range(steps):
        state, sums = par.train_step(state, par.put_batch({"image": images, "label": labels}))
        host = par.fetch(sums)
        losses.append(host["loss_sum"] / host["count"])
    replicas_equal = True
    if mode == "pmap":  # every device must hold the same params and statistics
        replicas_equal = all(bool(np.all(np.asarray(x) == np.asarray(x)[0:1]))
                             for x in jax.tree.leaves((state.params, state.batch_stats)))
    final = par.get_state(state)
    stats = jax.tree.leaves(final.batch_stats)
    return {"losses": losses, "replicas_equal": replicas_equal,
            "param_sum": float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(final.params))),
            "stats_sum": float(sum(jnp.abs(x).sum() for x in stats)) if stats else 0.0,
            "ema_sum": float(sum(jnp.abs(x).sum() for x in jax.tree.leaves(final.ema_params)))}


def main():
    devices = jax.devices()
    out = {
        "num_devices": len(devices),
        "one": trajectory("jit", devices[:1], False),
        "jit8": trajectory("jit", devices, False),
        "pmap8": trajectory("pmap", devices, False),
        "bn_one": trajectory("jit", devices[:1], True),
        "bn_jit8": trajectory("jit", devices, True),
        "bn_pmap8": trajectory("pmap", devices, True),
    }
    recipe = StepOptions(grad_accum_steps=2, ema_decay=0.9)  # 2 micro-batches, EMA
    out.update({name: trajectory(mode, devs, False, options=recipe) for name, mode, devs in (
        ("recipe_one", "jit", devices[:1]), ("recipe_jit8", "jit", devices),
        ("recipe_pmap8", "pmap", devices))})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
