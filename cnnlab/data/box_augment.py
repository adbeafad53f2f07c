"""Box-aware augmentation on device: flips and scale/crop that move boxes with the pixels.

Detection batches carry fixed-size padded targets (``boxes`` (B, N, 4)
normalised x1, y1, x2, y2 and ``box_labels`` (B, N), -1 = padding), so every
transform keeps those shapes: a box that leaves the picture, or keeps less
than ``min_visible`` of its area inside it, becomes a padding row (box -1,
label -1); the others are clipped to the picture. A ``mask`` (B, H, W), if
present, moves with the pixels (nearest sampling, 255 = ignore outside).

The scale/crop transform picks a square-in-normalised-units window of side
``s`` (``scale_range``; s < 1 zooms in, s > 1 zooms out onto a ``fill``
border) at a random position and resamples it to the full image size:
output pixel centre (i + 0.5) / H maps to y0 + s * (i + 0.5) / H in the
input, and a box moves by b' = (b - (x0, y0, x0, y0)) / s. Everything is
jittable with per-example randomness from split keys.

``build(cfg)`` -> ``fn(batch, rng) -> batch``; cfg fields (all optional):
  horizontal_flip  (True)   flip left-right with probability 1/2.
  vertical_flip    (False)  flip top-bottom with probability 1/2.
  scale_range      ((1, 1)) window side range; (1, 1) disables scale/crop.
  crop_probability (1.0)    probability of applying the scale/crop.
  min_visible      (0.5)    fraction of a box's area that must stay inside.
  brightness       (0.0)    add U(-b, b) to all pixels.
  contrast         (0.0)    scale deviations from the mean by U(1 - c, 1 + c).
  fill             (0.5)    pixel value outside the input when zooming out.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

MASK_IGNORE = 255
FIELDS = ("horizontal_flip", "vertical_flip", "scale_range", "crop_probability", "min_visible",
          "brightness", "contrast", "fill")


def _pixel_coords(size: int, start, side):
    """Source pixel coordinate (index space) of every output pixel centre along one axis."""
    centres = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size  # (size,) normalised
    return (start + side * centres) * size - 0.5


def _bilinear(image, ys, xs, fill):
    """image (H, W, C) sampled at rows ys (h,) and columns xs (w,) -> (h, w, C); outside = fill."""
    height, width = image.shape[:2]
    y0 = jnp.floor(ys)
    x0 = jnp.floor(xs)
    wy = (ys - y0)[:, None, None]
    wx = (xs - x0)[None, :, None]
    y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)

    def tap(yi, xi):
        inside = ((yi >= 0) & (yi < height))[:, None] & ((xi >= 0) & (xi < width))[None, :]
        value = image[jnp.clip(yi, 0, height - 1)][:, jnp.clip(xi, 0, width - 1)]  # (h, w, C)
        return jnp.where(inside[..., None], value, fill)

    top = tap(y0, x0) * (1 - wx) + tap(y0, x0 + 1) * wx
    bottom = tap(y0 + 1, x0) * (1 - wx) + tap(y0 + 1, x0 + 1) * wx
    return top * (1 - wy) + bottom * wy


def _nearest(mask, ys, xs):
    """mask (H, W) sampled at the nearest pixels -> (h, w); outside = MASK_IGNORE."""
    height, width = mask.shape
    yi = jnp.round(ys).astype(jnp.int32)
    xi = jnp.round(xs).astype(jnp.int32)
    inside = ((yi >= 0) & (yi < height))[:, None] & ((xi >= 0) & (xi < width))[None, :]
    value = mask[jnp.clip(yi, 0, height - 1)][:, jnp.clip(xi, 0, width - 1)]
    return jnp.where(inside, value, MASK_IGNORE).astype(mask.dtype)


def transform_example(image, boxes, labels, window, hflip, vflip, *, mask=None,
                      min_visible: float = 0.5, fill: float = 0.5):
    """Crops ``window`` (x0, y0, side) out of one example, resizes it back, then flips.

    image (H, W, C); boxes (N, 4) normalised xyxy; labels (N,) with -1 padding;
    window: 3 floats, normalised; hflip/vflip: bool scalars; mask (H, W) or None.
    Returns (image, boxes, labels, mask) with the same shapes.
    """
    height, width = image.shape[:2]
    x0, y0, side = window[0], window[1], window[2]
    ys = _pixel_coords(height, y0, side)
    xs = _pixel_coords(width, x0, side)
    ys = jnp.where(vflip, ys[::-1], ys)
    xs = jnp.where(hflip, xs[::-1], xs)
    out_image = _bilinear(image, ys, xs, jnp.asarray(fill, image.dtype)).astype(image.dtype)
    out_mask = None if mask is None else _nearest(mask, ys, xs)

    moved = (boxes - jnp.stack([x0, y0, x0, y0])) / side  # (N, 4)
    clipped = jnp.clip(moved, 0.0, 1.0)
    area = jnp.maximum(moved[:, 2] - moved[:, 0], 0) * jnp.maximum(moved[:, 3] - moved[:, 1], 0)
    cw = clipped[:, 2] - clipped[:, 0]
    ch = clipped[:, 3] - clipped[:, 1]
    visible = jnp.where(area > 0, cw * ch / jnp.where(area > 0, area, 1.0), 0.0)
    keep = (labels >= 0) & (cw > 0) & (ch > 0) & (visible >= min_visible)
    x1 = jnp.where(hflip, 1.0 - clipped[:, 2], clipped[:, 0])
    x2 = jnp.where(hflip, 1.0 - clipped[:, 0], clipped[:, 2])
    y1 = jnp.where(vflip, 1.0 - clipped[:, 3], clipped[:, 1])
    y2 = jnp.where(vflip, 1.0 - clipped[:, 1], clipped[:, 3])
    out_boxes = jnp.where(keep[:, None], jnp.stack([x1, y1, x2, y2], -1), -1.0).astype(boxes.dtype)
    out_labels = jnp.where(keep, labels, -1).astype(labels.dtype)
    return out_image, out_boxes, out_labels, out_mask


def _setting(cfg, key, default):
    value = cfg.get(key, default) if cfg is not None else default
    return default if value is None else value


def check_config(cfg) -> dict:
    """The settings of ``cfg`` with defaults filled in; raises ValueError on bad values."""
    if cfg is not None:
        unknown = sorted(set(cfg.keys()) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown box augmentation field(s) {unknown} in data.augment; "
                             f"known fields are {list(FIELDS)}.")
    s = {
        "horizontal_flip": bool(_setting(cfg, "horizontal_flip", True)),
        "vertical_flip": bool(_setting(cfg, "vertical_flip", False)),
        "scale_range": tuple(float(v) for v in _setting(cfg, "scale_range", (1.0, 1.0))),
        "crop_probability": float(_setting(cfg, "crop_probability", 1.0)),
        "min_visible": float(_setting(cfg, "min_visible", 0.5)),
        "brightness": float(_setting(cfg, "brightness", 0.0)),
        "contrast": float(_setting(cfg, "contrast", 0.0)),
        "fill": float(_setting(cfg, "fill", 0.5)),
    }
    low_high = s["scale_range"]
    if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
        raise ValueError(f"data.augment.scale_range must be (min, max) with 0 < min <= max, got {low_high}.")
    if not 0.0 <= s["crop_probability"] <= 1.0 or not 0.0 <= s["min_visible"] <= 1.0:
        raise ValueError("data.augment.crop_probability and min_visible must lie in [0, 1].")
    if s["brightness"] < 0 or not 0 <= s["contrast"] < 1:
        raise ValueError("data.augment.brightness must be >= 0 and contrast in [0, 1).")
    return s


def build(cfg):
    """``fn(batch, rng) -> batch`` applying the box-aware augmentation of ``cfg`` (None: identity)."""
    if cfg is None:
        return lambda batch, rng: batch
    s = check_config(cfg)
    low, high = s["scale_range"]

    def one(key, image, boxes, labels, mask):
        k_side, k_x, k_y, k_crop, k_h, k_v, k_b, k_c = jax.random.split(key, 8)
        side = jax.random.uniform(k_side, (), minval=low, maxval=high)
        apply_crop = jax.random.uniform(k_crop) < s["crop_probability"]
        side = jnp.where(apply_crop, side, 1.0)
        lo, hi = jnp.minimum(0.0, 1.0 - side), jnp.maximum(0.0, 1.0 - side)
        x0 = jax.random.uniform(k_x, (), minval=lo, maxval=hi)
        y0 = jax.random.uniform(k_y, (), minval=lo, maxval=hi)
        hflip = s["horizontal_flip"] & (jax.random.uniform(k_h) < 0.5)
        vflip = s["vertical_flip"] & (jax.random.uniform(k_v) < 0.5)
        image, boxes, labels, mask = transform_example(
            image, boxes, labels, jnp.stack([x0, y0, side]), hflip, vflip, mask=mask,
            min_visible=s["min_visible"], fill=s["fill"])
        if s["brightness"] or s["contrast"]:
            mean = image.mean()
            c = jax.random.uniform(k_c, (), minval=1 - s["contrast"], maxval=1 + s["contrast"])
            b = jax.random.uniform(k_b, (), minval=-s["brightness"], maxval=s["brightness"])
            image = jnp.clip((image - mean) * c + mean + b, 0.0, 1.0)
        return image, boxes, labels, mask

    def augment(batch, rng):
        batch = dict(batch)
        images = batch["image"]  # (B, H, W, C)
        if "boxes" not in batch or "box_labels" not in batch:
            raise ValueError("box augmentation needs 'boxes' and 'box_labels' in the batch; use a "
                             "detection data source or the images-only augmentation.")
        keys = jax.random.split(rng, images.shape[0])
        mask = batch.get("mask", None)
        if mask is None:
            out = jax.vmap(lambda k, i, b, l: one(k, i, b, l, None))(
                keys, images, batch["boxes"], batch["box_labels"])
        else:
            out = jax.vmap(one)(keys, images, batch["boxes"], batch["box_labels"], mask)
            batch["mask"] = out[3]
        batch["image"], batch["boxes"], batch["box_labels"] = out[0], out[1], out[2]
        return batch

    return augment
