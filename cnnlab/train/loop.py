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
import dataclasses
import json
import logging
import os
import signal
import time
from typing import Any, Callable, Optional

import jax
import ml_collections
import numpy as np

from cnnlab import data as data_lib
from cnnlab import models, tasks
from cnnlab.train import config_check, defaults, distributed, parallel
from cnnlab.train import inputs as inputs_lib
from cnnlab.train import optim as optim_lib
from cnnlab.train.checkpoint import Checkpointer
from cnnlab.train.logs import METRICS_FILE, Console, MetricsLog, format_metrics, writers
from cnnlab.train.optim import (make_optimizer, make_phased_optimizer, make_schedule,
                                phase_steps, phased_schedule)
from cnnlab.train.profiling import StepProfiler
from cnnlab.train.state import TrainState, create_state
from cnnlab.train.step import STEP_STATS, StepOptions


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


def batch_augment(config, task):
    """The on-device augmentation of `config.data.augment` as fn(batch, rng) -> batch.

    Tasks whose targets move with the pixels (boxes, masks) provide it
    (`task.make_augment`); otherwise the images-only augmentation of
    `cnnlab.data.augment` (with RandAugment) is applied to `batch['image']`,
    then Mixup/CutMix, which adds the mixed targets `batch['target']`.
    """
    cfg = config.data.get("augment", None)
    joint = task.make_augment(cfg)
    if joint is not None:
        return joint
    settings = data_lib.augment.parse(cfg)
    images_fn = data_lib.augment.build(settings)
    mix_fn = data_lib.augment.build_mix(settings, getattr(task, "num_classes", 0))
    if mix_fn is not None and config.task.name != "classification":
        raise TrainingError(
            f"config.data.augment mixup_alpha/cutmix_alpha mix the labels of classification; "
            f"task {config.task.name!r} takes no mixed targets: set both to 0.")

    def augment(batch, rng):
        if mix_fn is None:
            batch["image"] = images_fn(batch["image"], rng)
            return batch
        image_rng, mix_rng = jax.random.split(rng)
        batch["image"] = images_fn(batch["image"], image_rng)
        return mix_fn(batch, mix_rng)

    return augment


def optimizer_fn(config, steps_per_epoch: int):
    """(total steps, fn(params) -> optax transformation, learning-rate schedule)."""
    tc = config.train
    phases = [dict(p) for p in (tc.phases or ())]
    if phases:
        total = sum(phase_steps(phases, steps_per_epoch))
        return (total, lambda p: make_phased_optimizer(config.optim, phases, p, steps_per_epoch),
                phased_schedule(config.optim, phases, steps_per_epoch))
    total = int(tc.steps or 0) or int(tc.epochs) * steps_per_epoch
    return total, lambda p: make_optimizer(config.optim, p, total), make_schedule(
        optim_lib.complete(config.optim), total)


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
    state = state.replace(params=variables["params"],
                          batch_stats=variables.get("batch_stats", state.batch_stats))
    return state.with_ema() if state.has_ema else state


def _split_data(config, split, batch_size, train, seed):
    return data_lib.build(config.data, split=split, batch_size=batch_size, train=train, seed=seed,
                          process_index=jax.process_index(), process_count=jax.process_count())


def _prefixed(prefix, metrics):
    return {f"{prefix}/{k}": v for k, v in metrics.items()}


def _check_workdir(workdir: str) -> None:
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise TrainingError(f"--workdir={workdir} is a file, not a directory: give a new or "
                            f"existing run directory (checkpoints, logs and figures go there).")


# ---------------------------------------------------------------------------
# setup: what training, evaluation and restoring share.

@dataclasses.dataclass
class Experiment:
    """Everything a config describes, built once: data, model, task, state, optimizer, inputs."""

    config: ml_collections.ConfigDict
    model: Any
    task: Any
    state: TrainState  # freshly initialised, on the host
    data: Any  # the training split (training) or the split asked for (inference)
    eval_data: Any
    input_fn: Optional[Callable]
    steps_per_epoch: int
    total_steps: int
    schedule: Callable


