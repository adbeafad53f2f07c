"""RandAugment (Cubuk et al. 2019) on device, with ``torchvision.transforms.RandAugment``'s semantics.

Per image, ``num_ops`` ops are drawn uniformly with replacement from
:data:`OPS` and applied in turn at one shared ``magnitude`` bin (0 ..
``num_magnitude_bins - 1``); each signed op is negated with probability 1/2.
The magnitude ranges are torchvision's (bin ``num_magnitude_bins - 1`` is the
top of each range): shear 0..0.3, translate 0..150/331 of the size (whole
pixels, truncated), rotate 0..30 degrees, enhance factors 1 +- 0..0.9,
posterize 8..4 bits, solarize threshold 1.0..0.0.

Images are float ``(B, H, W, C)`` in [0, 1] with C = 1 or 3; each op is the
float version of torchvision's (PIL's on uint8 images, to within
quantisation): geometric ops resample with :func:`cnnlab.data.augment.warp`
('nearest' by default, torchvision's default) and fill uncovered pixels with
``fill``; Posterize and Equalize quantise to 256 levels first, as they are
uint8 operations. One key per image (vmapped), the op picked by
``jax.lax.switch``, so the same key gives the same output.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.data import augment

# torchvision's order of its augmentation space.
OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
       "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize")
SIGNED = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness")
GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
# ITU-R 601-2 luma, torchvision's rgb_to_grayscale.
_LUMA = (0.2989, 0.587, 0.114)


def op_index(name: str) -> int:
    """The index of an op in :data:`OPS` (what :func:`apply_op` takes)."""
    if name not in OPS:
        raise ValueError(f"RandAugment op {name!r} is not known; choose one of {OPS}.")
    return OPS.index(name)


def _check_settings(num_ops: int, magnitude: int, num_magnitude_bins: int) -> None:
    if int(num_ops) != num_ops or num_ops < 0:
        raise ValueError(f"RandAugment num_ops must be an integer >= 0 (0 = off), got {num_ops!r}.")
    if int(num_magnitude_bins) != num_magnitude_bins or num_magnitude_bins < 2:
        raise ValueError(f"RandAugment num_magnitude_bins must be an integer >= 2, got {num_magnitude_bins!r}.")
    if int(magnitude) != magnitude or not 0 <= magnitude < num_magnitude_bins:
        raise ValueError(f"RandAugment magnitude must be an integer in 0..{num_magnitude_bins - 1} "
                         f"(num_magnitude_bins - 1), got {magnitude!r}.")


def op_magnitudes(magnitude: int, num_magnitude_bins: int, height: int, width: int) -> np.ndarray:
    """Every op's unsigned magnitude at bin ``magnitude``, float32 ``(len(OPS),)``, in the units
    :func:`apply_op` takes (shear factor, pixels, degrees, enhance delta, bits, threshold)."""
    _check_settings(0, magnitude, num_magnitude_bins)
    t = magnitude / (num_magnitude_bins - 1)  # torch.linspace(0, top, bins)[magnitude] / top
    values = {
        "ShearX": 0.3 * t,
        "ShearY": 0.3 * t,
        "TranslateX": float(int(150.0 / 331.0 * width * t)),  # torchvision: translate=[int(magnitude), 0]
        "TranslateY": float(int(150.0 / 331.0 * height * t)),
        "Rotate": 30.0 * t,
        "Brightness": 0.9 * t,
        "Color": 0.9 * t,
        "Contrast": 0.9 * t,
        "Sharpness": 0.9 * t,
        # 8 - round(bin / ((bins - 1) / 4)), torch.round (half to even) like np.round.
        "Posterize": float(8 - int(np.round(magnitude / ((num_magnitude_bins - 1) / 4.0)))),
        "Solarize": 1.0 - t,
    }
    return np.asarray([values.get(name, 0.0) for name in OPS], np.float32)


# --------------------------------------------------------------------------
# The ops on one image (H, W, C) in [0, 1]; `m` is the signed magnitude.


def _grey(image):
    """(H, W, 1) luma for RGB, the image itself for one channel."""
    if image.shape[-1] == 1:
        return image
    return (image * jnp.asarray(_LUMA, image.dtype)).sum(-1, keepdims=True)


def _blend(image, degenerate, factor):
    """torchvision's _blend: ``factor * image + (1 - factor) * degenerate``, clipped to [0, 1]."""
    return jnp.clip(factor * image + (1.0 - factor) * degenerate, 0.0, 1.0)


