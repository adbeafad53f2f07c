"""Jittable image augmentation on device, random per example through PRNG keys.

``config.data.augment`` of images-only tasks is read in one place:
:data:`FIELDS` lists every field (name, default, comment) and
``parse(cfg)`` checks a config into a frozen :class:`AugmentSettings`;
``build(settings)`` gives the per-example random ops ``fn(images, rng)``,
``build_mix(settings, num_classes)`` the batch-level Mixup/CutMix
``fn(batch, rng) -> batch`` (or None), ``build_normalizer(settings, stats)``
the featurewise normalisation. Tasks whose targets move with the pixels
(boxes, masks) read their own fields through ``task.make_augment``.

Every op is a pure, jitted ``fn(images (B, H, W, C) float, rng) -> images``:
the key is split into one key per example and the op is vmapped over
examples, so the same key gives the same output. Settings are static
arguments (config constants), so each setting compiles once.

``build(config)`` composes the ops a config asks for, with the field names
of Keras' ``ImageDataGenerator`` (plus a few of its layers'):

- geometric (one affine warp per example, bilinear, ``fill_mode``
  'nearest' (default) | 'constant' (``cval``) | 'reflect' | 'wrap' | 'mirror'):
  ``rotation_range`` (degrees, positive = counter-clockwise),
  ``width_shift_range`` / ``height_shift_range`` (fraction of the size if
  < 1, else pixels), ``shear_range`` (degrees), ``zoom_range`` (z ->
  [1 - z, 1 + z] or a pair; > 1 shows more of the image, as in Keras),
  ``interpolation`` 'bilinear' | 'nearest';
- ``horizontal_flip``, ``vertical_flip`` (each with probability 1/2);
- ``crop_padding``: pad by p pixels, crop back at a random offset (the
  CIFAR recipe), padding by ``fill_mode``;
- photometric, on [0, 1] images and clipped back to [0, 1]: ``brightness``
  (add U(-b, b)), ``contrast`` (scale about the image mean by U(1-c, 1+c)),
  ``tint`` (add U(-t, t) per channel), ``blur_sigma`` (Gaussian blur with
  sigma U(0, s));
- ``rand_augment_ops`` N > 0 / ``rand_augment_magnitude`` M:
  torchvision's RandAugment (``cnnlab.data.randaugment``, nearest
  resampling), uncovered pixels filled with ``cval`` (0: black);
- ``mixup_alpha``, ``cutmix_alpha``, ``mix_prob``, ``mix_switch_prob``:
  timm's Mixup/CutMix over the batch (``cnnlab.data.mixing``), through
  ``build_mix`` since they also change the targets.

Featurewise normalisation (``featurewise_center``,
``featurewise_std_normalization``) is not random and applies to eval images
too: ``featurewise_stats`` computes the training set's per-channel mean and
std, and ``build_normalizer(config, stats)`` returns ``fn(images)``.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

AugmentFn = Callable[[jax.Array, jax.Array], jax.Array]

FILL_MODES = ("nearest", "constant", "reflect", "wrap", "mirror")
INTERPOLATIONS = {"bilinear": 1, "nearest": 0}
# jnp.pad modes that match map_coordinates' fill modes (scipy naming -> numpy naming).
_PAD_MODES = {"nearest": "edge", "constant": "constant", "reflect": "symmetric", "wrap": "wrap", "mirror": "reflect"}
AFFINE_FIELDS = ("rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range")
MIX_FIELDS = ("mixup_alpha", "cutmix_alpha", "mix_prob", "mix_switch_prob")
NORMALIZE_FIELDS = ("featurewise_center", "featurewise_std_normalization", "mean", "std")


def identity(images: jax.Array, rng: jax.Array) -> jax.Array:
    """The augmentation that changes nothing."""
    del rng
    return images


def _per_example(fn, images, rng):
    """vmaps ``fn(image (H, W, C), key)`` over the batch with one key per example."""
    keys = jax.random.split(rng, images.shape[0])
    return jax.vmap(fn)(images, keys)


def _check_images(images) -> None:
    if images.ndim != 4:
        raise ValueError(f"augmentation needs images (B, H, W, C), got shape {images.shape}.")


# --------------------------------------------------------------------------
# Flips.


@functools.partial(jax.jit, static_argnames=("horizontal", "vertical"))
def random_flip(images: jax.Array, rng: jax.Array, *, horizontal: bool = True, vertical: bool = False) -> jax.Array:
    """Mirrors each image left-right and/or up-down with probability 1/2 each."""
    _check_images(images)

    def one(image, key):
        flip = jax.random.bernoulli(key, 0.5, (2,))
        if horizontal:
            image = jnp.where(flip[0], image[:, ::-1], image)
        if vertical:
            image = jnp.where(flip[1], image[::-1], image)
        return image

    return _per_example(one, images, rng)


# --------------------------------------------------------------------------
# Affine warps.


def _zoom_bounds(zoom_range) -> tuple[float, float]:
    if isinstance(zoom_range, (int, float)):
        low, high = 1.0 - float(zoom_range), 1.0 + float(zoom_range)
    else:
        low, high = (float(z) for z in zoom_range)
    if not 0 < low <= high:
        raise ValueError(f"zoom_range must give 0 < low <= high, got {zoom_range!r}.")
    return low, high


def _shift_pixels(shift_range: float, size: int) -> float:
    shift_range = float(shift_range)
    if shift_range < 0:
        raise ValueError(f"shift ranges must be >= 0, got {shift_range}.")
    return shift_range * size if shift_range < 1 else shift_range


def affine_matrix(
    height: int,
    width: int,
    *,
    angle=0.0,
    shift=(0.0, 0.0),
    shear=0.0,
    zoom=(1.0, 1.0),
) -> jax.Array:
    """The 3x3 map from output pixel (row, col, 1) to input coordinates.

    ``angle`` and ``shear`` in degrees (rotation positive = counter-clockwise,
    so +90 equals ``np.rot90``), ``shift`` = (rows, cols) in pixels, ``zoom``
    = (rows, cols) scale, all about the image centre; composed as Keras
    does: rotation @ shift @ shear @ zoom.
    """
    theta = jnp.deg2rad(angle)
    s = jnp.deg2rad(shear)
    one, zero = jnp.ones_like(theta), jnp.zeros_like(theta)

    def mat(rows):
        return jnp.stack([jnp.stack(r) for r in rows])

    rotation = mat([[jnp.cos(theta), jnp.sin(theta), zero], [-jnp.sin(theta), jnp.cos(theta), zero], [zero, zero, one]])
    translate = mat([[one, zero, shift[0] * one], [zero, one, shift[1] * one], [zero, zero, one]])
    shearing = mat([[one, -jnp.sin(s), zero], [zero, jnp.cos(s), zero], [zero, zero, one]])
    scaling = mat([[zoom[0] * one, zero, zero], [zero, zoom[1] * one, zero], [zero, zero, one]])
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    to_centre = jnp.array([[1.0, 0.0, -cy], [0.0, 1.0, -cx], [0.0, 0.0, 1.0]])
    from_centre = jnp.array([[1.0, 0.0, cy], [0.0, 1.0, cx], [0.0, 0.0, 1.0]])
    return from_centre @ rotation @ translate @ shearing @ scaling @ to_centre


def sample(image: jax.Array, rows: jax.Array, cols: jax.Array, *, fill_mode: str = "nearest",
           cval: float = 0.0, interpolation: str = "bilinear") -> jax.Array:
    """Reads ``image (H, W, C)`` at float coordinates ``rows, cols (h, w)`` -> ``(h, w, C)``.

    ``jax.scipy.ndimage.map_coordinates`` per channel; its modes equal
    scipy's 'nearest', 'reflect', 'mirror', 'grid-wrap' ('wrap') and
    'grid-constant' ('constant'), which are Keras' fill modes.
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {sorted(INTERPOLATIONS)}, got {interpolation!r}.")
    order = INTERPOLATIONS[interpolation]

    def channel(plane):  # (H, W) -> (h, w)
        return jax.scipy.ndimage.map_coordinates(plane, [rows, cols], order=order, mode=fill_mode, cval=cval)

    return jax.vmap(channel, in_axes=2, out_axes=2)(image)


