"""The one training loop every task and script uses: `run(config, workdir)`.

A run directory is complete on its own: `config.json`, `metrics.jsonl`,
`checkpoints/` (latest N, for resuming), `best/` (best by a metric),
`curves.png`. Relaunching the same command on a workdir that holds a
checkpoint resumes from it and continues exactly as if never interrupted:
the data order is a function of (seed, epoch), per-step randomness is
`fold_in(rng, step)`, and the state (params, optimizer, BatchNorm statistics,
step, key) is restored bit for bit.
"""
import contextlib
import json
import logging
import os
import signal
import time
from typing import Optional

import jax
import ml_collections
import numpy as np

from cnnlab import data as data_lib
from cnnlab import models, tasks
from cnnlab.train import config_check, defaults, distributed, parallel
from cnnlab.train.checkpoint import Checkpointer
from cnnlab.train.inputs import build_input_fn
from cnnlab.train.logs import Console, MetricsLog, format_metrics
from cnnlab.train.optim import make_optimizer, make_phased_optimizer, phase_steps
from cnnlab.train.state import create_state


class TrainingError(RuntimeError):
    """A run stopped for a reason the user can fix; the message says how."""


class NonFiniteLoss(TrainingError):
    """The training loss became NaN or Inf."""


@contextlib.contextmanager
def _stop_signals():
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step."""
    flag = {"signal": None}

    def handler(signum, frame):
        flag["signal"] = signal.Signals(signum).name

    previous = {}
    try:
        for s in (signal.SIGTERM, signal.SIGINT):
            previous[s] = signal.signal(s, handler)
    except ValueError:  # not the main thread: no handlers, no graceful stop
        previous = {}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _model_kwargs(config, num_classes):
    kwargs = {k: v for k, v in config.model.to_dict().items() if k != "name"}
    kwargs.setdefault("num_classes", num_classes)
    dtype = config.train.dtype
    if dtype != "float32":
        kwargs["dtype"] = {"bfloat16": jax.numpy.bfloat16, "float16": jax.numpy.float16}[dtype]
    return kwargs


STOP_SYNC_EVERY = 10  # steps between the processes' agreements on a SIGTERM/SIGINT


def _agreed_stop(signal_name, step):
    """The signal to stop on after `step`, the same on every process.

    One process alone saves and stops after the step it got the signal; on
    several, every process must stop after the same step (each save and step
    is collective), so they agree every STOP_SYNC_EVERY steps whether any got
    one: a scheduler's SIGTERM to all of them, or to one.
    """
    if jax.process_count() == 1:
        return signal_name
    if step % STOP_SYNC_EVERY or not any(distributed.gather(int(bool(signal_name)))):
        return None
    return signal_name or "a stop signal (on another process)"


def build_model_and_task(config, info):
    """The model and task a config describes, sized from the dataset info."""
    num_classes = config.model.get("num_classes", None) or info.num_classes
    model = models.create(config.model.name, **_model_kwargs(config, num_classes))
    task_kwargs = {k: v for k, v in config.task.to_dict().items() if k != "name"}
    task_kwargs.setdefault("num_classes", num_classes)
    task = tasks.create(config.task.name, **task_kwargs)
    return model, task


def _evaluate(par, state, dataset, task) -> dict:
    """Metric values of `task` over a whole split (every example once).

    Tasks whose metrics decompose into sums (accuracy, confusion matrices)
    accumulate on device; tasks with `eval_outputs`/`host_evaluate` (detection
    mAP) bring every batch's predictions to the host and score them there.
    """
    if task.host_metrics:
        acc = task.host_init()
        for batch in dataset.epoch(0):
            outputs = par.fetch_outputs(par.eval_outputs(state, par.put_batch(batch)))
            acc = task.host_update(acc, outputs, batch)
        return task.host_finalize(acc)
    acc = None
    for batch in dataset.epoch(0):
        sums = par.eval_step(state, par.put_batch(batch))
        acc = sums if acc is None else par.accumulate(acc, sums)
    return task.finalize(par.fetch(acc)) if acc is not None else {}


def batch_augment(config, task):
    """The on-device augmentation of `config.data.augment` as fn(batch, rng) -> batch.

    Tasks whose targets move with the pixels (boxes, masks) provide
    `task.make_augment(cfg)`; otherwise the images-only augmentation of
    `cnnlab.data.augment` is applied to `batch['image']`.
    """
    cfg = config.data.get("augment", None)
    fields = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg or {})
    joint = task.make_augment(cfg)
    if joint is not None:
        return joint
    random_fields = {k: v for k, v in fields.items() if k not in data_lib.augment.NORMALIZE_FIELDS}
    images_fn = data_lib.augment.build(random_fields)

    def augment(batch, rng):
        batch["image"] = images_fn(batch["image"], rng)
        return batch

    return augment


def optimizer_fn(config, steps_per_epoch: int):
    """(total steps, fn(params) -> optax transformation) for the run's config."""
    tc = config.train
    phases = [dict(p) for p in (tc.phases or ())]
    if phases:
        total = sum(phase_steps(phases, steps_per_epoch))
        return total, lambda p: make_phased_optimizer(config.optim, phases, p, steps_per_epoch)
    total = int(tc.steps or 0) or int(tc.epochs) * steps_per_epoch
    return total, lambda p: make_optimizer(config.optim, p, total)


