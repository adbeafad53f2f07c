"""The one pure train step and eval step, shared by every task and parallel mode.

`axis_name` is None under `jax.jit` (the compiler sees the global batch, so
gradients and BatchNorm statistics are already global) and the pmap axis
under `jax.pmap`, where gradients, BatchNorm statistics and metric sums are
averaged or summed across devices explicitly.

Recipe options of the train step (`StepOptions`, from `config.train`):
- `grad_accum_steps` k: the batch is cut into k micro-batches (example i goes
  to micro-batch i mod k, so every device keeps its own examples), their
  gradients are averaged and applied once. The update is that of the whole
  batch, except that BatchNorm statistics are those of each micro-batch and
  the running averages move k times.
- `ema_decay` d > 0: an exponential moving average of the parameters and the
  BatchNorm statistics, `ema = d' ema + (1 - d') new`, with the warm-up
  d' = min(d, (1 + t) / (10 + t)) at update t (TensorFlow's
  `ExponentialMovingAverage(num_updates=t)`), so early weights fade fast.
"""
import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import optax

# Per-step optimizer statistics of the metric sums; the loop divides them by the steps summed.
STEP_STATS = ("grad_norm", "param_norm", "update_norm")


@dataclasses.dataclass(frozen=True)
class StepOptions:
    grad_accum_steps: int = 1
    ema_decay: float = 0.0
    ema_warmup: bool = True

    @classmethod
    def from_config(cls, train_config):
        return cls(grad_accum_steps=int(train_config.grad_accum_steps),
                   ema_decay=float(train_config.ema_decay),
                   ema_warmup=bool(train_config.ema_warmup))


def _identity_augment(batch, rng):
    return batch


def _identity(images):
    return images


def ema_decay_at(decay: float, step, warmup: bool):
    """The EMA decay used at update `step` (1-based): `decay`, lowered early on by the warm-up."""
    if not warmup:
        return jnp.asarray(decay, jnp.float32)
    t = jnp.asarray(step, jnp.float32)
    return jnp.minimum(decay, (1.0 + t) / (10.0 + t))


def update_ema(state, decay: float, warmup: bool):
    """The state with its EMA of params and BatchNorm statistics moved towards the new values."""
    d = ema_decay_at(decay, state.step, warmup)
    mix = lambda e, x: (d * e + (1.0 - d) * x).astype(e.dtype)
    return state.replace(ema_params=jax.tree.map(mix, state.ema_params, state.params),
                         ema_batch_stats=jax.tree.map(mix, state.ema_batch_stats, state.batch_stats))


def micro_batches(batch, k: int):
    """(B, ...) leaves -> (k, B / k, ...): example i in micro-batch i mod k."""
    def cut(x):
        x = jnp.asarray(x)
        return x.reshape((x.shape[0] // k, k) + x.shape[1:]).swapaxes(0, 1)
    return jax.tree.map(cut, batch)


def make_train_step(model, task, augment: Optional[Callable] = None,
                    axis_name: Optional[str] = None, input_fn: Optional[Callable] = None,
                    options: StepOptions = StepOptions()):
    """Returns step(state, batch) -> (state, metric_sums).

    `augment(batch, rng) -> batch` transforms the whole batch dict, so box and
    mask targets move with the pixels and mixup can mix the targets (see
    `cnnlab.train.loop.batch_augment`). The sums hold the task's metric sums,
    `nonfinite` (1 if the loss was NaN/Inf) and the global norms of the
    gradient, the parameters and the update (`STEP_STATS`).
    """
    augment = augment or _identity_augment
    input_fn = input_fn or _identity
    k = int(options.grad_accum_steps)

    def grads_of(state, batch_stats, batch, dropout_rng):
        images = input_fn(batch["image"])  # (B, H, W, C)

        def loss_fn(params):
            variables = {"params": params}
            if batch_stats:
                variables["batch_stats"] = batch_stats
            mutable = ["batch_stats"] if batch_stats else []
            outputs, new_vars = model.apply(variables, images, train=True,
                                            rngs={"dropout": dropout_rng}, mutable=mutable)
            loss, _ = task.loss(outputs, batch)
            return loss, (outputs, new_vars)

        (loss, (outputs, new_vars)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        sums = task.metric_sums(outputs, batch)
        sums["nonfinite"] = (~jnp.isfinite(loss)).astype(jnp.float32)
        return grads, new_vars.get("batch_stats", batch_stats), sums

    def step(state, batch):
        rng = jax.random.fold_in(state.rng, state.step)
        if axis_name is not None:  # distinct randomness per device under pmap
            rng = jax.random.fold_in(rng, jax.lax.axis_index(axis_name))
        aug_rng, dropout_rng = jax.random.split(rng)
        batch = augment(dict(batch), aug_rng)
        if k == 1:
            grads, batch_stats, sums = grads_of(state, state.batch_stats, batch, dropout_rng)
        else:
            def one(carry, xs):
                grads_total, stats = carry
                micro, j = xs
                grads, stats, sums = grads_of(state, stats, micro, jax.random.fold_in(dropout_rng, j))
                return (jax.tree.map(jnp.add, grads_total, grads), stats), sums

            zeros = jax.tree.map(jnp.zeros_like, state.params)
            (grads, batch_stats), sums = jax.lax.scan(
                one, (zeros, state.batch_stats), (micro_batches(batch, k), jnp.arange(k)))
            grads = jax.tree.map(lambda g: g / k, grads)
            sums = jax.tree.map(lambda s: s.sum(0), sums)
        if axis_name is not None:
            grads = jax.lax.pmean(grads, axis_name)
            batch_stats = jax.lax.pmean(batch_stats, axis_name)
            sums = jax.lax.psum(sums, axis_name)
        new_state = state.apply_gradients(grads, batch_stats)
        if options.ema_decay:
            new_state = update_ema(new_state, options.ema_decay, options.ema_warmup)
        # the same on every device: added after the psum
        sums["grad_norm"] = optax.global_norm(grads)
        sums["param_norm"] = optax.global_norm(new_state.params)
        sums["update_norm"] = optax.global_norm(
            jax.tree.map(jnp.subtract, new_state.params, state.params))
        return new_state, sums

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
