"""Orbax checkpoints of the train state: the latest N for resuming, the best by a metric.

Saves are asynchronous in orbax; `close()` waits for them, so the loop calls
it on every exit path (normal end, early stop, NaN stop, SIGTERM/SIGINT).

Every process of a multi-host run takes part in every save and restore (the
state is one global, replicated array per leaf, written once). A checkpoint
carries a CRC32 of its state in its JSON `meta`, written in the same atomic
step folder, so a truncated or corrupted file is found on restore whatever
part of orbax's format it hits. `restore_latest` falls back from a damaged
or unfinished newest checkpoint to the newest intact one, and refuses to
start from step 0 when checkpoints exist but none is intact.
"""
import os
import re
import shutil
import zlib
from typing import Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

from cnnlab.train import distributed
from cnnlab.train.state import TrainState

_FIELDS = ("step", "params", "batch_stats", "opt_state", "rng")
_TMP = re.compile(r"^(\d+)\.orbax-checkpoint-tmp")
_DAMAGED = re.compile(r"^(\d+)\.damaged$")


class CheckpointError(RuntimeError):
    """No checkpoint of a run can be restored; the message says why and how to start over."""


def _to_tree(state: TrainState) -> dict:
    fields = _FIELDS + (("ema_params", "ema_batch_stats") if state.has_ema else ())
    return {f: getattr(state, f) for f in fields}


def _local(x):
    """A host copy of one leaf; a replicated global array is read from this process's copy."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_data(0)
    x = np.asarray(x)
    return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def state_digest(tree) -> int:
    """CRC32 of every leaf's bytes, in tree order: equal states, equal digests."""
    crc = 0
    for leaf in jax.tree.leaves(tree):
        crc = zlib.crc32(np.ascontiguousarray(_local(leaf)).tobytes(), crc)
    return crc


def _all_agree(flag: bool) -> bool:
    """True when `flag` is True on every process (a collective: all processes must call it)."""
    return all(distributed.gather(int(bool(flag))))


def _same_on_all(value: int, what: str, directory: str) -> None:
    seen = distributed.gather(int(value))
    if len(set(seen)) > 1:
        raise CheckpointError(
            f"the processes see different {what} in {directory} ({', '.join(f'process {i}: {v}' for i, v in enumerate(seen))}); "
            f"--workdir must be one folder that every host shares (NFS, GCS, ...).")