def _load_init_weights(config, state, console):
    """Starts from `config.init_weights`: 'imagenet', a .h5/.pth/.safetensors file, or a cnnlab run.

    Configs that declare the field must say what to start from: a path, or
    'random' to train from scratch knowingly; an empty value is an error so a
    transfer run never silently trains from random weights.
    """
    if "init_weights" not in config:
        return state
    path = config.init_weights
    if not path:
        raise TrainingError(
            "config.init_weights is empty: this config starts from pretrained weights. Give "
            "--config.init_weights=imagenet (the model's published ImageNet file) or =PATH (a Keras "
            ".h5 such as vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, a PyTorch .pth or "
            ".safetensors, or a cnnlab run directory), "
            "or --config.init_weights=random to train from scratch.")
    if path == "random":
        console.line("init_weights=random: training from randomly initialised weights.")
        return state
    from cnnlab import pretrained
    model_name = config.model.get("base", None) or config.model.name
    prefix = "backbone" if config.model.name == "transfer" else None
    variables = pretrained.load_weights(state.variables(), path, model_name, prefix=prefix)
    console.line(f"initialised {prefix or 'model'} weights from {path}")
    return state.replace(params=variables["params"],
                         batch_stats=variables.get("batch_stats", state.batch_stats))


def _split_data(config, split, batch_size, train, seed):
    return data_lib.build(config.data, split=split, batch_size=batch_size, train=train, seed=seed,
                          process_index=jax.process_index(), process_count=jax.process_count())


def _prefixed(prefix, metrics):
    return {f"{prefix}/{k}": v for k, v in metrics.items()}


class _EarlyStopping:
    """Stops when `metric` has not improved by `min_delta` for `patience` evaluations."""

    def __init__(self, cfg, meta):
        self.metric = cfg.metric
        self.patience = int(cfg.patience or 0)
        self.mode = cfg.mode
        self.min_delta = float(cfg.min_delta)
        self.best = meta.get("early_best")
        self.wait = int(meta.get("early_wait", 0))

    def update(self, metrics) -> bool:
        if not self.patience or self.metric not in metrics:
            return False
        value = metrics[self.metric]
        sign = 1.0 if self.mode == "max" else -1.0
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
        return self.wait >= self.patience

    def meta(self):
        return {"early_best": self.best, "early_wait": self.wait}


