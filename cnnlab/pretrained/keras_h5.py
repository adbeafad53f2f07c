"""Keras weights-only HDF5 files: read both layouts, map onto cnnlab variables, write back.

Layouts read (``read_keras_h5``):

- Keras 2 / Keras 1 release files (``vgg16_weights_tf_dim_ordering_tf_kernels.h5``,
  ...): root attribute ``layer_names`` (byte strings), one group per layer with
  attribute ``weight_names`` (byte strings such as ``block1_conv1_W_1:0`` or
  ``block1_conv1/kernel:0``) and one dataset per weight under that name.
- Keras 3 legacy files (``keras.src.legacy.saving.legacy_h5_format.
  save_weights_to_hdf5_group``): the same attributes; weight names are
  variable paths (``block1_conv1/kernel``), so datasets sit in a nested group;
  attributes too long for one HDF5 header are split into ``layer_names0``,
  ``layer_names1``, ...; a ``top_level_model_weights`` group is not a layer.
- Whole-model files (``model.save('x.h5')``) keep the same under ``model_weights``.

``map_keras_weights`` places every weight of such a file into a cnnlab
variables tree through the name tables of ``cnnlab.pretrained.name_maps``;
``write_keras_h5`` writes cnnlab variables in the Keras 3 legacy layout, in
Keras' layer order, so ``keras_model.load_weights(path)`` reads them.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import os

import h5py
import numpy as np

from cnnlab.pretrained import name_maps
from cnnlab.pretrained.name_maps import LayerMap

log = logging.getLogger(__name__)


@dataclasses.dataclass
class KerasLayerWeights:
    """One layer of a Keras file: its name, weight names and arrays (file order)."""

    name: str
    weight_names: list[str]
    arrays: list[np.ndarray]


def _decode(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _read_name_list(group, name: str) -> list[str]:
    """An attribute list, also when Keras split it into ``name0``, ``name1``, ..."""
    if name in group.attrs:
        return [_decode(v) for v in np.atleast_1d(group.attrs[name])]
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        values += [_decode(v) for v in np.atleast_1d(group.attrs[f"{name}{chunk}"])]
        chunk += 1
    return values


def read_keras_h5(path: str) -> list[KerasLayerWeights]:
    """The layers with weights of a Keras weights file, in the file's layer order."""
    if not os.path.isfile(path):
        raise FileNotFoundError(missing_file_message(path))
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 file; Keras weights files end in .h5.")
    with h5py.File(path, "r") as f:
        root = f
        if not _read_name_list(f, "layer_names") and "model_weights" in f:
            root = f["model_weights"]
        layer_names = _read_name_list(root, "layer_names")
        if not layer_names:
            raise ValueError(
                f"{path} has no 'layer_names' attribute: it is not a Keras weights file "
                "(write one with model.save_weights('x.weights.h5') in Keras 2 or "
                "legacy_h5_format.save_weights_to_hdf5_group in Keras 3)."
            )
        layers = []
        for name in layer_names:
            if name not in root:
                raise ValueError(f"{path} lists layer {name!r} in layer_names but has no group for it.")
            group = root[name]
            weight_names = _read_name_list(group, "weight_names")
            if not weight_names:
                continue
            arrays = []
            for weight in weight_names:
                if weight not in group:
                    raise ValueError(f"{path}: layer {name!r} lists weight {weight!r} but stores no such dataset.")
                arrays.append(np.asarray(group[weight]))
            layers.append(KerasLayerWeights(name, weight_names, arrays))
    return layers


def missing_file_message(path: str) -> str:
    """What to do when a weights file is not where the user said."""
    files = ", ".join(sorted(set(name_maps.KERAS_FILE_NAMES.values())))
    return (
        f"no weights file at {path!r}. Pass a Keras .h5 file (the release files are named "
        f"{files}, each also as *_notop.h5; Keras caches them in ~/.keras/models/ after "
        "keras.applications.<Model>(weights='imagenet')) or a cnnlab run directory / "
        "orbax checkpoint."
    )