def _brief(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


class Checkpointer:
    """`workdir/checkpoints` (keep `keep` latest) and `workdir/best` (best by `best_metric`).

    `training=True` (the train loop) removes unfinished temporary folders and
    moves damaged steps aside to `<step>.damaged`; readers (evaluate,
    predict) leave the folder as it is, since a run may still be writing.
    """

    def __init__(self, workdir: str, keep: int = 2, best_metric: Optional[str] = None,
                 best_mode: str = "max", training: bool = False):
        if best_mode not in ("max", "min"):
            raise ValueError(f"config.train.best_mode={best_mode!r}; use 'max' or 'min'.")
        path = os.path.abspath(workdir)
        self.directory = os.path.join(path, "checkpoints")
        self.training = training
        self.unfinished = self._matching(_TMP)
        self.latest = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max(int(keep), 1), create=True, cleanup_tmp_directories=training,
                # Two managers save at the same step; distinct barrier names keep
                # their multi-process barriers apart.
                multiprocessing_options=ocp.options.MultiprocessingOptions(
                    barrier_sync_key_prefix="latest")))
        self.best_metric = best_metric
        self.best = None
        if best_metric:
            self.best = ocp.CheckpointManager(
                os.path.join(path, "best"),
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=1, create=True, best_fn=lambda m: m[best_metric],
                    best_mode=best_mode, keep_checkpoints_without_metrics=False,
                    cleanup_tmp_directories=training,
                    multiprocessing_options=ocp.options.MultiprocessingOptions(
                        barrier_sync_key_prefix="best")))

    def _matching(self, pattern) -> list:
        if not os.path.isdir(self.directory):
            return []
        return sorted({int(m.group(1)) for m in map(pattern.match, os.listdir(self.directory)) if m})

    def latest_step(self) -> Optional[int]:
        return self.latest.latest_step()

    def save(self, step: int, state: TrainState, meta: dict) -> None:
        """Saves the state and a JSON `meta` (epoch, early stopping, ...) at `step`."""
        if step in self.latest.all_steps():
            return
        tree = _to_tree(state)
        meta = dict(meta, state_crc32=state_digest(tree), num_devices=jax.device_count(),
                    num_processes=jax.process_count())
        self.latest.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)))

    def save_best(self, step: int, state: TrainState, metrics: dict) -> None:
        """Offers the state to the best-checkpoint manager with its eval metrics."""
        if self.best is None or self.best_metric not in metrics:
            return
        if step in self.best.all_steps():
            return
        self.best.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_to_tree(state))), metrics=metrics)

    def restore(self, target: TrainState, step: Optional[int] = None, which: str = "latest",
                sharding=None):
        """Restores into the structure of `target`; returns (state, meta).

        Arrays are placed with `sharding` (one for every leaf, e.g. replicated
        over a mesh), else with the shardings of `target`'s arrays: a
        checkpoint written by any number of devices or processes loads onto
        any other. A `latest` checkpoint is checked against its CRC32.
        """
        manager = self.latest if which == "latest" else self.best
        if manager is None:
            raise FileNotFoundError("no best checkpoint is kept: set config.train.best_metric.")
        if step is None:
            step = manager.best_step() if which == "best" else manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no {which} checkpoint in {manager.directory}.")

        def abstract(x):
            spec = ocp.utils.to_shape_dtype_struct(x)
            return spec if sharding is None else jax.ShapeDtypeStruct(spec.shape, spec.dtype, sharding=sharding)

        items = {"state": ocp.args.StandardRestore(jax.tree.map(abstract, _to_tree(target)))}
        if which == "latest":
            items["meta"] = ocp.args.JsonRestore()
        restored = manager.restore(step, args=ocp.args.Composite(**items))
        meta = dict(restored["meta"] or {}) if which == "latest" else {}
        if "state_crc32" in meta and state_digest(restored["state"]) != meta["state_crc32"]:
            raise ValueError(f"the state's CRC32 differs from the one saved with step {step}: "
                             "a file of the checkpoint was changed or truncated after it was written")
        return target.replace(**restored["state"]), meta

    def restore_latest(self, target: TrainState, sharding=None):
        """(state, meta, notes) of the newest intact checkpoint, or None when there is none.

        A damaged step (unreadable, or failing its CRC32 on any process) is
        skipped with a note naming it; in a training run it is moved aside to
        `<step>.damaged` so the run can write that step again. Raises
        CheckpointError when checkpoints exist but none can be restored.
        """
        notes = [f"checkpoint step {s} in {self.directory} was left unfinished (the run stopped "
                 "while writing it); it is ignored." for s in self.unfinished]
        steps = sorted(self.latest.all_steps(), reverse=True)
        set_aside = [s for s in self._matching(_DAMAGED) if s not in steps]  # by an earlier launch
        _same_on_all(steps[0] if steps else -1, "checkpoints", self.directory)
        failures = []
        for step in steps:
            error = None
            try:
                state, meta = self.restore(target, step=step, sharding=sharding)
            except Exception as e:  # any damage: truncated, corrupted, unreadable metadata
                error = e
            if _all_agree(error is None):
                if failures:
                    notes.append(f"resuming from step {step}, the newest intact checkpoint.")
                return state, meta, notes
            reason = _brief(error) if error is not None else "damaged on another process"
            failures.append(f"step {step} ({reason})")
            notes.append(f"checkpoint step {step} in {self.directory} is damaged and was skipped: "
                         f"{reason}")
            self._set_aside(step)
        if failures or self.unfinished or set_aside:
            found = "; ".join(failures + [f"step {s} (unfinished)" for s in self.unfinished]
                              + [f"step {s} (damaged, in {s}.damaged)" for s in set_aside])
            raise CheckpointError(
                f"no intact checkpoint is left in {self.directory}: {found}. To start over from "
                f"step 0, delete {self.directory} (or train into a new --workdir); to keep the "
                "files, move them elsewhere first.")
        return None

    def _set_aside(self, step: int) -> None:
        """Renames a damaged step folder to `<step>.damaged` (training runs, process 0)."""
        if not self.training:
            return
        self.latest.wait_until_finished()
        if jax.process_index() == 0:
            src = os.path.join(self.directory, str(step))
            dst = src + ".damaged"
            if os.path.exists(dst):
                shutil.rmtree(dst)
            if os.path.exists(src):
                os.rename(src, dst)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices(f"cnnlab_set_aside_{step}")
        self.latest.reload()

    def wait(self) -> None:
        self.latest.wait_until_finished()
        if self.best is not None:
            self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        if self.best is not None:
            self.best.close()
