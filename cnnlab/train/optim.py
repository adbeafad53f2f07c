"""Optimizers, learning-rate schedules and freezing from `config.optim`.

The fields, their defaults and their meaning are in one place, the schema
`cnnlab.train.defaults.FIELDS` (`scripts/train.py --config=... --show_config`
prints them); `complete()` fills a partial `config.optim` from it.
Optimizers: sgd, adam, adamw (decoupled weight decay), rmsprop (Keras'
form, eps outside the root). Schedules: constant, step, exponential,
inverse_time (Keras' legacy `decay`), cosine; `warmup_steps` prepends a
linear warm-up. `freeze` regexes give matching parameters exactly zero
updates.
"""
import re
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "exponential", "inverse_time", "cosine")


def _get(cfg, key):
    return cfg[key]


def complete(cfg) -> dict:
    """`config.optim` (a ConfigDict or dict, maybe partial) with every field of the schema
    (`cnnlab.train.defaults`): the defaults live there only."""
    from cnnlab.train.defaults import base_config
    out = base_config().optim.to_dict()
    known = sorted(out)
    out.update(cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg))
    unknown = sorted(set(out) - set(known))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown} in config.optim; known fields are {known}.")
    return out


def make_schedule(cfg, total_steps: int) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """Learning rate as a function of the step, from `config.optim`."""
    lr = float(_get(cfg, "lr"))
    kind = _get(cfg, "schedule")
    warmup = int(_get(cfg, "warmup_steps") or 0)
    if kind not in SCHEDULES:
        raise ValueError(f"config.optim.schedule={kind!r} is not known; choose one of {SCHEDULES}.")
    decay_steps = int(_get(cfg, "decay_steps") or max(total_steps // 3, 1))
    decay_rate = float(_get(cfg, "decay_rate"))
    if kind == "constant":
        main = optax.constant_schedule(lr)
    elif kind == "step":
        main = optax.exponential_decay(lr, decay_steps, decay_rate, staircase=True)
    elif kind == "exponential":
        main = optax.exponential_decay(lr, decay_steps, decay_rate)
    elif kind == "inverse_time":
        decay = float(_get(cfg, "decay"))
        main = lambda step: lr / (1.0 + decay * step)  # Keras SGD(decay=...)
    else:
        main = optax.cosine_decay_schedule(lr, max(total_steps - warmup, 1))
    if warmup:
        return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])
    return main


def decay_mask(params, patterns=None):
    """True for the parameters weight decay applies to.

    `patterns` None (the default) spares every parameter of one dimension or
    none, i.e. biases and normalisation scales and offsets (timm's and
    torchvision's recipe rule); otherwise it is a sequence of regexes of
    parameter paths ('block1_conv1/kernel') to spare, and () decays all.
    """
    if patterns is None:
        return jax.tree.map(lambda p: jnp.ndim(p) > 1, params)
    compiled = []
    for p in patterns:
        try:
            compiled.append(re.compile(p))
        except re.error as e:
            raise ValueError(f"config.optim.decay_exclude pattern {p!r} is not a valid regex: {e}") from None
    paths = param_paths(params)
    for p, rx in zip(patterns, compiled):
        if not any(rx.search(path) for path in jax.tree_util.tree_leaves(paths)):
            raise ValueError(f"config.optim.decay_exclude pattern {p!r} matches no parameter; "
                             f"paths look like {jax.tree_util.tree_leaves(paths)[:3]}.")
    return jax.tree.map(lambda path: not any(rx.search(path) for rx in compiled), paths)


def _base_optimizer(cfg, schedule, params) -> optax.GradientTransformation:
    name = _get(cfg, "name")
    wd = float(_get(cfg, "weight_decay") or 0.0)
    mask = decay_mask(params, _get(cfg, "decay_exclude")) if wd else None
    momentum = float(_get(cfg, "momentum") or 0.0)
    if name not in OPTIMIZERS:
        raise ValueError(f"config.optim.name={name!r} is not known; choose one of {OPTIMIZERS}.")
    if name == "adamw":
        return optax.adamw(schedule, b1=_get(cfg, "b1"), b2=_get(cfg, "b2"),
                           eps=_get(cfg, "eps"), weight_decay=wd, mask=mask)
    if name == "sgd":
        opt = optax.sgd(schedule, momentum=momentum or None, nesterov=bool(_get(cfg, "nesterov")))
    elif name == "adam":
        # eps=1e-7 like Keras, so recipes carry over.
        opt = optax.adam(schedule, b1=_get(cfg, "b1"), b2=_get(cfg, "b2"),
                         eps=_get(cfg, "eps"))
    else:
        # Keras' RMSprop: lr * g / (sqrt(v) + eps), eps outside the root.
        opt = optax.rmsprop(schedule, decay=_get(cfg, "rho"), eps=_get(cfg, "eps"),
                            eps_in_sqrt=False, momentum=momentum or None)
    if wd:
        opt = optax.chain(optax.add_decayed_weights(wd, mask), opt)
    return opt


def param_paths(params) -> dict:
    """Maps each leaf to its '/'-joined path, e.g. 'block1_conv1/kernel'."""
    def name(path):
        return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)
    return jax.tree_util.tree_map_with_path(lambda p, _: name(p), params)


def freeze_labels(params, patterns: Sequence[str]):
    """'frozen' for every parameter whose path matches one of the regexes, else 'trainable'."""
    compiled = [re.compile(p) for p in patterns]
    return jax.tree_util.tree_map(
        lambda path: "frozen" if any(c.match(path) for c in compiled) else "trainable",
        param_paths(params))


