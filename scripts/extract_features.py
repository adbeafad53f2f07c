"""Cache bottleneck features of a dataset split to .npz (the "bottleneck" recipe, step one).

  python scripts/extract_features.py --model=vgg16 --weights=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 \\
      --data=image_folder --data_option=root=/data/cats_dogs --split=train --image_size=224 --out=train.npz

Runs the model without its top, pooled (--pooling=avg|max), over every example
of the split and writes ``features`` (N, C), ``labels`` (N,) and ``class_names``.
--weights takes 'imagenet' (the model's published file), a Keras .h5, a
PyTorch .pth/.safetensors, or a cnnlab run directory / orbax checkpoint;
--weights=random must be given explicitly to use an untrained backbone.
Published weights get their source's preprocessing ('caffe' for Keras
VGG/ResNet, 'tf' for Xception, 'torch' for torchvision, 'efficientnet_lite')
unless --preprocess says otherwise.
"""
import ast

from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli

_MODEL = flags.DEFINE_string("model", None, "Zoo model name (vgg16, resnet50, xception, simple_cnn, ...).")
_WEIGHTS = flags.DEFINE_string("weights", None, "'imagenet', a .h5/.pth/.safetensors file, a cnnlab run dir / "
                               "orbax checkpoint, or 'random'.")
_MODEL_OPTIONS = flags.DEFINE_multi_string("model_option", [], "Model options as key=value (repeatable), "
                                           "e.g. --model_option=widths=(16,32).")
_DATA = flags.DEFINE_string("data", "shapes", "cnnlab.data source name (data.name).")
_DATA_OPTIONS = flags.DEFINE_multi_string("data_option", [], "Extra data config fields as key=value (repeatable).")
_SPLIT = flags.DEFINE_string("split", "train", "Split to extract.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Resize images to this side (default: the source's).")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Images per forward pass.", lower_bound=1)
_POOLING = flags.DEFINE_enum("pooling", "avg", ["avg", "max"], "Global pooling of the last feature map.")
_PREPROCESS = flags.DEFINE_enum("preprocess", "auto", ["auto", "caffe", "tf", "torch", "efficientnet_lite", "none"],
                                "Input preprocessing; auto = the weights' source's mode, none otherwise.")
_OUT = flags.DEFINE_string("out", None, "Output .npz path.")
flags.mark_flags_as_required(["model", "weights", "out"])


def parse_options(items, flag: str) -> dict:
    """key=value strings -> dict; values are Python literals where they parse, else strings."""
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--{flag}={item!r}: write key=value, e.g. --data_option=root=/data/flowers.")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text  # a plain string such as a path
    return options


def data_config() -> dict:
    config = {"name": _DATA.value, **parse_options(_DATA_OPTIONS.value, "data_option")}
    if _IMAGE_SIZE.value:
        config["image_size"] = (_IMAGE_SIZE.value, _IMAGE_SIZE.value)
    return config


def main(argv):
    del argv
    import os

    from cnnlab.pretrained.keras_h5 import missing_file_message

    from cnnlab.pretrained.weights_table import is_spec

    if _WEIGHTS.value != "random" and not is_spec(_WEIGHTS.value) and not os.path.exists(_WEIGHTS.value):
        raise FileNotFoundError(missing_file_message(_WEIGHTS.value) + " Or pass --weights=random for an untrained backbone.")
    import jax
    import numpy as np

    from cnnlab.pretrained import features, load_weights, source_of
    from cnnlab.pretrained.predict import preprocess_mode

    random = _WEIGHTS.value == "random"
    entry = None if random else source_of(_MODEL.value, _WEIGHTS.value)
    options = {**(entry.kwargs if entry else {}), **parse_options(_MODEL_OPTIONS.value, "model_option")}
    model = features.backbone(_MODEL.value, pooling=_POOLING.value, **options)
    config = data_config()
    from cnnlab import data

    info = data.open_split(config, _SPLIT.value).info
    sample = np.zeros((1,) + tuple(info.image_shape), np.float32)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), sample)
    if not random:
        variables = load_weights(variables, _WEIGHTS.value, _MODEL.value)
    mode = _PREPROCESS.value
    if mode == "auto":
        try:
            mode = preprocess_mode(_MODEL.value, _WEIGHTS.value)
        except ValueError:
            mode = "none"
    result = features.cache_bottleneck_features(
        model, variables, config, _SPLIT.value, _OUT.value, batch_size=_BATCH.value,
        preprocess_mode=None if mode == "none" else mode)
    print(f"wrote {_OUT.value}: features {result['features'].shape}, labels {result['labels'].shape}, "
          f"classes {[str(c) for c in result['class_names']]}")


if __name__ == "__main__":
    cli.main(main)
