"""What the pretrained-network scripts accept as ``--model`` and ``--weights``, checked in one place.

Scripts that run a pretrained network (predict, explain, inside) never run
random weights: ``check_weights`` stops with one message saying what to pass
('imagenet', or the Keras file and where Keras caches it).
"""
from __future__ import annotations

import os

from cnnlab.pretrained import name_maps, torch_name_maps, weights_table

WEIGHTS_HELP = ("'imagenet' (or imagenet:keras / imagenet:torchvision), or a weights file "
                "(.h5, .pth, .safetensors), or a cnnlab checkpoint.")


def model_names() -> list[str]:
    """Every model that pretrained weights can load into (a Keras or PyTorch name table, or a published file)."""
    return sorted(set(name_maps.supported_models()) | set(torch_name_maps.supported_models())
                  | set(weights_table.models_with_weights()))


def no_weights_message(model: str, what: str = "Predictions") -> str:
    """Why nothing runs without weights, and what to pass instead."""
    entries = weights_table.entries_for(model)
    keras = [e for e in entries if e.source == "keras"]
    where = ""
    if keras:
        where = (f" or a path to the Keras file {keras[0].top.file_name} (Keras downloads it into "
                 f"~/.keras/models/ the first time keras.applications.{name_maps.KERAS_APPLICATIONS[model]}"
                 "(weights='imagenet') runs)")
    elif entries:
        where = f" or a path to {entries[0].top.file_name}"
    head = "--weights=imagenet" if entries else "--weights=PATH (a .h5, .pth or .safetensors file)"
    return (f"no pretrained weights given for {model}: pass {head}{where}. "
            f"{what} with random weights would be meaningless, so none are made.")


def check_weights(model: str, weights: str | None, what: str = "Predictions") -> None:
    """Raises FileNotFoundError unless ``weights`` is 'imagenet[:source]' or an existing path."""
    if not weights:
        raise FileNotFoundError(no_weights_message(model, what))
    if not weights_table.is_spec(weights) and not os.path.exists(weights):
        raise FileNotFoundError(f"--weights={weights} does not exist. " + no_weights_message(model, what))