def check_freeze_patterns(params, patterns: Sequence[str]) -> None:
    """Every freeze regex must match at least one parameter: a typo would freeze nothing."""
    paths = jax.tree_util.tree_leaves(param_paths(params))
    for p in patterns:
        try:
            rx = re.compile(p)
        except re.error as e:
            raise ValueError(f"config.optim.freeze pattern {p!r} is not a valid regex: {e}") from None
        if not any(rx.match(path) for path in paths):
            tops = sorted({path.split("/")[0] for path in paths})
            raise ValueError(
                f"config.optim.freeze pattern {p!r} matches no parameter; top-level modules are {tops}.")


def make_optimizer(cfg, params, total_steps: int) -> optax.GradientTransformation:
    """The full optax transformation: clipping, optimizer with schedule, freezing."""
    cfg = complete(cfg)
    schedule = make_schedule(cfg, total_steps)
    opt = _base_optimizer(cfg, schedule, params)
    clip = float(_get(cfg, "clip_norm") or 0.0)
    if clip:
        opt = optax.chain(optax.clip_by_global_norm(clip), opt)
    patterns = list(_get(cfg, "freeze") or ())
    if patterns:
        check_freeze_patterns(params, patterns)
        opt = optax.multi_transform(
            {"trainable": opt, "frozen": optax.set_to_zero()}, freeze_labels(params, patterns))
    return opt


# ---------------------------------------------------------------------------
# Phases: freeze-then-finetune in one run with one optimizer state.

PHASE_FIELDS = ("epochs", "steps", "lr", "schedule", "decay", "decay_rate", "decay_steps",
                "warmup_steps", "freeze")


def _phase_mask_transform(boundaries: Sequence[int], masks) -> optax.GradientTransformation:
    """Multiplies each leaf by its 0/1 trainable flag of the phase the step is in.

    `masks` is a pytree of float arrays (num_phases,) per leaf; `boundaries`
    are the first steps of phases 2..n. The step is counted in the state, so
    the phase survives checkpoint and resume.
    """
    bounds = jnp.asarray(boundaries, jnp.int32)

    def init(params):
        del params
        return {"count": jnp.zeros((), jnp.int32)}

    def update(updates, state, params=None):
        del params
        phase = jnp.sum(state["count"] >= bounds) if len(boundaries) else 0
        updates = jax.tree.map(lambda u, m: u * m[phase].astype(u.dtype), updates, masks)
        return updates, {"count": state["count"] + 1}

    return optax.GradientTransformation(init, update)


def phase_steps(phases, steps_per_epoch: int) -> list:
    """Length in steps of each phase (`steps`, or `epochs` x steps per epoch)."""
    out = []
    for i, phase in enumerate(phases):
        unknown = sorted(set(phase) - set(PHASE_FIELDS))
        if unknown:
            raise ValueError(f"config.train.phases[{i}] has unknown field(s) {unknown}; "
                             f"known: {list(PHASE_FIELDS)}.")
        n = int(phase.get("steps", 0) or 0) or int(phase.get("epochs", 0) or 0) * steps_per_epoch
        if n <= 0:
            raise ValueError(f"config.train.phases[{i}] needs positive `epochs` or `steps`.")
        out.append(n)
    return out


def phased_schedule(cfg, phases, steps_per_epoch: int) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """The learning rate of a phased run: each phase's own schedule, restarted at its first step."""
    cfg = complete(cfg)
    lengths = phase_steps(phases, steps_per_epoch)
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    schedules = []
    for phase, n in zip(phases, lengths):
        merged = dict(cfg)
        merged.update({k: v for k, v in phase.items() if k not in ("epochs", "steps", "freeze")})
        schedules.append(make_schedule(merged, n))
    if len(schedules) == 1:
        return schedules[0]
    return optax.join_schedules([lambda s, f=f: f(s) for f in schedules], starts[1:])


def make_phased_optimizer(cfg, phases, params, steps_per_epoch: int) -> optax.GradientTransformation:
    """One optimizer for several training phases (the transfer-learning recipe).

    Each phase sets its own learning rate and schedule (restarted at the
    phase's first step, like a fresh Keras optimizer) and its own `freeze`
    regexes; everything else (`name`, `momentum`, ...) comes from
    `config.optim`. Gradients of frozen parameters are zeroed before the
    optimizer and their updates after it, so their momentum/Adam moments
    stay zero and they are bit-for-bit unchanged, while the state of the
    trainable parameters (e.g. the new head's momentum) carries over from
    one phase to the next. The optimizer state has one structure for all
    phases, so checkpoints and resume work across a phase boundary.
    """
    cfg = complete(cfg)
    lengths = phase_steps(phases, steps_per_epoch)
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    schedule = phased_schedule(cfg, phases, steps_per_epoch)
    frozen = []
    for phase in phases:
        patterns = list(phase.get("freeze", ()) or ())
        check_freeze_patterns(params, patterns)
        labels = freeze_labels(params, patterns)
        frozen.append(jax.tree.map(lambda l: 0.0 if l == "frozen" else 1.0, labels))
    masks = jax.tree.map(lambda *flags: jnp.asarray(flags, jnp.float32), *frozen)
    opt = _base_optimizer(cfg, schedule, params)
    clip = float(_get(cfg, "clip_norm") or 0.0)
    parts = [_phase_mask_transform(starts[1:], masks)]
    if clip:
        parts.append(optax.clip_by_global_norm(clip))
    parts += [opt, _phase_mask_transform(starts[1:], masks)]
    return optax.chain(*parts)
