"""Look inside a pretrained network: first-layer filters and activations of named layers on a photo.

  python scripts/inside.py --model=efficientnet_lite0 --weights=imagenet --image=sample:chelsea \\
      --layers=stem,stage3,stage5,top --out_dir=docs/inside

writes filters.png (the first convolution's kernels as colour tiles) and
activations.png (the photo, then each layer's channels). --weights is
'imagenet' or a weights file, as for predict.py (VGG16: its Keras .h5;
--first_layer=block1_conv1).
"""
import os

from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli

from cnnlab.pretrained.weights_args import WEIGHTS_HELP, check_weights, model_names  # noqa: E402

_MODEL = flags.DEFINE_enum("model", "efficientnet_lite0", model_names(), "Model with pretrained weights.")
_WEIGHTS = flags.DEFINE_string("weights", None, WEIGHTS_HELP)
_IMAGE = flags.DEFINE_string("image", "sample:chelsea", "Image file or sample:<name>.")
_LAYERS = flags.DEFINE_list("layers", ["stem", "stage3", "stage5", "top"], "Layer names to show (early to late).")
_FIRST = flags.DEFINE_string("first_layer", "stem_conv", "The first convolution (its params hold the kernel).")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Folder for filters.png and activations.png.")
flags.mark_flags_as_required(["out_dir"])


def main(argv):
    del argv
    check_weights(_MODEL.value, _WEIGHTS.value, "Filters and activations")
    import numpy as np

    from cnnlab import models
    from cnnlab.data.preprocess import preprocess
    from cnnlab.pretrained import predict, pretrained_model
    from cnnlab.viz.inside import activations_figure, filters_figure

    model, variables, _ = pretrained_model(_MODEL.value, _WEIGHTS.value, include_top=False)
    if _FIRST.value not in variables["params"]:
        raise ValueError(f"--first_layer={_FIRST.value!r} is not a layer of {_MODEL.value}; its first layers are "
                         f"{', '.join(list(variables['params'])[:4])}.")
    photo = predict.load_images(_MODEL.value, _WEIGHTS.value, [_IMAGE.value])  # (1, S, S, 3) in [0, 1]
    x = preprocess(photo, predict.preprocess_mode(_MODEL.value, _WEIGHTS.value))
    maps = {name: np.asarray(m)[0] for name, m in models.features(model, variables, x, _LAYERS.value).items()}
    os.makedirs(_OUT_DIR.value, exist_ok=True)
    kernel = np.asarray(variables["params"][_FIRST.value]["kernel"])
    print("wrote", filters_figure(kernel, os.path.join(_OUT_DIR.value, "filters.png"),
                                  f"{_MODEL.value} {_FIRST.value}\n{kernel.shape[-1]} filters {kernel.shape[:3]}"))
    print("wrote", activations_figure(photo[0], maps, os.path.join(_OUT_DIR.value, "activations.png")))


if __name__ == "__main__":
    cli.main(main)