def setup(config, workdir: Optional[str] = None, *, training: bool = True,
          split: Optional[str] = None, batch_size: Optional[int] = None) -> Experiment:
    """Builds the experiment of `config` for training (the training and eval splits) or, with
    `training=False`, for inference on `split` batched by `batch_size` (defaults: the run's
    test split, else its eval split; its eval batch size)."""
    config_check.validate(config)
    config = defaults.complete(config)
    tc = config.train
    seed = int(tc.seed)
    if training:
        data = _split_data(config, config.data.train_split, int(tc.batch_size), True, seed)
        eval_batch = int(tc.eval_batch_size or tc.batch_size)
        split = config.data.eval_split
        eval_data = _split_data(config, split, eval_batch, False, seed) if split else None
    else:
        split = split or config.data.test_split or config.data.eval_split or "test"
        data = _split_data(config, split, int(batch_size or tc.eval_batch_size or tc.batch_size),
                           False, seed)
        eval_data = None
    info = data.info
    model, task = build_model_and_task(config, info)
    models.check_input_size(model, tuple(info.image_shape))
    steps_per_epoch = data.steps_per_epoch if training else 1
    total_steps, tx_fn, schedule = optimizer_fn(config, steps_per_epoch)
    sample = np.zeros((1,) + tuple(info.image_shape), np.float32)
    state = create_state(model, tx_fn, sample, jax.random.PRNGKey(seed), ema=tc.ema_decay > 0)
    train_split = lambda: (data if training else _split_data(
        config, config.data.train_split, data.batch_size, True, seed))
    stats = inputs_lib.normalization_stats(config, workdir, train_split,
                                           save=training and jax.process_index() == 0)
    return Experiment(config, model, task, state, data, eval_data,
                      inputs_lib.build_input_fn(config, stats), steps_per_epoch, total_steps, schedule)


# ---------------------------------------------------------------------------
# The parts of a run.

def due(step: int, every: int, total: int) -> bool:
    """The one rule for periodic actions (log, evaluate, checkpoint): every `every` steps and at
    the last step."""
    return step % every == 0 or step == total


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