@functools.partial(jax.jit, static_argnames=("fill_mode", "cval", "interpolation"))
def warp(image: jax.Array, matrix: jax.Array, *, fill_mode: str = "nearest", cval: float = 0.0,
         interpolation: str = "bilinear") -> jax.Array:
    """Resamples one image ``(H, W, C)`` at ``matrix @ (row, col, 1)`` for every output pixel."""
    height, width, _ = image.shape
    rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32),
                              indexing="ij")
    grid = jnp.stack([rows.ravel(), cols.ravel(), jnp.ones(height * width)])  # (3, H*W)
    source = (matrix @ grid)[:2].reshape(2, height, width)
    # Snap coordinates within 1e-4 of a pixel centre, so exact maps (flips, rot90, identity) stay exact.
    source = jnp.where(jnp.abs(source - jnp.round(source)) < 1e-4, jnp.round(source), source)
    return sample(image, source[0], source[1], fill_mode=fill_mode, cval=cval, interpolation=interpolation)


@functools.partial(jax.jit, static_argnames=(
    "rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range", "fill_mode", "cval",
    "interpolation"))
def random_affine(
    images: jax.Array,
    rng: jax.Array,
    *,
    rotation_range: float = 0.0,
    width_shift_range: float = 0.0,
    height_shift_range: float = 0.0,
    shear_range: float = 0.0,
    zoom_range=0.0,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    interpolation: str = "bilinear",
) -> jax.Array:
    """One random rotation/shift/shear/zoom warp per image (Keras ImageDataGenerator ranges)."""
    _check_images(images)
    _, height, width, _ = images.shape
    dy_max = _shift_pixels(height_shift_range, height)
    dx_max = _shift_pixels(width_shift_range, width)
    z_low, z_high = _zoom_bounds(zoom_range)

    def one(image, key):
        u = jax.random.uniform(key, (6,), minval=-1.0, maxval=1.0)  # one draw: a small program
        zoom = z_low + (u[4:] + 1.0) * 0.5 * (z_high - z_low)
        matrix = affine_matrix(
            height, width,
            angle=u[0] * float(rotation_range),
            shift=(u[1] * dy_max, u[2] * dx_max),
            shear=u[3] * float(shear_range),
            zoom=(zoom[0], zoom[1]),
        )
        return warp(image, matrix, fill_mode=fill_mode, cval=cval, interpolation=interpolation)

    return _per_example(one, images, rng)