def _resolve_layers(layers: list[KerasLayerWeights], table: list[LayerMap], model_name: str):
    """Pairs each file layer with its table entry: by name, legacy alias, or auto-name ordinal."""
    by_name = {entry.keras_name: entry for entry in table}
    auto_bases = sorted({entry.auto[0] for entry in table if entry.auto}, key=len, reverse=True)
    by_auto = {entry.auto: entry for entry in table if entry.auto}
    seen_auto = collections.Counter()
    pairs = []
    for layer in layers:
        auto = name_maps.parse_auto_name(layer.name, auto_bases)
        if auto is not None:
            base = auto[0]
            entry = by_auto.get((base, seen_auto[base]))
            seen_auto[base] += 1
        else:
            entry = by_name.get(layer.name) or by_name.get(name_maps.legacy_alias(layer.name) or "")
        if entry is None:
            raise ValueError(
                f"layer {layer.name!r} of the weights file (weights "
                f"{[tuple(a.shape) for a in layer.arrays]}) has no counterpart in cnnlab "
                f"{model_name}; is this a {model_name} file? The {model_name} layers are "
                f"{', '.join(e.keras_name for e in table[:4])}, ..., {table[-1].keras_name}."
            )
        pairs.append((layer, entry))
    return pairs


def _get_path(tree, path):
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set_path(tree: dict, path, value) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def _ordered_arrays(layer: KerasLayerWeights, entry: LayerMap, where: str) -> list[np.ndarray]:
    """The layer's arrays in slot order (weight names decide when they are recognisable)."""
    expected = len(entry.slots)
    if len(layer.arrays) != expected:
        raise ValueError(
            f"layer {layer.name!r} has {len(layer.arrays)} weights "
            f"{[tuple(a.shape) for a in layer.arrays]} in {where}, but cnnlab's {entry.kind} "
            f"layer {'/'.join(entry.path)} has {expected} ({', '.join(entry.weight_names)})."
        )
    order = name_maps.weight_slot_order(entry.kind, layer.weight_names, layer.name)
    if order is None or sorted(order) != list(range(expected)):
        return list(layer.arrays)
    arrays = [None] * expected
    for slot, array in zip(order, layer.arrays):
        arrays[slot] = array
    return arrays


def map_keras_weights(params: dict, batch_stats: dict, layers: list[KerasLayerWeights],
                      model_name: str, *, where: str, skip_mismatch: bool = False,
                      table: list[LayerMap] | None = None) -> tuple[dict, dict]:
    """Places every weight of ``layers`` into (copies of) ``params`` and ``batch_stats``.

    Top layers (fc1, fc2, predictions) that the model lacks are skipped with a
    note; any other file layer must find its module and shapes, else a
    ValueError names the layer and both shapes (``skip_mismatch=True`` skips
    layers whose shapes differ, as Keras' ``load_weights(skip_mismatch=True)``).
    Model layers of the table that the file lacks raise, except the top.
    ``table`` overrides the Keras table (PyTorch files pass theirs).
    """
    table = name_maps.table_for(model_name) if table is None else table
    trees = {"params": _copy_tree(params), "batch_stats": _copy_tree(batch_stats)}
    skipped_top, skipped_mismatch, loaded = [], [], set()
    for layer, entry in _resolve_layers(layers, table, model_name):
        if _get_path(trees["params"], entry.path) is None:
            if entry.top:
                skipped_top.append(layer.name)
                continue
            raise ValueError(
                f"layer {layer.name!r} of {where} (shapes {[tuple(a.shape) for a in layer.arrays]}) "
                f"has no module params/{'/'.join(entry.path)} in the model; "
                + _prefix_hint(trees["params"], entry.path)
            )
        arrays = _ordered_arrays(layer, entry, where)
        targets = []
        mismatch = None
        for (collection, variable), array in zip(entry.slots, arrays):
            target = _get_path(trees[collection], entry.path + (variable,))
            if target is None:
                raise ValueError(
                    f"layer {layer.name!r}: the model has no {collection}/{'/'.join(entry.path)}/{variable} "
                    f"for the file's weight of shape {tuple(array.shape)}"
                    + (" (Keras ResNets have conv biases: create the model with variant='keras')."
                       if variable == "bias" and entry.kind == "conv" else ".")
                )
            if tuple(target.shape) != tuple(array.shape) and mismatch is None:
                mismatch = (variable, tuple(array.shape), tuple(target.shape))
            targets.append((collection, variable, array, target))
        if mismatch is not None:
            variable, file_shape, model_shape = mismatch
            if skip_mismatch:
                skipped_mismatch.append(f"{layer.name} ({variable} {file_shape} vs {model_shape})")
                loaded.add(entry.keras_name)  # the model keeps its own values on purpose
                continue
            raise ValueError(
                f"layer {layer.name!r}: {variable} has shape {file_shape} in {where} but the "
                f"cnnlab model expects {model_shape}; build the model to match the file "
                "(num_classes, include_top, input size for VGG's fc1) or pass skip_mismatch=True."
            )
        for collection, variable, array, target in targets:
            _set_path(trees[collection], entry.path + (variable,), np.asarray(array, dtype=target.dtype))
        loaded.add(entry.keras_name)
    _check_complete(trees["params"], table, loaded, where)
    if skipped_top:
        log.info("ignored the file's top layers %s: the model has include_top=False.", ", ".join(skipped_top))
    if skipped_mismatch:
        log.warning("skip_mismatch: left at their initial values: %s.", "; ".join(skipped_mismatch))
    return trees["params"], trees["batch_stats"]


