"""PyTorch-world weight files: read ``.pth`` / ``.pt`` / ``.safetensors`` state dicts, convert, place.

``read_state_dict`` returns ``{name: float32 numpy array}``:

- ``.safetensors`` through the ``safetensors`` package (no torch needed);
- ``.pth`` / ``.pt`` / ``.bin`` through ``torch.load(weights_only=True)``,
  which never runs code from the file; without torch installed it says so
  and how to convert the file. Training checkpoints that wrap the weights
  (``{'state_dict': ...}``, ``{'model': ...}``) and DataParallel's
  ``module.`` prefix are unwrapped; BatchNorm's ``num_batches_tracked``
  counters are dropped.

``state_dict_layers`` turns a state dict into the per-layer form
``keras_h5.map_keras_weights`` places, through the explicit tables of
``torch_name_maps``, converting layouts on the way: convolution kernels
OIHW -> HWIO (depthwise (C, 1, k, k) -> (k, k, 1, C)), dense kernels
(out, in) -> (in, out), and the first dense layer after a flatten from
PyTorch's (C, H, W) flatten order to NHWC's (H, W, C).
"""
from __future__ import annotations

import os

import numpy as np

from cnnlab.pretrained import torch_name_maps
from cnnlab.pretrained.keras_h5 import KerasLayerWeights

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIXES = (".safetensors",)
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")


def is_torch_file(path: str) -> bool:
    """True for file names PyTorch-world weights use (.pth, .pt, .bin, .safetensors)."""
    return os.fspath(path).lower().endswith(TORCH_SUFFIXES + SAFETENSORS_SUFFIXES)


def _to_numpy(value, path: str, key: str) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu()
        if value.dtype.is_floating_point:
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    return array


def _unwrap(obj, path: str) -> dict:
    """The flat name -> tensor dict inside a saved object (checkpoint wrappers peeled)."""
    for _ in range(3):
        if isinstance(obj, dict) and not any(hasattr(v, "shape") for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict) or not any(hasattr(v, "shape") for v in obj.values()):
        kind = type(obj).__name__
        raise ValueError(
            f"{path} holds a {kind}, not a state dict of tensors; save the weights with "
            "torch.save(model.state_dict(), path) (a whole pickled model cannot be read safely)."
        )
    return obj


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """``{parameter name: numpy array}`` of a PyTorch ``.pth``/``.pt``/``.bin`` or ``.safetensors`` file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no weights file at {path!r}.")
    if path.lower().endswith(SAFETENSORS_SUFFIXES):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            raw = load_file(path)
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"{path} is not a readable .safetensors file ({e}); is it truncated?") from e
    else:
        try:
            import torch
        except ImportError as e:
            raise ImportError(
                f"reading {path} needs PyTorch, which is not installed: pip install torch "
                "(the CPU build is enough), or convert the file once to .safetensors "
                "(safetensors.torch.save_file(torch.load(path), 'weights.safetensors')), "
                "which cnnlab reads without torch."
            ) from e
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, zipfile errors
            raise ValueError(
                f"{path} could not be read by torch.load ({type(e).__name__}: {e}); the file is "
                "truncated or corrupt, or not a PyTorch state dict: download it again."
            ) from e
    state = _unwrap(raw, path)
    out = {}
    for key, value in state.items():
        name = key[len("module."):] if key.startswith("module.") else key
        if name.endswith("num_batches_tracked"):
            continue
        out[name] = _to_numpy(value, path, key)
    return out


def _convert(array: np.ndarray, layer: torch_name_maps.TorchLayer, slot: str) -> np.ndarray:
    """One PyTorch tensor in cnnlab's layout."""
    if layer.kind == "conv" and slot == "weight":
        if array.ndim != 4:
            raise ValueError(f"{layer.prefix}.weight should be a 4-d OIHW kernel, got shape {array.shape}.")
        return np.transpose(array, (2, 3, 1, 0))  # (O, I, kh, kw) -> (kh, kw, I, O)
    if layer.kind == "dense" and slot == "weight":
        if array.ndim != 2:
            raise ValueError(f"{layer.prefix}.weight should be a 2-d (out, in) matrix, got shape {array.shape}.")
        if layer.flatten_channels:
            out_features, inputs = array.shape
            c = layer.flatten_channels
            side = int(round((inputs // c) ** 0.5))
            if c * side * side != inputs:
                raise ValueError(
                    f"{layer.prefix}.weight has {inputs} inputs, not {c} channels x a square map; "
                    "is this file for this architecture?"
                )
            # (out, C*H*W) in PyTorch's (C, H, W) order -> (H*W*C, out) in NHWC flatten order.
            array = array.reshape(out_features, c, side, side).transpose(2, 3, 1, 0)
            return array.reshape(side * side * c, out_features)
        return array.T  # (out, in) -> (in, out)
    return array


def state_dict_layers(state: dict[str, np.ndarray], model_name: str, layout: str, *, where: str):
    """(per-layer weights in table order, the LayerMap table) for ``map_keras_weights``.

    Every entry of the file must belong to a table layer, else a ValueError
    names the first unknown entries (a file of another architecture).
    """
    layers = torch_name_maps.table_for(model_name, layout)
    used = set()
    out = []
    for layer in layers:
        slots = torch_name_maps.TORCH_SLOTS[layer.kind][:len(layer.entry.slots)]
        keys = [f"{layer.prefix}.{slot}" for slot in slots]
        present = [k in state for k in keys]
        if not any(present):
            continue  # absent layer: map_keras_weights decides (top skipped, others reported)
        if not all(present):
            missing = [k for k, p in zip(keys, present) if not p]
            raise ValueError(f"{where} has {layer.prefix} but lacks {', '.join(missing)}; the file is incomplete.")
        arrays = [_convert(state[k], layer, slot) for k, slot in zip(keys, slots)]
        used.update(keys)
        out.append(KerasLayerWeights(layer.entry.keras_name, list(layer.entry.weight_names), arrays))
    unknown = [k for k in state if k not in used]
    if unknown:
        raise ValueError(
            f"{where} has {len(unknown)} entries that cnnlab {model_name} ({layout} layout) has no "
            f"place for, e.g. {', '.join(unknown[:4])} (shapes {[tuple(state[k].shape) for k in unknown[:4]]}); "
            f"is this a {model_name} file? Its layers are named like {layers[0].prefix}, "
            f"{layers[1].prefix}, ..., {layers[-1].prefix}."
        )
    return out, [layer.entry for layer in layers]