def _evaluate(par, state, dataset, task) -> dict:
    """Metric values of `task` over a whole split (every example once).

    Tasks whose metrics decompose into sums (accuracy, confusion matrices)
    accumulate on device; tasks with `host_metrics` (detection mAP) fold each
    batch's predictions into a small host accumulator and score it at the end.
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


def _evaluate_split(par, state, dataset, task, prefix) -> dict:
    """`prefix/...` metrics of the weights, and `prefix_ema/...` of the EMA weights when kept."""
    out = _prefixed(prefix, _evaluate(par, state, dataset, task))
    if state.has_ema:
        out.update(_prefixed(f"{prefix}_ema", _evaluate(par, state.ema_view(), dataset, task)))
    return out


class _Run:
    """The side of a run that outlives steps: checkpoints, logs, console, liveness."""

    def __init__(self, exp: Experiment, workdir: str, verbose: bool, peer_timeout_s: float):
        tc = exp.config.train
        self.exp, self.workdir = exp, workdir
        self.main = jax.process_index() == 0
        self.ckpt = Checkpointer(workdir, keep=tc.keep_checkpoints, best_metric=tc.best_metric,
                                 best_mode=tc.best_mode, training=True)
        self.log = writers(workdir, tensorboard=bool(tc.tensorboard), enabled=self.main)
        self.console = Console(exp.total_steps, enabled=verbose and self.main)
        self.liveness = distributed.Liveness(distributed.exit_on_lost(workdir, peer_timeout_s),
                                             stall_s=peer_timeout_s)
        self.last_good = None
        self.early = None
        self.t_start = time.time()
        self.fetched = (0, self.t_start)  # (step, time) of the last fetch of train sums

    def write_config(self) -> None:
        if self.main:
            with open(os.path.join(self.workdir, "config.json"), "w") as f:
                json.dump(self.exp.config.to_dict(), f, indent=2, sort_keys=True)

    def resume_or_init(self, state, par):
        """The newest intact checkpoint, or the fresh state with the config's initial weights."""
        restored = self.ckpt.restore_latest(state, sharding=par.state_sharding)
        meta = {}
        if restored is not None:
            state, meta, notes = restored
            for note in notes:
                self.console.line(f"warning: {note}")
            written_by = meta.get("num_devices")
            if written_by and written_by != jax.device_count():
                self.console.line(
                    f"the checkpoint was written by {written_by} devices; resuming on "
                    f"{jax.device_count()} with the same global batch of "
                    f"{self.exp.config.train.batch_size}.")
            self.console.line(f"resuming from step {int(state.step)} in {self.workdir}")
        else:
            state = _load_init_weights(self.exp.config, state, self.console)
        self.log.truncate_after(int(state.step))  # a replayed stretch is not logged twice
        self.console.start(int(state.step))
        self.early = _EarlyStopping(self.exp.config.train.early_stopping, meta)
        self.last_good = self.ckpt.latest_step()
        self.fetched = (int(state.step), time.time())
        return par.put_state(state)

    def train_metrics(self, par, acc, step) -> dict:
        """`train/...` metrics since the last call, after checking the loss stayed finite:
        every save is preceded by this check."""
        host = par.fetch(acc)
        last_step, last_time = self.fetched
        now = time.time()
        self.fetched = (step, now)
        if host.pop("nonfinite", 0.0) > 0:
            self.ckpt.wait()
            where = (f"the last good checkpoint (step {self.last_good}) is kept in "
                     f"{os.path.join(self.workdir, 'checkpoints')}" if self.last_good is not None
                     else "no checkpoint had been written yet")
            raise NonFiniteLoss(
                f"the training loss became NaN/Inf before step {step}; {where}. "
                f"Lower config.optim.lr, set config.optim.clip_norm, or check the input data.")
        steps = max(step - last_step, 1)
        record = {k: host.pop(k) / steps for k in STEP_STATS}
        record["lr"] = float(self.exp.schedule(step - 1))
        record["step_time_s"] = (now - last_time) / steps
        record["images_per_s"] = steps * int(self.exp.config.train.batch_size) / max(now - last_time, 1e-9)
        return _prefixed("train", {**self.exp.task.finalize(host), **record})

    def write(self, step, record) -> None:
        record = dict(epoch=step / self.exp.steps_per_epoch, time=time.time() - self.t_start,
                      **record)
        self.log.write_scalars(step, record)
        shown = {k: v for k, v in record.items() if "/" in k and not k.endswith(
            ("_norm", "step_time_s", "images_per_s"))}
        self.console.progress(step, step / self.exp.steps_per_epoch, shown,
                              int(self.exp.config.train.batch_size))

    def save(self, step, state, par) -> None:
        self.ckpt.save(step, par.get_state(state), dict(self.early.meta(), step=step))
        self.last_good = step

    def save_best(self, step, state, par, record) -> None:
        self.ckpt.save_best(step, par.get_state(state), record)

    def finish_figures(self) -> None:
        if self.main and self.exp.config.train.curves:
            from cnnlab.viz.curves import plot_training_curves
            plot_training_curves(os.path.join(self.workdir, METRICS_FILE),
                                 os.path.join(self.workdir, "curves.png"))

    def close(self, peer_lost: bool) -> None:
        self.liveness.stop()
        self.log.close()
        self.console.close()
        if not peer_lost:
            self.ckpt.wait()
            self.ckpt.close()