# --------------------------------------------------------------------------
# Crop with padding.


@functools.partial(jax.jit, static_argnames=("padding", "fill_mode", "cval"))
def random_crop(images: jax.Array, rng: jax.Array, *, padding: int, fill_mode: str = "constant",
                cval: float = 0.0) -> jax.Array:
    """Pads every side by ``padding`` pixels and crops back to (H, W) at a random offset."""
    _check_images(images)
    if fill_mode not in _PAD_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")
    padding = int(padding)
    if padding < 0:
        raise ValueError(f"crop_padding must be >= 0, got {padding}.")
    if padding == 0:
        return images
    _, height, width, channels = images.shape
    pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    mode = _PAD_MODES[fill_mode]
    extra = {"constant_values": cval} if mode == "constant" else {}
    padded = jnp.pad(images, pad, mode=mode, **extra)

    def one(image, key):
        dy, dx = jax.random.randint(key, (2,), 0, 2 * padding + 1)
        return jax.lax.dynamic_slice(image, (dy, dx, 0), (height, width, channels))

    return _per_example(one, padded, rng)


# --------------------------------------------------------------------------
# Photometric.


@functools.partial(jax.jit, static_argnames=("delta",))
def random_brightness(images: jax.Array, rng: jax.Array, *, delta: float) -> jax.Array:
    """Adds U(-delta, delta) to every pixel of an image; clips to [0, 1]."""
    _check_images(images)
    shifts = jax.random.uniform(rng, (images.shape[0], 1, 1, 1), minval=-delta, maxval=delta)
    return jnp.clip(images + shifts, 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("factor",))
