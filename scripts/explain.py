"""Explain an ImageNet prediction: python scripts/explain.py --model=efficientnet_lite0 --weights=imagenet --image=sample:chelsea.

Writes one PNG row: the image, then Grad-CAM, saliency, SmoothGrad,
integrated gradients and occlusion overlays (--methods picks and orders
them) for the top class or --class_index. --layer picks the Grad-CAM
feature map (a module name such as top_bn, block5_conv3, conv5_block3_out,
or a sown one such as top; default the last 4-d feature map). Without
--weights it stops with exit status 1: it never explains random weights.
"""

from absl import flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
from cnnlab import cli
from cnnlab.explain.report import METHODS
from cnnlab.pretrained.weights_args import WEIGHTS_HELP, check_weights, model_names

_MODEL = flags.DEFINE_enum("model", "efficientnet_lite0", model_names(), "Model with ImageNet weights.")
_WEIGHTS = flags.DEFINE_string("weights", None, WEIGHTS_HELP + " It must hold the classifier.")
_IMAGE = flags.DEFINE_string("image", None, "Image file, or sample:<name> (chelsea, coffee, ...).")
_LAYER = flags.DEFINE_string("layer", None, "Grad-CAM layer (default: the last 4-d feature map).")
_CLASS = flags.DEFINE_integer("class_index", None, "ImageNet class to explain (default: the top one).",
                              lower_bound=0)
_METHODS_FLAG = flags.DEFINE_list("methods", list(METHODS), f"Methods, in panel order: {', '.join(METHODS)}.")
_SAMPLES = flags.DEFINE_integer("samples", 16, "SmoothGrad noisy samples.", lower_bound=1)
_NOISE = flags.DEFINE_float("noise", 0.15, "SmoothGrad noise std, a fraction of the input range.", lower_bound=0)
_STEPS = flags.DEFINE_integer("steps", 32, "Integrated-gradients path steps.", lower_bound=1)
_PATCH = flags.DEFINE_integer("patch", 32, "Occlusion patch side (pixels).", lower_bound=1)
_STRIDE = flags.DEFINE_integer("stride", 16, "Occlusion stride (pixels).", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "SmoothGrad noise seed.")
_OUT = flags.DEFINE_string("out", None, "PNG to write (default: <image>_explain.png).")
flags.mark_flags_as_required(["image"])


def main(argv):
    del argv
    model_name = _MODEL.value
    check_weights(model_name, _WEIGHTS.value, "Explanations")
    import jax
    import numpy as np

    from cnnlab import explain
    from cnnlab.data.preprocess import preprocess
    from cnnlab.pretrained import imagenet_classes, predict

    methods = explain.check_methods(_METHODS_FLAG.value)
    model, variables = predict.pretrained_classifier(model_name, _WEIGHTS.value)
    mode = predict.preprocess_mode(model_name, _WEIGHTS.value)
    images = predict.load_images(model_name, _WEIGHTS.value, [_IMAGE.value])  # (1, S, S, 3) in [0, 1]
    x = preprocess(images, mode)
    probs = np.asarray(jax.nn.softmax(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)))[0]
    classes = imagenet_classes()
    top = int(probs.argmax())
    target = top if _CLASS.value is None else _CLASS.value
    if target >= probs.shape[0]:
        raise ValueError(f"--class_index={target} is out of range; the model has {probs.shape[0]} classes.")
    print(f"{model_name} ({_WEIGHTS.value}) on {_IMAGE.value}: top class {top} {classes[top][1]} "
          f"{classes[top][0]}  p={probs[top]:.4f}")
    if target != top:
        print(f"explaining class {target} {classes[target][1]}  p={probs[target]:.4f}")
    if "gradcam" in methods:
        print(f"Grad-CAM layer: {explain.feature_tap(model, variables, x, _LAYER.value).name}")
    maps = explain.explanation_maps(
        model, variables, x, target, methods, layer=_LAYER.value, rng=jax.random.key(_SEED.value),
        samples=_SAMPLES.value, noise=_NOISE.value, steps=_STEPS.value, patch=_PATCH.value,
        stride=_STRIDE.value, fill=explain.grey_fill(mode))
    from cnnlab.ops.images import output_stem

    stem = output_stem(_IMAGE.value)
    out = _OUT.value or stem + "_explain.png"
    explain.save_explanation_png(out, images[0], {explain.TITLES[m]: maps[m][0] for m in methods},
                                 title=f"{model_name}: {classes[target][1]} (p={probs[target]:.3f})")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.main(main)