def run(config: ml_collections.ConfigDict, workdir: str, *, verbose: bool = True,
        peer_timeout_s: float = distributed.STALL_S) -> dict:
    """Trains (or resumes) the experiment `config` in `workdir`; returns final metrics.

    On several processes, one that shows no sign of life for `peer_timeout_s`
    seconds ends the others with a message naming it (see `distributed`).

    Returns a dict with the last evaluation metrics (`val/...`, `test/...`),
    `step`, and `status` ('finished', 'early_stopped' or 'interrupted').
    """
    _check_workdir(workdir)
    os.makedirs(workdir, exist_ok=True)
    exp = setup(config, workdir)
    tc = exp.config.train
    par = parallel.create(tc.parallel, exp.model, exp.task, batch_augment(exp.config, exp.task),
                          exp.input_fn, StepOptions.from_config(tc))
    _check_batches(exp)
    session = _Run(exp, workdir, verbose, peer_timeout_s)
    session.write_config()
    session.liveness.start()
    peer_lost = False
    try:
        state = session.resume_or_init(exp.state, par)
        state, result = _train(exp, session, par, state)
        if result["status"] != "interrupted":
            result.update(_test(exp, session, par, state))
            session.finish_figures()
        return result
    except Exception as e:
        if distributed.is_peer_failure(e):
            peer_lost = True  # the peers' half of any save can never come: do not wait for it
            raise distributed.peer_lost_error(e, workdir) from e
        raise
    finally:
        session.close(peer_lost)


def _check_batches(exp) -> None:
    """The global batch splits over the devices, and into the micro-batches of accumulation."""
    tc = exp.config.train
    n = jax.device_count()
    parallel.check_batch_size(int(tc.batch_size), n)
    parallel.check_batch_size(int(tc.eval_batch_size or tc.batch_size), n,
                              "config.train.eval_batch_size")
    k = int(tc.grad_accum_steps)
    if k < 1 or int(tc.batch_size) % (k * n):
        raise TrainingError(
            f"config.train.grad_accum_steps={k} must be >= 1 and split config.train.batch_size="
            f"{tc.batch_size} into {k} micro-batches that each split evenly over {n} devices: "
            f"use a batch size that is a multiple of {max(k, 1) * n}.")


def _train(exp, session, par, state):
    """The step loop: train, and at due steps log, evaluate, save; stop on a signal or early."""
    tc = exp.config.train
    total = exp.total_steps
    every = {"log": int(tc.log_every or min(exp.steps_per_epoch, 100)),
             "eval": int(tc.eval_every or exp.steps_per_epoch),
             "checkpoint": int(tc.checkpoint_every or exp.steps_per_epoch)}
    profiler = StepProfiler(session.workdir, int(tc.profile_start), int(tc.profile),
                            enabled=session.main)
    step = session.fetched[0]
    result = {"status": "finished"}
    acc = None
    with _stop_signals() as stop:
        for batch in _batches(exp.data, step, total):
            state, sums = par.train_step(state, par.put_batch(batch))
            acc = sums if acc is None else par.accumulate(acc, sums)
            step += 1
            trace = profiler.step(step, state)
            if trace:
                session.console.line(f"profile of steps {int(tc.profile_start) + 1}.."
                                     f"{step} written to {trace}")
            signal_name = _agreed_stop(stop["signal"], step)
            now = {action: due(step, n, total) for action, n in every.items()}
            record = {}
            if any(now.values()) or signal_name:  # the finiteness check before any save
                record.update(session.train_metrics(par, acc, step))
                acc = None
            if now["eval"]:
                if exp.eval_data is not None:
                    record.update(_evaluate_split(par, state, exp.eval_data, exp.task, "val"))
                session.save_best(step, state, par, record)
                if session.early.update(record):
                    result["status"] = "early_stopped"
            if record:
                session.write(step, record)
                result.update(record)
            if now["checkpoint"] or signal_name or result["status"] == "early_stopped":
                session.save(step, state, par)
            if signal_name:
                result["status"] = "interrupted"
                session.console.line(f"{signal_name} received: saved a checkpoint at step "
                                     f"{step}; rerun the same command to resume.")
                break
            if result["status"] == "early_stopped":
                e = session.early
                session.console.line(f"early stopping at step {step}: {e.metric} did not improve "
                                     f"for {e.patience} evaluations (best {e.best}).")
                break
    profiler.stop(state)
    result["step"] = step
    return state, result