def random_contrast(images: jax.Array, rng: jax.Array, *, factor: float) -> jax.Array:
    """Scales each image about its per-channel mean by U(1 - factor, 1 + factor); clips to [0, 1]."""
    _check_images(images)
    scale = jax.random.uniform(rng, (images.shape[0], 1, 1, 1), minval=1 - factor, maxval=1 + factor)
    mean = images.mean(axis=(1, 2), keepdims=True)
    return jnp.clip((images - mean) * scale + mean, 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("delta",))
def random_tint(images: jax.Array, rng: jax.Array, *, delta: float) -> jax.Array:
    """Adds U(-delta, delta) per image and channel (a colour cast); clips to [0, 1]."""
    _check_images(images)
    shifts = jax.random.uniform(rng, (images.shape[0], 1, 1, images.shape[3]), minval=-delta, maxval=delta)
    return jnp.clip(images + shifts, 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=("radius",))
def gaussian_blur(image: jax.Array, sigma, radius: int) -> jax.Array:
    """Separable Gaussian blur of one ``(H, W, C)`` image; sigma may be traced, radius is static."""
    offsets = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    weights = jnp.exp(-0.5 * (offsets / jnp.maximum(sigma, 1e-3)) ** 2)
    weights = weights / weights.sum()  # (2r+1,)
    height, width, _ = image.shape
    padded = jnp.pad(image, ((radius, radius), (0, 0), (0, 0)), mode="symmetric")
    image = sum(weights[k] * padded[k:k + height] for k in range(2 * radius + 1))
    padded = jnp.pad(image, ((0, 0), (radius, radius), (0, 0)), mode="symmetric")
    return sum(weights[k] * padded[:, k:k + width] for k in range(2 * radius + 1))


@functools.partial(jax.jit, static_argnames=("sigma",))
def random_blur(images: jax.Array, rng: jax.Array, *, sigma: float) -> jax.Array:
    """Blurs each image with a Gaussian of sigma U(0, sigma) pixels."""
    _check_images(images)
    if sigma <= 0:
        return images
    radius = max(1, math.ceil(3 * sigma))

    def one(image, key):
        return gaussian_blur(image, jax.random.uniform(key, (), maxval=sigma), radius)

    return _per_example(one, images, rng)


# --------------------------------------------------------------------------
# The configuration: every field of config.data.augment for images-only tasks.

