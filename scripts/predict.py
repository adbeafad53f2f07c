"""Classify an image with Keras ImageNet weights: python scripts/predict.py --model=vgg16 --weights=PATH --image=cat.jpg.

Prints the top classes with their probabilities and writes a bar plot
(--out, default <image>_predictions.png). Without --weights it stops with
exit status 1 and says which Keras file to get: it never predicts with
random weights.
"""
import os

from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.pretrained.name_maps import KERAS_APPLICATIONS, KERAS_FILE_NAMES

_MODEL = flags.DEFINE_enum("model", "vgg16", sorted(KERAS_FILE_NAMES), "Keras ImageNet model family.")
_WEIGHTS = flags.DEFINE_string("weights", None, "Keras .h5 weights file with the top (or a cnnlab checkpoint).")
_IMAGE = flags.DEFINE_string("image", None, "Image file to classify.")
_TOP = flags.DEFINE_integer("top", 5, "How many classes to print and plot.", lower_bound=1, upper_bound=1000)
_OUT = flags.DEFINE_string("out", None, "Bar plot PNG (default: <image>_predictions.png).")
flags.mark_flags_as_required(["image"])


def no_weights_message(model: str) -> str:
    file_name = KERAS_FILE_NAMES[model]
    return (
        f"no pretrained weights given for {model}: pass --weights=PATH to the Keras file "
        f"{file_name} (Keras downloads it into ~/.keras/models/ the first time "
        f"keras.applications.{KERAS_APPLICATIONS[model]}(weights='imagenet') runs; copy it from there). "
        "Predictions with random weights would be meaningless, so none are made."
    )


def main(argv):
    del argv
    model = _MODEL.value
    if not _WEIGHTS.value:
        raise FileNotFoundError(no_weights_message(model))
    if not os.path.exists(_WEIGHTS.value):
        raise FileNotFoundError(f"--weights={_WEIGHTS.value} does not exist. " + no_weights_message(model))
    from cnnlab.pretrained import predict
    from cnnlab.viz.predictions import plot_top_predictions

    decoded, _ = predict.classify_files(model, _WEIGHTS.value, [_IMAGE.value], top=_TOP.value)
    print(f"{model} on {_IMAGE.value}:")
    for rank, (wnid, name, prob) in enumerate(decoded[0], start=1):
        print(f"{rank:2d}. {name:<30s} {wnid}  {prob:.4f}")
    out = _OUT.value or os.path.splitext(_IMAGE.value)[0] + "_predictions.png"
    image = predict.load_image(_IMAGE.value, predict.input_size(model))
    plot_top_predictions(decoded[0], out, image=image, title=f"{model}: top {_TOP.value}")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.main(main)
