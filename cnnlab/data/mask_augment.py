"""Joint image-and-mask augmentation on device for segmentation batches: flip, zoom, window.

Segmentation batches carry ``image`` (B, H, W, C) and ``mask`` (B, H, W)
class maps; every transform moves both with the same geometry, sampling the
image bilinearly and the mask by nearest neighbour, and marks mask pixels
that come from outside the source with the ignore label (255), so padding
never counts as a class. Everything is jittable with per-example randomness.

``make_joint_augment(cfg, ignore_label)`` -> ``fn(batch, rng) -> batch``;
cfg fields (``config.data.augment``, all optional):
  flip        random horizontal flip (default True)
  scale       (low, high) random zoom factor range (default (1, 1))
  crop_size   (H, W) output size, or an int (default: the input size)
  fill        image value outside the source (default 0.0).
The output is a random window (uniform offset) of the zoomed image. Box
targets have their own transforms in ``cnnlab.data.box_augment``.
"""
import jax
import jax.numpy as jnp
import numpy as np

IGNORE_LABEL = 255  # the masks' ignore value (cnnlab.metrics.segmentation.IGNORE_LABEL)
AUGMENT_FIELDS = ("flip", "scale", "crop_size", "fill")


def _augment_settings(aug_config) -> dict:
    """The settings of ``aug_config`` (empty when there is nothing to do); ValueError on bad fields."""
    if aug_config is None:
        return {}
    cfg = aug_config.to_dict() if hasattr(aug_config, "to_dict") else dict(aug_config)
    unknown = sorted(set(cfg) - set(AUGMENT_FIELDS))
    if unknown:
        raise ValueError(f"unknown segmentation augment field(s) {unknown} in config.data.augment; "
                         f"known fields are {list(AUGMENT_FIELDS)}.")
    if not cfg:
        return {}
    scale = tuple(float(s) for s in (cfg.get("scale") or (1.0, 1.0)))
    if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
        raise ValueError(f"data.augment.scale must be (low, high) with 0 < low <= high, got {cfg.get('scale')!r}.")
    crop = cfg.get("crop_size")
    if crop is not None:
        crop = (int(crop), int(crop)) if np.ndim(crop) == 0 else tuple(int(c) for c in crop)
        if len(crop) != 2 or min(crop) < 1:
            raise ValueError(f"data.augment.crop_size must be (H, W) or an int, got {cfg.get('crop_size')!r}.")
    return {"flip": bool(cfg.get("flip", True)), "scale": scale, "crop_size": crop,
            "fill": float(cfg.get("fill", 0.0) or 0.0)}


def warp_example(image, mask, scale, offset, flip, out_hw, fill=0.0, ignore_label=IGNORE_LABEL):
    """Zooms one example by ``scale``, shifts it by ``offset`` (y, x) pixels, optionally flips it.

    Output pixel (y, x) reads source coordinate ((y + 0.5 - oy) / scale - 0.5,
    (x + 0.5 - ox) / scale - 0.5), x mirrored first when ``flip``. The image
    is sampled bilinearly (``fill`` outside), the mask by nearest neighbour
    (``ignore_label`` outside). image (H, W, C), mask (H, W) -> out_hw.
    """
    height, width = mask.shape
    ys = (jnp.arange(out_hw[0], dtype=jnp.float32) + 0.5 - offset[0]) / scale - 0.5  # (h,)
    xs = (jnp.arange(out_hw[1], dtype=jnp.float32) + 0.5 - offset[1]) / scale - 0.5  # (w,)
    xs = jnp.where(flip, width - 1 - xs, xs)
    grid_y, grid_x = jnp.meshgrid(ys, xs, indexing="ij")  # (h, w)

    def sample(channel):  # (H, W) -> (h, w)
        return jax.scipy.ndimage.map_coordinates(channel, [grid_y, grid_x], order=1, mode="constant",
                                                 cval=fill)

    warped = jax.vmap(sample, in_axes=-1, out_axes=-1)(image)  # (h, w, C)
    iy = jnp.floor(grid_y + 0.5).astype(jnp.int32)
    ix = jnp.floor(grid_x + 0.5).astype(jnp.int32)
    inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
    labels = mask[jnp.clip(iy, 0, height - 1), jnp.clip(ix, 0, width - 1)]
    return warped.astype(image.dtype), jnp.where(inside, labels, ignore_label).astype(mask.dtype)


def make_joint_augment(aug_config, ignore_label: int = IGNORE_LABEL):
    """fn(batch, rng) -> batch: random flip, zoom and window, per example (jittable)."""
    settings = _augment_settings(aug_config)
    if not settings:
        return lambda batch, rng: batch

    def augment(batch, rng):
        images, masks = batch["image"], batch["mask"]  # (B, H, W, C), (B, H, W)
        n, height, width = masks.shape
        out_hw = settings["crop_size"] or (height, width)
        k_scale, k_offset, k_flip = jax.random.split(rng, 3)
        low, high = settings["scale"]
        scale = jax.random.uniform(k_scale, (n,), minval=low, maxval=high)
        # The window's offset is uniform between "aligned at the top/left" and "at the bottom/right".
        room = jnp.stack([out_hw[0] - scale * height, out_hw[1] - scale * width], -1)  # (B, 2)
        offset = jax.random.uniform(k_offset, (n, 2)) * room
        flip = jax.random.bernoulli(k_flip, 0.5, (n,)) if settings["flip"] else jnp.zeros((n,), bool)
        warp = jax.vmap(lambda im, m, s, o, f: warp_example(im, m, s, o, f, out_hw, settings["fill"],
                                                            ignore_label))
        out = dict(batch)
        out["image"], out["mask"] = warp(images, masks, scale, offset, flip)
        return out

    return augment
