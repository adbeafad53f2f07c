"""Classify an image with ImageNet weights: python scripts/predict.py --model=efficientnet_lite0 --weights=imagenet --image=sample:chelsea.

--weights is 'imagenet' (the model's published file, from the Keras or torch
hub cache, an installed weights package, or downloaded and verified), or a
path: a Keras .h5, a PyTorch .pth/.safetensors, or a cnnlab checkpoint.
--image is a file or sample:<name> (chelsea, coffee, astronaut, ...).
Prints the top classes with their probabilities and writes a bar plot
(--out, default <image>_predictions.png). Without --weights it stops with
exit status 1 and says what to pass: it never predicts with random weights.
"""

from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.pretrained.weights_args import WEIGHTS_HELP, check_weights, model_names

_MODEL = flags.DEFINE_enum("model", "vgg16", model_names(), "Model with ImageNet weights.")
_WEIGHTS = flags.DEFINE_string("weights", None, WEIGHTS_HELP + " It must hold the classifier.")
_IMAGE = flags.DEFINE_string("image", None, "Image file to classify, or sample:<name> (chelsea, coffee, ...).")
_TOP = flags.DEFINE_integer("top", 5, "How many classes to print and plot.", lower_bound=1, upper_bound=1000)
_OUT = flags.DEFINE_string("out", None, "Bar plot PNG (default: <image>_predictions.png).")
flags.mark_flags_as_required(["image"])


def main(argv):
    del argv
    model = _MODEL.value
    check_weights(model, _WEIGHTS.value)
    from cnnlab.pretrained import predict
    from cnnlab.viz.predictions import plot_top_predictions

    decoded, _ = predict.classify_files(model, _WEIGHTS.value, [_IMAGE.value], top=_TOP.value)
    print(f"{model} ({_WEIGHTS.value}) on {_IMAGE.value}:")
    for rank, (wnid, name, prob) in enumerate(decoded[0], start=1):
        print(f"{rank:2d}. {name:<30s} {wnid}  {prob:.4f}")
    from cnnlab.ops.images import output_stem

    stem = output_stem(_IMAGE.value)
    out = _OUT.value or stem + "_predictions.png"
    image = predict.load_images(model, _WEIGHTS.value, [_IMAGE.value])[0]
    plot_top_predictions(decoded[0], out, image=image, title=f"{model}: top {_TOP.value}")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.main(main)