# (name, default, comment): the one table of images-augmentation fields.
FIELDS = (
    ("rotation_range", 0.0, "random rotation U(-r, r) degrees, positive = counter-clockwise"),
    ("width_shift_range", 0.0, "random horizontal shift: a fraction of the width if < 1, else pixels"),
    ("height_shift_range", 0.0, "random vertical shift: a fraction of the height if < 1, else pixels"),
    ("shear_range", 0.0, "random shear U(-s, s) degrees"),
    ("zoom_range", 0.0, "zoom in [1 - z, 1 + z], or a (low, high) pair; > 1 shows more of the image"),
    ("fill_mode", "nearest", "pixels from outside the image: nearest | constant | reflect | wrap | mirror"),
    ("cval", 0.0, "fill value of fill_mode 'constant', and of RandAugment's uncovered pixels"),
    ("interpolation", "bilinear", "resampling of the affine warp: bilinear | nearest"),
    ("horizontal_flip", False, "mirror left-right with probability 1/2"),
    ("vertical_flip", False, "mirror up-down with probability 1/2"),
    ("crop_padding", 0, "pad by p pixels (by fill_mode), crop back at a random offset (0: off)"),
    ("brightness", 0.0, "add U(-b, b) to every pixel of an image"),
    ("contrast", 0.0, "scale about each channel's mean by U(1 - c, 1 + c)"),
    ("tint", 0.0, "add U(-t, t) per channel"),
    ("blur_sigma", 0.0, "Gaussian blur with sigma U(0, s) pixels"),
    ("rand_augment_ops", 0, "RandAugment: random ops per image, torchvision's num_ops (0: off)"),
    ("rand_augment_magnitude", 9, "RandAugment: magnitude bin 0..30 of 31 (torchvision's default 9)"),
    ("mixup_alpha", 0.0, "Mixup: lambda ~ Beta(a, a), classification only (0: off)"),
    ("cutmix_alpha", 0.0, "CutMix: lambda ~ Beta(a, a), classification only (0: off)"),
    ("mix_prob", 1.0, "probability that a batch is mixed at all (Mixup or CutMix)"),
    ("mix_switch_prob", 0.5, "probability of CutMix rather than Mixup when both alphas are > 0"),
    ("featurewise_center", False, "subtract the training set's per-channel mean (train and eval images)"),
    ("featurewise_std_normalization", False, "divide by the training set's per-channel std (train and eval)"),
    ("mean", None, "per-channel mean for featurewise_center (None: computed from the training split)"),
    ("std", None, "per-channel std for featurewise_std_normalization (None: computed from the training split)"),
)
DEFAULTS = {name: default for name, default, _ in FIELDS}
# The fields of build()'s per-example random ops: all but Mixup/CutMix and normalisation.
RANDOM_FIELDS = tuple(name for name in DEFAULTS if name not in MIX_FIELDS + NORMALIZE_FIELDS)
RAND_AUGMENT_BINS = 31  # torchvision's num_magnitude_bins

AugmentSettings = dataclasses.make_dataclass(
    "AugmentSettings", [(name, object, dataclasses.field(default=default)) for name, default, _ in FIELDS],
    frozen=True)
AugmentSettings.__module__ = __name__
AugmentSettings.__doc__ = (
    "Every field of config.data.augment (images-only tasks), filled from FIELDS' defaults and checked: "
    "frozen and hashable, so settings are static under jit. Build it with parse(cfg).")


def _where(name: str) -> str:
    return f"config.data.augment.{name}"


def _number(name: str, value, *, low: float | None = 0.0, high: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{_where(name)} must be a number, got {value!r}.") from None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{_where(name)} must be {bounds}, got {value!r}.")
    return number


def _integer(name: str, value, *, low: int = 0, high: int | None = None) -> int:
    number = _number(name, value, low=low, high=high)
    if number != int(number):
        raise ValueError(f"{_where(name)} must be a whole number, got {value!r}.")
    return int(number)


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{_where(name)} must be one of {tuple(choices)}, got {value!r}.")
    return value


def _channels(name: str, value):
    if value is None:
        return None
    try:
        return tuple(float(v) for v in np.ravel(np.asarray(value, np.float64)))
    except (TypeError, ValueError):
        raise ValueError(f"{_where(name)} must be per-channel numbers, got {value!r}.") from None


def _zoom(value):
    if np.ndim(value) == 0:
        zoom = _number("zoom_range", value)
    else:
        try:
            zoom = tuple(float(z) for z in value)
        except (TypeError, ValueError):
            raise ValueError(f"{_where('zoom_range')} must be a number or a (low, high) pair, got {value!r}.") from None
        if len(zoom) != 2:
            raise ValueError(f"{_where('zoom_range')} must be a number or a (low, high) pair, got {value!r}.")
    try:
        _zoom_bounds(zoom)
    except ValueError as e:
        raise ValueError(f"{_where('zoom_range')}: {e}") from None
    return zoom


_NONNEGATIVE = ("rotation_range", "width_shift_range", "height_shift_range", "shear_range", "brightness", "contrast",
                "tint", "blur_sigma", "mixup_alpha", "cutmix_alpha")