def brightness(image, m):
    """Scales the image by 1 + m (blend with black), PIL's ImageEnhance.Brightness."""
    return _blend(image, jnp.zeros_like(image), 1.0 + m)


def color(image, m):
    """Saturation factor 1 + m (blend with the grey image), PIL's ImageEnhance.Color."""
    if image.shape[-1] == 1:  # torchvision: a grey image has no saturation to change
        return image
    return _blend(image, _grey(image), 1.0 + m)


def contrast(image, m):
    """Contrast factor 1 + m (blend with the mean grey level), PIL's ImageEnhance.Contrast."""
    return _blend(image, _grey(image).mean(), 1.0 + m)


def sharpness(image, m):
    """Sharpness factor 1 + m: blend with PIL's SMOOTH filter (3x3, centre 5/13), border pixels kept."""
    height, width, _ = image.shape
    if height <= 2 or width <= 2:
        return image
    window = [image[dy:height - 2 + dy, dx:width - 2 + dx] for dy in range(3) for dx in range(3)]
    smooth = (sum(window) + 4.0 * window[4]) / 13.0
    degenerate = image.at[1:-1, 1:-1].set(smooth)
    return _blend(image, degenerate, 1.0 + m)


def _quantise(image):
    return jnp.clip(jnp.floor(image * 255.0 + 0.5), 0, 255).astype(jnp.int32)


def posterize(image, m):
    """Keeps the top ``m`` bits (4..8) of each uint8 level, PIL's ImageOps.posterize."""
    shift = 8 - jnp.round(m).astype(jnp.int32)
    mask = jnp.left_shift(jnp.int32(-1), shift)  # -(2 ** shift): the low `shift` bits cleared
    return (jnp.bitwise_and(_quantise(image), mask) / 255.0).astype(image.dtype)


def solarize(image, m):
    """Inverts every value >= threshold ``m``, PIL's ImageOps.solarize."""
    return jnp.where(image >= m, 1.0 - image, image)


def autocontrast(image, m=None):
    """Stretches each channel to span [0, 1] (min -> 0, max -> 1); constant channels unchanged."""
    del m
    low = image.min(axis=(0, 1), keepdims=True)
    high = image.max(axis=(0, 1), keepdims=True)
    spread = high > low
    scale = jnp.where(spread, 1.0 / jnp.where(spread, high - low, 1.0), 1.0)
    low = jnp.where(spread, low, 0.0)
    return jnp.clip((image - low) * scale, 0.0, 1.0)


