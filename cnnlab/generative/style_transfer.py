"""Neural style transfer (Gatys et al. 2016): optimise an image so its VGG16 features match
the content image's at one layer and the style image's Gram matrices at several layers.

Losses are relative (divided by the target's squared norm) so that the same
weights work for ImageNet VGG weights and for random ones, whose feature
scales differ by orders of magnitude. Images are RGB floats in [0, 1]
(H, W, 3); VGG sees them through its 'caffe' preprocessing.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import optax

import cnnlab.models as models
from cnnlab.data.preprocess import preprocess

CONTENT_LAYER = "block4_conv2"
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


def vgg16_features(weights: str | None, key, image_size: Sequence[int] = (224, 224)):
    """(model, variables) of VGG16 without its top: ImageNet weights from a Keras .h5 or random."""
    model = models.create("vgg16", include_top=False)
    variables = model.init(key, jnp.zeros((1,) + tuple(image_size) + (3,)))
    if weights:
        from cnnlab.pretrained import load_weights
        variables = load_weights(variables, weights, "vgg16")
    return model, variables


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


def _tap(model, variables, image, layers):
    x = preprocess(image[None], "caffe")  # (1, H, W, 3), BGR minus ImageNet means
    return models.features(model, variables, x, tuple(layers))


def style_targets(model, variables, content, style, content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS):
    """Content feature map and style Gram matrices: the fixed targets of the optimisation."""
    content_feat = _tap(model, variables, content, (content_layer,))[content_layer]
    style_feats = _tap(model, variables, style, tuple(style_layers))
    return {"content": content_feat, "grams": {n: gram_matrix(style_feats[n]) for n in style_layers}}


def style_transfer_loss(model, variables, image, targets, *, content_layer=CONTENT_LAYER,
                        style_layers=STYLE_LAYERS, content_weight: float = 1.0, style_weight: float = 1.0,
                        tv_weight: float = 0.0):
    """(total, aux) of image (H, W, 3): weighted content + mean style-layer loss + total variation."""
    feats = _tap(model, variables, image, (content_layer,) + tuple(style_layers))
    content = relative_error(feats[content_layer], targets["content"])
    style = sum(relative_error(gram_matrix(feats[n]), targets["grams"][n]) for n in style_layers) / len(style_layers)
    tv = total_variation(image)
    total = content_weight * content + style_weight * style + tv_weight * tv
    return total, {"loss": total, "content": content, "style": style, "tv": tv}


def stylize(model, variables, content, style, *, steps: int = 200, lr: float = 0.02,
            content_layer: str = CONTENT_LAYER, style_layers=STYLE_LAYERS, content_weight: float = 1.0,
            style_weight: float = 1.0, tv_weight: float = 0.0, init: str = "content", key=None):
    """Optimises an image (H, W, 3) in [0, 1] with Adam; returns (image, list of per-step aux dicts).

    init: 'content' starts from the content image, 'noise' from uniform noise (needs ``key``).
    """
    if content.ndim != 3 or content.shape[-1] != 3 or style.ndim != 3 or style.shape[-1] != 3:
        raise ValueError(f"content and style must be RGB images (H, W, 3); got {content.shape} and {style.shape}.")
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise'; got {init!r}.")
    if init == "noise" and key is None:
        raise ValueError("init='noise' needs a PRNG key.")
    style_layers = tuple(style_layers)
    targets = style_targets(model, variables, content, style, content_layer, style_layers)
    weights = dict(content_layer=content_layer, style_layers=style_layers, content_weight=content_weight,
                   style_weight=style_weight, tv_weight=tv_weight)
    tx = optax.adam(lr)

    @jax.jit
    def step(image, opt_state):
        grads, aux = jax.grad(lambda im: style_transfer_loss(model, variables, im, targets, **weights),
                              has_aux=True)(image)
        updates, opt_state = tx.update(grads, opt_state, image)
        return jnp.clip(optax.apply_updates(image, updates), 0.0, 1.0), opt_state, aux

    image = jnp.asarray(content, jnp.float32) if init == "content" else jax.random.uniform(key, content.shape)
    opt_state = tx.init(image)
    history = []
    for _ in range(steps):
        image, opt_state, aux = step(image, opt_state)
        history.append(aux)
    return image, jax.device_get(history)