_FLAGS = ("horizontal_flip", "vertical_flip", "featurewise_center", "featurewise_std_normalization")


def parse(cfg) -> AugmentSettings:
    """The checked settings of ``config.data.augment`` (a mapping, ConfigDict, None or AugmentSettings).

    Missing fields and fields set to None take FIELDS' defaults; an unknown
    field or a bad value raises ValueError naming it.
    """
    if isinstance(cfg, AugmentSettings):
        return cfg
    if cfg is None:
        return AugmentSettings()
    if hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    items = dict(cfg.items() if hasattr(cfg, "items") else cfg)
    unknown = sorted(set(items) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown augment fields {unknown} in config.data.augment: known are {sorted(DEFAULTS)} "
                         f"(box and mask tasks take their own fields through task.make_augment).")
    fields = {name: DEFAULTS[name] if items.get(name) is None else items[name] for name in DEFAULTS}
    for name in _NONNEGATIVE:
        fields[name] = _number(name, fields[name])
    for name in _FLAGS:
        fields[name] = bool(fields[name])
    fields["cval"] = _number("cval", fields["cval"], low=None)
    fields["zoom_range"] = _zoom(fields["zoom_range"])
    fields["fill_mode"] = _choice("fill_mode", fields["fill_mode"], FILL_MODES)
    fields["interpolation"] = _choice("interpolation", fields["interpolation"], tuple(INTERPOLATIONS))
    fields["crop_padding"] = _integer("crop_padding", fields["crop_padding"])
    fields["rand_augment_ops"] = _integer("rand_augment_ops", fields["rand_augment_ops"])
    fields["rand_augment_magnitude"] = _integer("rand_augment_magnitude", fields["rand_augment_magnitude"],
                                                high=RAND_AUGMENT_BINS - 1)
    fields["mix_prob"] = _number("mix_prob", fields["mix_prob"], high=1.0)
    fields["mix_switch_prob"] = _number("mix_switch_prob", fields["mix_switch_prob"], high=1.0)
    fields["mean"] = _channels("mean", fields["mean"])
    fields["std"] = _channels("std", fields["std"])
    return AugmentSettings(**fields)


# --------------------------------------------------------------------------
# Composition.


def build(settings_or_cfg) -> AugmentFn:
    """``fn(images, rng) -> images`` applying the configured random ops in a fixed order.

    Order: flips, affine warp, padded crop, RandAugment, brightness, contrast,
    tint, blur. Takes :func:`parse`'s settings or a config (parsed here);
    normalisation and Mixup/CutMix fields are not its business (see
    :func:`build_normalizer`, :func:`build_mix`). A None or empty config (or
    all-zero ranges) gives :func:`identity`.
    """
    s = parse(settings_or_cfg)
    ops: list[Callable] = []
    horizontal, vertical = s.horizontal_flip, s.vertical_flip
    if horizontal or vertical:
        ops.append(lambda x, k: random_flip(x, k, horizontal=horizontal, vertical=vertical))
    zoom_bounds = _zoom_bounds(s.zoom_range)
    affine = {key: getattr(s, key) for key in AFFINE_FIELDS if key != "zoom_range"}
    if any(affine.values()) or zoom_bounds != (1.0, 1.0):
        ops.append(lambda x, k: random_affine(x, k, zoom_range=zoom_bounds, fill_mode=s.fill_mode, cval=s.cval,
                                              interpolation=s.interpolation, **affine))
    if s.crop_padding:
        ops.append(lambda x, k: random_crop(x, k, padding=s.crop_padding, fill_mode=s.fill_mode, cval=s.cval))
    if s.rand_augment_ops:
        from cnnlab.data import randaugment

        ops.append(lambda x, k: randaugment.rand_augment(
            x, k, num_ops=s.rand_augment_ops, magnitude=s.rand_augment_magnitude,
            num_magnitude_bins=RAND_AUGMENT_BINS, fill=s.cval))
    for key, op, name in ((("brightness", random_brightness, "delta"), ("contrast", random_contrast, "factor"),
                           ("tint", random_tint, "delta"), ("blur_sigma", random_blur, "sigma"))):
        value = getattr(s, key)
        if value:
            ops.append(lambda x, k, op=op, name=name, value=value: op(x, k, **{name: value}))
    if not ops:
        return identity

    @jax.jit
    def augment(images: jax.Array, rng: jax.Array) -> jax.Array:
        keys = jax.random.split(rng, len(ops))
        for op, key in zip(ops, keys):
            images = op(images, key)
        return images

    return augment