def _equalize_channel(plane):
    levels = _quantise(plane)
    hist = jnp.bincount(levels.ravel(), length=256)
    last = 255 - jnp.argmax(hist[::-1] > 0)  # the highest level present
    step = (hist.sum() - hist[last]) // 255
    lut = (jnp.cumsum(hist) - hist + step // 2) // jnp.maximum(step, 1)  # exclusive cumulative histogram
    lut = jnp.clip(lut, 0, 255)
    return jnp.where(step > 0, lut[levels] / 255.0, plane).astype(plane.dtype)


def equalize(image, m=None):
    """Per-channel histogram equalisation of the uint8 levels, PIL's ImageOps.equalize.

    PIL's algorithm: step = (pixels - count of the highest level) // 255; level
    i maps to (step // 2 + pixels below i) // step, clipped to 255; a channel
    with step 0 (one level, or too few pixels) is left unchanged.
    """
    del m
    return jax.vmap(_equalize_channel, in_axes=2, out_axes=2)(image)


_PHOTOMETRIC = {"Brightness": brightness, "Color": color, "Contrast": contrast, "Sharpness": sharpness,
                "Posterize": posterize, "Solarize": solarize, "AutoContrast": autocontrast, "Equalize": equalize}
_FIRST_PHOTOMETRIC = len(OPS) - len(_PHOTOMETRIC)  # the photometric ops close OPS


def op_matrix(op, m, height: int, width: int) -> jax.Array:
    """The 3x3 output -> input map (row, col, 1) of geometric op ``op`` at signed magnitude ``m``
    (the identity for the other ops), in pixel-centre coordinates.

    torchvision shears about the top-left corner of the image (PIL's affine
    data (1, m, 0, 0, 1, 0), no Keras cos factor), so shears are built here;
    translation and rotation (about the centre, positive counter-clockwise)
    use :func:`cnnlab.data.augment.affine_matrix`.
    """
    m = jnp.asarray(m, jnp.float32)
    one, zero = jnp.ones_like(m), jnp.zeros_like(m)
    eye = jnp.eye(3)
    shear_x = jnp.stack([jnp.stack([one, zero, zero]), jnp.stack([m, one, 0.5 * m]), jnp.stack([zero, zero, one])])
    shear_y = jnp.stack([jnp.stack([one, m, 0.5 * m]), jnp.stack([zero, one, zero]), jnp.stack([zero, zero, one])])
    translate_x = augment.affine_matrix(height, width, shift=(0.0, -m))  # +m moves the content right
    translate_y = augment.affine_matrix(height, width, shift=(-m, 0.0))  # +m moves the content down
    rotate = augment.affine_matrix(height, width, angle=m)
    matrices = [eye] * len(OPS)
    for name, matrix in zip(GEOMETRIC, (shear_x, shear_y, translate_x, translate_y, rotate)):
        matrices[OPS.index(name)] = matrix
    return jnp.stack(matrices)[op]


def apply_op(image: jax.Array, op, magnitude, *, fill: float = 0.0, interpolation: str = "nearest") -> jax.Array:
    """Applies op ``op`` (an index into :data:`OPS`, may be traced) at signed ``magnitude`` to one
    image ``(H, W, C)`` in [0, 1].

    ``magnitude`` is in the op's own units, as :func:`op_magnitudes` gives
    them: shear factor, pixels, degrees, enhance delta (factor 1 + m), bits,
    solarize threshold; Identity, AutoContrast and Equalize ignore it.
    """
    height, width, channels = image.shape
    if channels not in (1, 3):
        raise ValueError(f"RandAugment needs images with 1 or 3 channels (Color and Contrast use the RGB "
                         f"luma), got {channels}.")
    op = jnp.asarray(op, jnp.int32)
    m = jnp.asarray(magnitude, jnp.float32)
    warped = augment.warp(image, op_matrix(op, m, height, width), fill_mode="constant", cval=float(fill),
                          interpolation=interpolation)
    geometric = (op >= OPS.index(GEOMETRIC[0])) & (op <= OPS.index(GEOMETRIC[-1]))
    base = jnp.where(geometric, warped, image)
    # Branch 0 passes `base` through (Identity and the geometric ops); then the photometric ops in OPS order.
    branch = jnp.where(op >= _FIRST_PHOTOMETRIC, op - _FIRST_PHOTOMETRIC + 1, 0)
    branches = [lambda x, m: x] + [lambda x, m, fn=_PHOTOMETRIC[name]: fn(x, m).astype(x.dtype)
                              for name in OPS[_FIRST_PHOTOMETRIC:]]
    return jax.lax.switch(branch, branches, base, m)


@functools.partial(jax.jit, static_argnames=("num_ops", "magnitude", "num_magnitude_bins", "fill", "interpolation"))
def rand_augment(images: jax.Array, rng: jax.Array, *, num_ops: int = 2, magnitude: int = 9,
                 num_magnitude_bins: int = 31, fill: float = 0.0, interpolation: str = "nearest") -> jax.Array:
    """RandAugment of a batch ``(B, H, W, C)`` in [0, 1]: ``num_ops`` random ops per image at bin ``magnitude``.

    torchvision's defaults (num_ops 2, magnitude 9 of 31 bins, nearest
    resampling, black fill). ``num_ops=0`` returns the images unchanged.
    """
    augment._check_images(images)
    _check_settings(num_ops, magnitude, num_magnitude_bins)
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"RandAugment needs images with 1 or 3 channels (Color and Contrast use the RGB "
                         f"luma), got shape {images.shape}.")
    if num_ops == 0:
        return images
    _, height, width, _ = images.shape
    table = jnp.asarray(op_magnitudes(magnitude, num_magnitude_bins, height, width))
    signed = jnp.asarray([name in SIGNED for name in OPS])
    dtype = images.dtype

    def one(image, key):
        op_key, sign_key = jax.random.split(key)
        ops = jax.random.randint(op_key, (num_ops,), 0, len(OPS))
        negate = jax.random.bernoulli(sign_key, 0.5, (num_ops,)) & signed[ops]
        magnitudes = jnp.where(negate, -table[ops], table[ops])

        def body(i, x):
            return apply_op(x, ops[i], magnitudes[i], fill=fill, interpolation=interpolation)

        return jax.lax.fori_loop(0, num_ops, body, image.astype(jnp.float32)).astype(dtype)

    return augment._per_example(one, images, rng)

