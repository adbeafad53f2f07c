"""The one pure train step and eval step, shared by every task and parallel mode.

`axis_name` is None under `jax.jit` (the compiler sees the global batch, so
gradients and BatchNorm statistics are already global) and the pmap axis
under `jax.pmap`, where gradients, BatchNorm statistics and metric sums are
averaged or summed across devices explicitly.
"""
from typing import Callable, Optional

import jax
import jax.numpy as jnp


def _identity_augment(batch, rng):
    return batch


def _identity(images):
    return images


def make_train_step(model, task, augment: Optional[Callable] = None,
                    axis_name: Optional[str] = None, input_fn: Optional[Callable] = None):
    """Returns step(state, batch) -> (state, metric_sums).

    `augment(batch, rng) -> batch` transforms the whole batch dict, so box and
    mask targets move with the pixels (see `cnnlab.train.loop.batch_augment`).
    """
    augment = augment or _identity_augment
    input_fn = input_fn or _identity

    def step(state, batch):
        rng = jax.random.fold_in(state.rng, state.step)
        if axis_name is not None:  # distinct randomness per device under pmap
            rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
        aug_rng, dropout_rng = jax.random.split(rng)
        batch = augment(dict(batch), aug_rng)
        images = input_fn(batch["image"])  # (B, H, W, C)

        def loss_fn(params):
            variables = dict(state.variables(), params=params)
            mutable = ["batch_stats"] if state.batch_stats else []
            outputs, new_vars = model.apply(variables, images, train=True,
                                            rngs={"dropout": dropout_rng}, mutable=mutable)
            loss, _ = task.loss(outputs, batch)
            return loss, (outputs, new_vars)

        (loss, (outputs, new_vars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        batch_stats = new_vars.get("batch_stats", state.batch_stats)
        sums = task.metric_sums(outputs, batch)
        sums["nonfinite"] = (~jnp.isfinite(loss)).astype(jnp.float32)
        if axis_name is not None:
            grads = jax.lax.pmean(grads, axis_name)
            batch_stats = jax.lax.pmean(batch_stats, axis_name)
            sums = jax.lax.psum(sums, axis_name)
        return state.apply_gradients(grads, batch_stats), sums

    return step


def make_eval_step(model, task, axis_name: Optional[str] = None,
                   input_fn: Optional[Callable] = None):
    """Returns eval_step(state, batch) -> metric_sums (inference mode)."""
    input_fn = input_fn or _identity

    def step(state, batch):
        outputs = model.apply(state.variables(), input_fn(batch["image"]), train=False)
        sums = task.metric_sums(outputs, batch)
        if axis_name is not None:
            sums = jax.lax.psum(sums, axis_name)
        return sums

    return step


def make_eval_outputs_step(model, task, input_fn: Optional[Callable] = None):
    """Returns step(state, batch) -> task.eval_outputs(...), for tasks whose metrics
    need every prediction on the host (detection mAP)."""
    input_fn = input_fn or _identity

    def step(state, batch):
        outputs = model.apply(state.variables(), input_fn(batch["image"]), train=False)
        return task.eval_outputs(outputs, batch)

    return step


def make_predict_step(model, input_fn: Optional[Callable] = None):
    """Returns predict(state, images) -> model outputs (inference mode)."""
    input_fn = input_fn or _identity

    def predict(state, images):
        return model.apply(state.variables(), input_fn(images), train=False)

    return predict
