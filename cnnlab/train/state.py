"""The train state: everything a run needs to continue exactly where it stopped."""
import functools
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    """Params, BatchNorm statistics, optimizer state, step and the run's PRNG key.

    Per-step randomness is `fold_in(rng, step)`, so a restored state replays
    the same dropout masks and augmentations as the uninterrupted run.
    """

    step: jnp.ndarray
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jnp.ndarray
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    def apply_gradients(self, grads, batch_stats):
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        params = optax.apply_updates(self.params, updates)
        return self.replace(step=self.step + 1, params=params, opt_state=opt_state,
                            batch_stats=batch_stats)

    def variables(self):
        """The Flax variables dict for `model.apply`."""
        v = {"params": self.params}
        if self.batch_stats:
            v["batch_stats"] = self.batch_stats
        return v


def init_variables(model, sample_image, rng):
    """`model.init` as one compiled program with an 'rbg' key derived from `rng`.

    Eager init with threefry keys dispatches and compiles every random op of
    every layer separately: 10x slower on CPU (90 s vs 7 s for a small FCN).
    The rbg stream is deterministic for a given seed and backend.
    """
    key = jax.random.wrap_key_data(jnp.tile(jax.random.key_data(rng), 2), impl="rbg")
    init = jax.jit(functools.partial(model.init, train=False))
    return init({"params": key, "dropout": key}, sample_image)


def create_state(model, tx_fn, sample_image, rng) -> TrainState:
    """Initialises model variables from `rng` and the optimizer `tx_fn(params)`."""
    init_rng, run_rng = jax.random.split(rng)
    variables = init_variables(model, sample_image, init_rng)
    params = variables["params"]
    tx = tx_fn(params)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables.get("batch_stats", {}), opt_state=tx.init(params),
                      rng=run_rng, tx=tx)