def run(config: ml_collections.ConfigDict, workdir: str, *, verbose: bool = True,
        peer_timeout_s: float = distributed.STALL_S) -> dict:
    """Trains (or resumes) the experiment `config` in `workdir`; returns final metrics.

    On several processes, one that shows no sign of life for `peer_timeout_s`
    seconds ends the others with a message naming it (see `distributed`).

    Returns a dict with the last evaluation metrics (`val/...`, `test/...`),
    `step`, and `status` ('finished', 'early_stopped' or 'interrupted').
    """
    config_check.validate(config)
    config = defaults.complete(config)
    tc = config.train
    main_process = jax.process_index() == 0
    os.makedirs(workdir, exist_ok=True)
    config_path = os.path.join(workdir, "config.json")
    if main_process:
        with open(config_path, "w") as f:
            json.dump(config.to_dict(), f, indent=2, sort_keys=True)

    seed = int(tc.seed)
    batch_size = int(tc.batch_size)  # global: over all devices of all processes
    train_data = _split_data(config, config.data.train_split, batch_size, True, seed)
    eval_batch = int(tc.eval_batch_size or batch_size)
    eval_split = config.data.eval_split
    val_data = _split_data(config, eval_split, eval_batch, False, seed) if eval_split else None
    info = train_data.info
    model, task = build_model_and_task(config, info)
    steps_per_epoch = train_data.steps_per_epoch
    total_steps, tx_fn = optimizer_fn(config, steps_per_epoch)

    augment = batch_augment(config, task)
    input_fn = build_input_fn(config, train_data)
    par = parallel.create(tc.parallel, model, task, augment, input_fn)
    parallel.check_batch_size(batch_size, jax.device_count())
    parallel.check_batch_size(eval_batch, jax.device_count(), "config.train.eval_batch_size")

    sample = np.zeros((1,) + tuple(info.image_shape), np.float32)
    state = create_state(model, tx_fn, sample, jax.random.PRNGKey(seed))
    ckpt = Checkpointer(workdir, keep=tc.keep_checkpoints, best_metric=tc.best_metric,
                        best_mode=tc.best_mode, training=True)
    log = MetricsLog(os.path.join(workdir, "metrics.jsonl"), enabled=main_process)
    console = Console(total_steps, enabled=verbose and main_process)
    liveness = distributed.Liveness(distributed.exit_on_lost(workdir, peer_timeout_s),
                                    stall_s=peer_timeout_s).start()
    peer_lost = False
    try:
        return _train(config, workdir, ckpt, log, console, state, par, model, task, train_data,
                      val_data, steps_per_epoch, total_steps, eval_batch, batch_size, seed)
    except Exception as e:
        if distributed.is_peer_failure(e):
            peer_lost = True  # the peers' half of any save can never come: do not wait for it
            raise distributed.peer_lost_error(e, workdir) from e
        raise
    finally:
        liveness.stop()
        if not peer_lost:
            ckpt.wait()
            ckpt.close()


def _train(config, workdir, ckpt, log, console, state, par, model, task, train_data, val_data,
           steps_per_epoch, total_steps, eval_batch, batch_size, seed) -> dict:
    """The body of `run`: resume or initialise, then the step loop, evaluations and saves."""
    tc = config.train
    main_process = jax.process_index() == 0
    meta = {}
    restored = ckpt.restore_latest(state, sharding=par.state_sharding)
    if restored is not None:
        state, meta, notes = restored
        for note in notes:
            console.line(f"warning: {note}")
        written_by = meta.get("num_devices")
        if written_by and written_by != jax.device_count():
            console.line(f"the checkpoint was written by {written_by} devices; resuming on "
                         f"{jax.device_count()} with the same global batch of {batch_size}.")
        console.line(f"resuming from step {int(state.step)} in {workdir}")
        log.truncate_after(int(state.step))
    else:
        state = _load_init_weights(config, state, console)
    early = _EarlyStopping(tc.early_stopping, meta)

    step = int(state.step)
    log_every = int(tc.log_every or min(steps_per_epoch, 100))
    eval_every = int(tc.eval_every or steps_per_epoch)
    ckpt_every = int(tc.checkpoint_every or steps_per_epoch)
    images_per_step = batch_size
    state = par.put_state(state)
    last_good = ckpt.latest_step()
    result = {"status": "finished"}

    def save(step_now, state_now):
        ckpt.save(step_now, par.get_state(state_now), dict(early.meta(), step=step_now))

    def check_finite(sums, step_now):
        if sums.get("nonfinite", 0.0) > 0:
            ckpt.wait()
            where = (f"the last good checkpoint (step {last_good}) is kept in "
                     f"{os.path.join(workdir, 'checkpoints')}" if last_good is not None
                     else "no checkpoint had been written yet")
            raise NonFiniteLoss(
                f"the training loss became NaN/Inf before step {step_now}; {where}. "
                f"Lower config.optim.lr, set config.optim.clip_norm, or check the input data.")

    acc = None
    t_start = time.time()
    with _stop_signals() as stop:
        while step < total_steps:
            epoch, start = divmod(step, steps_per_epoch)
            for batch in train_data.epoch(epoch, start_step=start):
                state, sums = par.train_step(state, par.put_batch(batch))
                acc = sums if acc is None else par.accumulate(acc, sums)
                step += 1
                at_end = step == total_steps
                signal_name = _agreed_stop(stop["signal"], step)
                record = {}
                if step % log_every == 0 or at_end or step % ckpt_every == 0 or signal_name:
                    host = par.fetch(acc)
                    acc = None
                    check_finite(host, step)
                    record.update(_prefixed("train", task.finalize(host)))
                if step % eval_every == 0 or at_end:
                    if val_data is not None:
                        record.update(_prefixed("val", _evaluate(par, state, val_data, task)))
                    ckpt.save_best(step, par.get_state(state), record)
                    if early.update(record):
                        result["status"] = "early_stopped"
                if record:
                    record = dict(step=step, epoch=step / steps_per_epoch,
                                  time=time.time() - t_start, **record)
                    log.write(record)
                    console.progress(step, step / steps_per_epoch,
                                     {k: v for k, v in record.items() if "/" in k},
                                     images_per_step)
                    result.update(record)
                if step % ckpt_every == 0 or at_end or signal_name \
                        or result["status"] == "early_stopped":
                    save(step, state)
                    last_good = step
                if signal_name:
                    result["status"] = "interrupted"
                    console.line(f"{signal_name} received: saved a checkpoint at step "
                                 f"{step}; rerun the same command to resume.")
                    return result
                if at_end or result["status"] == "early_stopped":
                    break
            if result["status"] == "early_stopped":
                console.line(f"early stopping at step {step}: {early.metric} did not improve "
                             f"for {early.patience} evaluations (best {early.best}).")
                break
    test_split = config.data.test_split
    if test_split:
        test_data = _split_data(config, test_split, eval_batch, False, seed)
        test = _prefixed("test", _evaluate(par, state, test_data, task))
        log.write(dict(step=step, epoch=step / steps_per_epoch, **test))
        console.line(f"test: {format_metrics(test)}")
        result.update(test)
    result["step"] = step
    if main_process and tc.curves:
        from cnnlab.viz.curves import plot_training_curves
        plot_training_curves(log.path, os.path.join(workdir, "curves.png"))
    return result


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a run was started with (its `config.json`)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} does not exist: {workdir} is not a cnnlab run directory "
            f"(train into it first with scripts/train.py --workdir={workdir}).")
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