def _check_complete(params, table, loaded, where) -> None:
    """Raises when a non-top layer of the model got nothing from the file."""
    missing_top = []
    for entry in table:
        if entry.keras_name in loaded or _get_path(params, entry.path) is None:
            continue
        if entry.top:
            missing_top.append(entry.keras_name)
            continue
        shape = tuple(_get_path(params, entry.path + (entry.slots[0][1],)).shape)
        raise ValueError(
            f"{where} has no weights for layer {entry.keras_name!r} (the model's "
            f"{entry.slots[0][1]} has shape {shape}); the file was written for another "
            "architecture or is truncated."
        )
    if missing_top:
        log.info("%s has no top: %s keep their initial values.", where, ", ".join(missing_top))


def _prefix_hint(params: dict, path) -> str:
    holders = [key for key, sub in params.items() if isinstance(sub, dict) and path[0] in sub]
    if holders:
        return f"the backbone sits under {holders[0]!r}: pass prefix={holders[0]!r}."
    return "build the model with include_top/num_classes matching the file, or check model_name."


def _copy_tree(tree) -> dict:
    if tree is None:
        return {}
    if hasattr(tree, "items"):
        return {key: _copy_tree(value) for key, value in tree.items()}
    return tree


def write_keras_h5(variables: dict, path: str, model_name: str, *, keras_version: str = "3") -> str:
    """Writes cnnlab ``variables`` as a Keras 3 legacy weights file in Keras' layer order.

    Only layers present in the model are written (an include_top=False model
    gives a *_notop file). ``keras_model.load_weights(path)`` and
    ``load_weights`` here read it back.
    """
    params = variables.get("params", {})
    stats = variables.get("batch_stats", {}) or {}
    table = name_maps.table_for(model_name)
    present = [entry for entry in table if _get_path(params, entry.path) is not None]
    if not present:
        raise ValueError(
            f"the variables hold no {model_name} layer (looked for "
            f"{table[0].keras_name!r}, ...); pass the backbone's sub-tree."
        )
    trees = {"params": params, "batch_stats": stats}
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([e.keras_name.encode("utf8") for e in present])
        f.attrs["backend"] = b"jax"
        f.attrs["keras_version"] = keras_version.encode("utf8")
        for entry in sorted(present, key=lambda e: e.keras_name):
            group = f.create_group(entry.keras_name)
            names = [f"{entry.keras_name}/{w}" for w in entry.weight_names]
            group.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
            for name, (collection, variable) in zip(names, entry.slots):
                value = _get_path(trees[collection], entry.path + (variable,))
                if value is None:
                    raise ValueError(
                        f"layer {entry.keras_name!r}: {collection}/{'/'.join(entry.path)}/{variable} "
                        "is missing from the variables (BatchNorm needs batch_stats)."
                    )
                group.create_dataset(name, data=np.asarray(value, dtype=np.float32))
    return path
