"""cnnlab variables as orbax checkpoints: save, and restore from saves or training runs.

``save_variables`` writes ``{'params', 'batch_stats'}`` as one orbax
``StandardSave`` item. ``read_variables`` reads one back from any of:
a folder written by ``save_variables``; a run ``workdir`` of
``cnnlab.train.run`` (its latest ``checkpoints/<step>``); a ``checkpoints/<step>``
or ``best/<step>`` folder (its ``state`` item). Only ``params`` and
``batch_stats`` are kept, restored as plain arrays without a target (the
optimizer state of a run is not needed to reuse its weights).
``place_variables`` copies them into a model's variables by path, checking
every shape.
"""
from __future__ import annotations

import logging
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


def save_variables(variables: dict, directory: str) -> str:
    """Saves ``variables['params']`` and ``['batch_stats']`` as an orbax checkpoint in ``directory``."""
    path = os.path.abspath(directory)
    if os.path.exists(path):
        raise ValueError(f"{path} already exists; orbax will not overwrite it: pick a new folder.")
    tree = {"params": variables["params"], "batch_stats": variables.get("batch_stats", {}) or {}}
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, jax.tree.map(np.asarray, tree))
    checkpointer.wait_until_finished()
    checkpointer.close()
    return path


def _steps(folder: str) -> list[int]:
    return sorted(int(n) for n in os.listdir(folder) if n.isdigit() and os.path.isdir(os.path.join(folder, n)))


def checkpoint_item(path: str) -> str:
    """The orbax item folder holding params/batch_stats for a save, a step folder or a workdir."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"no checkpoint folder at {path!r}; pass a cnnlab run directory, its "
            "checkpoints/<step> folder, or a folder written by save_variables."
        )
    if os.path.isdir(os.path.join(path, "checkpoints")):  # a run workdir
        steps = _steps(os.path.join(path, "checkpoints"))
        if not steps:
            raise FileNotFoundError(f"{path}/checkpoints holds no finished checkpoint (no numeric step folder).")
        path = os.path.join(path, "checkpoints", str(steps[-1]))
    elif _steps(path) and not os.path.isdir(os.path.join(path, "state")):  # checkpoints/ or best/
        path = os.path.join(path, str(_steps(path)[-1]))
    if os.path.isdir(os.path.join(path, "state")):  # a step folder of the train loop
        return os.path.join(path, "state")
    if not any(name.startswith("_") and "METADATA" in name for name in os.listdir(path)):
        raise FileNotFoundError(
            f"{path} is not an orbax checkpoint (no _METADATA / _CHECKPOINT_METADATA); pass a run "
            "directory, checkpoints/<step>, or a folder written by save_variables."
        )
    return path


def _one_device_target(checkpointer, item):
    """The saved tree as arrays on this process's first device.

    Without a target orbax rebuilds each array's saved sharding, which names
    the devices of the run that wrote it: a checkpoint of 4 devices (or 2
    processes) would not load on 1 ("Topology mismatch").
    """
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    absl_log.setLevel(logging.ERROR)  # "Metadata file does not exist" for a step's sub-item is expected
    try:
        metadata = checkpointer.metadata(item)
    finally:
        absl_log.setLevel(level)
    tree = getattr(metadata, "item_metadata", metadata)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

    def abstract(leaf):
        if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
            return jax.ShapeDtypeStruct(tuple(leaf.shape), leaf.dtype, sharding=device)
        return leaf

    return jax.tree.map(abstract, dict(tree))


def read_variables(path: str) -> dict:
    """``{'params': ..., 'batch_stats': ...}`` (numpy arrays) of the checkpoint at ``path``."""
    item = checkpoint_item(path)
    checkpointer = ocp.StandardCheckpointer()
    try:
        restored = checkpointer.restore(item, _one_device_target(checkpointer, item))
    finally:
        checkpointer.close()
    if not isinstance(restored, dict) or "params" not in restored:
        raise ValueError(f"the checkpoint at {item} holds no 'params'; it was not written by cnnlab.")
    return jax.tree.map(np.asarray, {"params": restored["params"],
                                     "batch_stats": restored.get("batch_stats") or {}})


def _flatten(tree, prefix=()) -> dict:
    out = {}
    if hasattr(tree, "items"):
        for key, value in tree.items():
            out.update(_flatten(value, prefix + (str(key),)))
    elif tree is not None:
        out[prefix] = tree
    return out


def _nest(flat: dict) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def place_variables(target: dict, source: dict, *, where: str, skip_mismatch: bool = False) -> dict:
    """Copies every leaf of ``target`` (one collection's tree) from ``source`` by path.

    A leaf missing from the source, or of another shape, raises a ValueError
    naming it and both shapes (``skip_mismatch=True`` keeps the model's value
    for mismatched shapes instead). Source leaves the target lacks (an old
    classifier) are ignored with a logged note.
    """
    flat_target, flat_source = _flatten(target), _flatten(source)
    placed, skipped = {}, []
    for path, leaf in flat_target.items():
        name = "/".join(path)
        if path not in flat_source:
            raise ValueError(
                f"{where} has no {name} (the model's has shape {tuple(leaf.shape)}); "
                "the checkpoint is of another architecture, or pass prefix= for a sub-tree."
            )
        value = flat_source[path]
        if tuple(value.shape) != tuple(leaf.shape):
            if skip_mismatch:
                skipped.append(name)
                placed[path] = leaf
                continue
            raise ValueError(
                f"{name} has shape {tuple(value.shape)} in {where} but the model expects "
                f"{tuple(leaf.shape)}; build the model to match or pass skip_mismatch=True."
            )
        placed[path] = np.asarray(value, dtype=leaf.dtype)
    extra = sorted("/".join(p) for p in set(flat_source) - set(flat_target))
    if extra:
        log.info("%s: %d entries the model lacks were ignored (%s ...).", where, len(extra), ", ".join(extra[:4]))
    if skipped:
        log.warning("skip_mismatch: kept the model's values for %s.", ", ".join(skipped))
    return _nest(placed)