def restore_for_inference(workdir: str, which: str = "latest", config=None,
                          step: Optional[int] = None, split: Optional[str] = None,
                          batch_size: Optional[int] = None):
    """(config, model, task, state, dataset) of a finished or running run, on one device.

    `dataset` is `split` (default: the run's test split, else its eval split)
    batched by `batch_size` (default: the run's eval batch size).
    """
    config = defaults.complete(config or load_config(workdir))
    split = split or config.data.test_split or config.data.eval_split or "test"
    batch_size = batch_size or int(config.train.eval_batch_size or config.train.batch_size)
    data = _split_data(config, split, batch_size, False, int(config.train.seed))
    model, task = build_model_and_task(config, data.info)
    sample = np.zeros((1,) + tuple(data.info.image_shape), np.float32)
    _, tx_fn = optimizer_fn(config, 1)  # the same optimizer-state structure as the run
    state = create_state(model, tx_fn, sample, jax.random.PRNGKey(int(config.train.seed)))
    ckpt = Checkpointer(workdir, best_metric=config.train.best_metric if which == "best" else None,
                        best_mode=config.train.best_mode)
    try:
        if which == "latest" and step is None:  # the newest intact one, with a warning for the rest
            restored = ckpt.restore_latest(state)
            if restored is None:
                raise FileNotFoundError(f"no checkpoint in {ckpt.directory}: the run has not saved one yet.")
            state, _, notes = restored
            for note in notes:
                logging.warning("%s", note)
        else:
            state, _ = ckpt.restore(state, step=step, which=which)
    finally:
        ckpt.close()
    return config, model, task, state, data


def evaluate(workdir: str, split: str = "test", which: str = "latest",
             batch_size: Optional[int] = None, step: Optional[int] = None) -> dict:
    """Restores a run's checkpoint (the latest, the best, or the one at `step`)
    and reports its metrics on `split`."""
    config, model, task, state, data = restore_for_inference(workdir, which, step=step, split=split,
                                                             batch_size=batch_size)
    bs = data.batch_size  # the global batch the split was built with
    train_data = _split_data(config, config.data.train_split, bs, True,
                             int(config.train.seed))
    par = parallel.create("jit", model, task, input_fn=build_input_fn(config, train_data))
    parallel.check_batch_size(bs, jax.local_device_count(), "--batch_size")
    metrics = _evaluate(par, par.put_state(state), data, task)
    return _prefixed(split, metrics)
