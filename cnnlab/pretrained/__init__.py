"""Pretrained weights: Keras ``.h5`` import/export, orbax checkpoints, ImageNet labels.

``load_weights(variables, path, model_name, prefix=None)`` is the one entry
point the training loop and the scripts use: ``path`` is a Keras weights
file (both the Keras 2 release layout and Keras 3 legacy files, with or
without the top) or a cnnlab orbax checkpoint (a run ``workdir``, its
``checkpoints/<step>``, or a ``save_variables`` folder). ``keras_model(name)``
builds the cnnlab model that reproduces ``keras.applications.<Name>``.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.pretrained import keras_h5, name_maps, orbax_io
from cnnlab.pretrained.imagenet import decode_predictions, imagenet_classes
from cnnlab.pretrained.keras_h5 import read_keras_h5, write_keras_h5
from cnnlab.pretrained.name_maps import KERAS_FILE_NAMES, supported_models, table_for
from cnnlab.pretrained.orbax_io import read_variables, save_variables


def keras_model(model_name: str, **kwargs):
    """``cnnlab.models.create`` with the options that match Keras (ResNet: variant='keras')."""
    from cnnlab import models

    return models.create(model_name.lower(), **{**name_maps.keras_model_kwargs(model_name), **kwargs})


def _subtree(variables: dict, collection: str, prefix: str | None):
    tree = variables.get(collection) or {}
    if prefix is None:
        return tree
    if prefix not in tree:
        if collection == "batch_stats":
            return {}
        raise ValueError(
            f"variables['{collection}'] has no sub-tree {prefix!r} (its keys: "
            f"{', '.join(map(str, tree))}); pass the prefix under which the backbone sits."
        )
    return tree[prefix]


def _replace(variables: dict, collection: str, prefix: str | None, subtree: dict) -> None:
    # Placed weights become jax arrays; leaves still abstract (ShapeDtypeStruct) stay so.
    subtree = jax.tree.map(lambda x: jnp.asarray(x) if isinstance(x, np.ndarray) else x, subtree)
    if prefix is None:
        if subtree or collection in variables:
            variables[collection] = subtree
    elif subtree or prefix in (variables.get(collection) or {}):
        variables[collection] = {**(variables.get(collection) or {}), prefix: subtree}


def load_weights(variables: dict, path: str, model_name: str, *, prefix: str | None = None,
                 skip_mismatch: bool = False) -> dict:
    """New variables with every weight of ``path`` placed (under ``prefix`` when given).

    ``path``: a Keras ``.h5`` (layers matched through ``name_maps`` tables;
    a with-top file into an include_top=False model skips fc1/fc2/predictions
    with a logged note) or an orbax checkpoint folder of cnnlab (leaves matched
    by path). A layer without a module, or with another shape, raises a
    ValueError naming it and both shapes, unless ``skip_mismatch=True`` keeps
    the model's values for mismatched shapes. A missing path raises
    FileNotFoundError saying where Keras files come from.
    """
    path = os.fspath(path)
    params = _subtree(variables, "params", prefix)
    stats = _subtree(variables, "batch_stats", prefix)
    where = repr(path)
    if os.path.isfile(path):
        layers = keras_h5.read_keras_h5(path)
        new_params, new_stats = keras_h5.map_keras_weights(
            params, stats, layers, model_name, where=where, skip_mismatch=skip_mismatch)
    elif os.path.isdir(path):
        source = orbax_io.read_variables(path)
        src_params, src_stats = source["params"], source["batch_stats"]
        if prefix is not None and prefix in src_params:  # a checkpoint of the same wrapper model
            src_params, src_stats = src_params[prefix], src_stats.get(prefix, {})
        new_params = orbax_io.place_variables(params, src_params, where=where, skip_mismatch=skip_mismatch)
        new_stats = orbax_io.place_variables(stats, src_stats, where=where, skip_mismatch=skip_mismatch)
    else:
        raise FileNotFoundError(keras_h5.missing_file_message(path))
    out = dict(variables)
    _replace(out, "params", prefix, new_params)
    _replace(out, "batch_stats", prefix, new_stats)
    return out


__all__ = [
    "load_weights", "keras_model", "decode_predictions", "imagenet_classes", "read_keras_h5",
    "write_keras_h5", "read_variables", "save_variables", "table_for", "supported_models",
    "KERAS_FILE_NAMES",
]
