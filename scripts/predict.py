"""Classify an image with ImageNet weights: python scripts/predict.py --model=efficientnet_lite0 --weights=imagenet --image=sample:chelsea.

--weights is 'imagenet' (the model's published file, from the Keras or torch
hub cache, an installed weights package, or downloaded and verified), or a
path: a Keras .h5, a PyTorch .pth/.safetensors, or a cnnlab checkpoint.
--image is a file or sample:<name> (chelsea, coffee, astronaut, ...).
Prints the top classes with their probabilities and writes a bar plot
(--out, default <image>_predictions.png). Without --weights it stops with
exit status 1 and says what to pass: it never predicts with random weights.
"""
import os

from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.pretrained import name_maps, torch_name_maps, weights_table

_MODELS = sorted(set(name_maps.supported_models()) | set(torch_name_maps.supported_models())
                 | set(weights_table.models_with_weights()))
_MODEL = flags.DEFINE_enum("model", "vgg16", _MODELS, "Model with ImageNet weights.")
_WEIGHTS = flags.DEFINE_string(
    "weights", None, "'imagenet' (or imagenet:keras / imagenet:torchvision), or a weights file "
    "(.h5, .pth, .safetensors) with the classifier, or a cnnlab checkpoint.")
_IMAGE = flags.DEFINE_string("image", None, "Image file to classify, or sample:<name> (chelsea, coffee, ...).")
_TOP = flags.DEFINE_integer("top", 5, "How many classes to print and plot.", lower_bound=1, upper_bound=1000)
_OUT = flags.DEFINE_string("out", None, "Bar plot PNG (default: <image>_predictions.png).")
flags.mark_flags_as_required(["image"])


def no_weights_message(model: str) -> str:
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
            "Predictions with random weights would be meaningless, so none are made.")


def main(argv):
    del argv
    model = _MODEL.value
    if not _WEIGHTS.value:
        raise FileNotFoundError(no_weights_message(model))
    if not weights_table.is_spec(_WEIGHTS.value) and not os.path.exists(_WEIGHTS.value):
        raise FileNotFoundError(f"--weights={_WEIGHTS.value} does not exist. " + no_weights_message(model))
    from cnnlab.pretrained import predict
    from cnnlab.viz.predictions import plot_top_predictions

    decoded, _ = predict.classify_files(model, _WEIGHTS.value, [_IMAGE.value], top=_TOP.value)
    print(f"{model} ({_WEIGHTS.value}) on {_IMAGE.value}:")
    for rank, (wnid, name, prob) in enumerate(decoded[0], start=1):
        print(f"{rank:2d}. {name:<30s} {wnid}  {prob:.4f}")
    stem = _IMAGE.value.replace(":", "_") if _IMAGE.value.startswith("sample:") else os.path.splitext(_IMAGE.value)[0]
    out = _OUT.value or stem + "_predictions.png"
    image = predict.load_images(model, _WEIGHTS.value, [_IMAGE.value])[0]
    plot_top_predictions(decoded[0], out, image=image, title=f"{model}: top {_TOP.value}")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.main(main)