def _batches(dataset, step: int, total: int):
    """The training batches from `step` on, epoch after epoch, until `total` steps."""
    while step < total:
        epoch, start = divmod(step, dataset.steps_per_epoch)
        for batch in dataset.epoch(epoch, start_step=start):
            yield batch
            step += 1
            if step >= total:
                return


def _test(exp, session, par, state) -> dict:
    """The test split's metrics, once at the end of training."""
    split = exp.config.data.test_split
    if not split:
        return {}
    tc = exp.config.train
    data = _split_data(exp.config, split, int(tc.eval_batch_size or tc.batch_size), False,
                       int(tc.seed))
    test = _evaluate_split(par, state, data, exp.task, "test")
    step = session.fetched[0]
    session.log.write_scalars(step, dict(epoch=step / exp.steps_per_epoch, **test))
    session.console.line(f"test: {format_metrics(test)}")
    return test


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a run was started with (its `config.json`)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} does not exist: {workdir} is not a cnnlab run directory "
            f"(train into it first with scripts/train.py --workdir={workdir}).")
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


def restore_experiment(workdir: str, which: str = "latest", config=None,
                       step: Optional[int] = None, split: Optional[str] = None,
                       batch_size: Optional[int] = None, ema: bool = False):
    """(experiment, state) of a finished or running run, on one device: `setup` for inference
    on `split` (its `input_fn` the run's own, with its saved normalisation statistics) and the
    restored checkpoint (the latest intact, the best, or the one at `step`). With `ema`, the
    state's weights are the run's EMA weights (config.train.ema_decay)."""
    exp = setup(config or load_config(workdir), workdir, training=False, split=split,
                batch_size=batch_size)
    state = _restore(workdir, exp, which, step)
    if ema:
        if not state.has_ema:
            raise ValueError(f"the run in {workdir} kept no EMA of its weights: it was trained "
                             f"with config.train.ema_decay=0; drop --ema.")
        state = state.ema_view()
    return exp, state


def restore_for_inference(workdir: str, which: str = "latest", config=None,
                          step: Optional[int] = None, split: Optional[str] = None,
                          batch_size: Optional[int] = None, ema: bool = False):
    """(config, model, task, state, dataset) of a finished or running run, on one device.

    `dataset` is `split` (default: the run's test split, else its eval split)
    batched by `batch_size` (default: the run's eval batch size); see
    `restore_experiment`.
    """
    exp, state = restore_experiment(workdir, which, config, step, split, batch_size, ema)
    return exp.config, exp.model, exp.task, state, exp.data


def _restore(workdir, exp, which, step):
    config = exp.config
    ckpt = Checkpointer(workdir, best_metric=config.train.best_metric if which == "best" else None,
                        best_mode=config.train.best_mode)
    try:
        if which == "latest" and step is None:  # the newest intact one, with a warning for the rest
            restored = ckpt.restore_latest(exp.state)
            if restored is None:
                raise FileNotFoundError(f"no checkpoint in {ckpt.directory}: the run has not saved one yet.")
            state, _, notes = restored
            for note in notes:
                logging.warning("%s", note)
        else:
            state, _ = ckpt.restore(exp.state, step=step, which=which)
    finally:
        ckpt.close()
    return state


def evaluate(workdir: str, split: str = "test", which: str = "latest",
             batch_size: Optional[int] = None, step: Optional[int] = None,
             ema: bool = False) -> dict:
    """Restores a run's checkpoint (the latest, the best, or the one at `step`; its EMA
    weights with `ema`) and reports its metrics on `split`."""
    exp, state = restore_experiment(workdir, which, step=step, split=split,
                                    batch_size=batch_size, ema=ema)
    par = parallel.create("jit", exp.model, exp.task, input_fn=exp.input_fn)
    parallel.check_batch_size(exp.data.batch_size, jax.local_device_count(), "--batch_size")
    return _prefixed(split, _evaluate(par, par.put_state(state), exp.data, exp.task))
