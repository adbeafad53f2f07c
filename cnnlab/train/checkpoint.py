"""Orbax checkpoints of the train state: the latest N for resuming, the best by a metric.

Saves are asynchronous in orbax; `close()` waits for them, so the loop calls
it on every exit path (normal end, early stop, NaN stop, SIGTERM/SIGINT).
"""
import os
from typing import Optional

import jax
import orbax.checkpoint as ocp

from cnnlab.train.state import TrainState

_FIELDS = ("step", "params", "batch_stats", "opt_state", "rng")


def _to_tree(state: TrainState) -> dict:
    return {f: getattr(state, f) for f in _FIELDS}


class Checkpointer:
    """`workdir/checkpoints` (keep `keep` latest) and `workdir/best` (best by `best_metric`)."""

    def __init__(self, workdir: str, keep: int = 2, best_metric: Optional[str] = None,
                 best_mode: str = "max"):
        if best_mode not in ("max", "min"):
            raise ValueError(f"config.train.best_mode={best_mode!r}; use 'max' or 'min'.")
        path = os.path.abspath(workdir)
        self.latest = ocp.CheckpointManager(
            os.path.join(path, "checkpoints"),
            options=ocp.CheckpointManagerOptions(max_to_keep=max(int(keep), 1), create=True))
        self.best_metric = best_metric
        self.best = None
        if best_metric:
            self.best = ocp.CheckpointManager(
                os.path.join(path, "best"),
                options=ocp.CheckpointManagerOptions(
                    max_to_keep=1, create=True, best_fn=lambda m: m[best_metric],
                    best_mode=best_mode, keep_checkpoints_without_metrics=False))

    def latest_step(self) -> Optional[int]:
        return self.latest.latest_step()

    def save(self, step: int, state: TrainState, meta: dict) -> None:
        """Saves the state and a JSON `meta` (epoch, early stopping, ...) at `step`."""
        if step in self.latest.all_steps():
            return
        self.latest.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_to_tree(state)), meta=ocp.args.JsonSave(meta)))

    def save_best(self, step: int, state: TrainState, metrics: dict) -> None:
        """Offers the state to the best-checkpoint manager with its eval metrics."""
        if self.best is None or self.best_metric not in metrics:
            return
        if step in self.best.all_steps():
            return
        self.best.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_to_tree(state))), metrics=metrics)

    def restore(self, target: TrainState, step: Optional[int] = None, which: str = "latest"):
        """Restores into the structure (and shardings) of `target`; returns (state, meta)."""
        manager = self.latest if which == "latest" else self.best
        if manager is None:
            raise FileNotFoundError("no best checkpoint is kept: set config.train.best_metric.")
        if step is None:
            step = manager.best_step() if which == "best" else manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no {which} checkpoint in {manager.directory}.")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_tree(target))
        items = {"state": ocp.args.StandardRestore(abstract)}
        if which == "latest":
            items["meta"] = ocp.args.JsonRestore()
        restored = manager.restore(step, args=ocp.args.Composite(**items))
        state = target.replace(**restored["state"])
        meta = restored["meta"] if which == "latest" else {}
        return state, meta

    def wait(self) -> None:
        self.latest.wait_until_finished()
        if self.best is not None:
            self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        if self.best is not None:
            self.best.close()