def build_mix(settings_or_cfg, num_classes: int) -> Callable[[dict, jax.Array], dict] | None:
    """``fn(batch, rng) -> batch`` of Mixup/CutMix (:func:`cnnlab.data.mixing.mix`), or None when both
    alphas are 0. The batch gains ``target`` (B, num_classes); label smoothing is the task's."""
    s = parse(settings_or_cfg)
    if not (s.mixup_alpha or s.cutmix_alpha):
        return None
    from cnnlab.data import mixing

    return functools.partial(mixing.mix, num_classes=int(num_classes), mixup_alpha=s.mixup_alpha,
                             cutmix_alpha=s.cutmix_alpha, mix_prob=s.mix_prob, switch_prob=s.mix_switch_prob)


# --------------------------------------------------------------------------
# Featurewise normalisation.


def featurewise_stats(data) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(mean, std)`` float32 ``(C,)`` of a training set.

    ``data`` is an array ``(N, H, W, C)`` (uint8 is scaled to [0, 1] like the
    pipeline does) or a ``cnnlab.data.Dataset`` (one epoch, padding left out).
    """
    total = total_sq = None
    count = 0

    def add(images):
        nonlocal total, total_sq, count
        images = np.asarray(images, np.float64)
        total = images.sum(axis=(0, 1, 2)) if total is None else total + images.sum(axis=(0, 1, 2))
        sq = np.square(images).sum(axis=(0, 1, 2))
        total_sq = sq if total_sq is None else total_sq + sq
        count += images.shape[0] * images.shape[1] * images.shape[2]

    if hasattr(data, "epoch"):
        for batch in data.epoch(0):
            add(batch["image"][batch["valid"]])
    else:
        array = np.asarray(data)
        if array.ndim != 4:
            raise ValueError(f"featurewise_stats needs (N, H, W, C) images, got shape {array.shape}.")
        scale = 1.0 / 255.0 if array.dtype == np.uint8 else 1.0
        for start in range(0, len(array), 1024):
            add(array[start:start + 1024] * scale)
    if not count:
        raise ValueError("featurewise_stats got no images.")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(images, mean=None, std=None, eps: float = 1e-6):
    """``(images - mean) / (std + eps)`` per channel, as Keras' featurewise options do."""
    if mean is not None:
        images = images - jnp.asarray(mean, images.dtype)
    if std is not None:
        images = images / (jnp.asarray(std, images.dtype) + eps)
    return images


def build_normalizer(config, stats: tuple | None = None) -> Callable[[jax.Array], jax.Array]:
    """``fn(images) -> images`` for ``featurewise_center``/``featurewise_std_normalization``.

    Statistics come from ``stats=(mean, std)`` (see :func:`featurewise_stats`)
    or from ``config.mean``/``config.std``. Apply it to train and eval images.
    """
    s = parse(config)
    center, scale = s.featurewise_center, s.featurewise_std_normalization
    if not (center or scale):
        return lambda images: images
    mean, std = stats if stats is not None else (s.mean, s.std)
    if (center and mean is None) or (scale and std is None):
        raise ValueError(
            "featurewise normalisation needs the training set's statistics: pass "
            "stats=cnnlab.data.augment.featurewise_stats(train_dataset) or set augment.mean/augment.std."
        )
    mean = np.asarray(mean, np.float32) if center else None
    std = np.asarray(std, np.float32) if scale else None
    return lambda images: normalize(images, mean, std)
