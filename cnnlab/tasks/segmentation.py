"""Semantic segmentation: per-pixel cross-entropy, confusion-matrix metrics, joint augmentation.

The model returns logits ``(B, H, W, K)``; the batch carries ``mask`` int32
``(B, H, W)`` with class indices and ``ignore_label`` (255) on unlabelled
pixels (VOC object borders, padding). Pixels with the ignore label, or with
any value outside [0, K), add neither loss nor counts.

Metrics come from one (K, K) confusion matrix summed over the whole
evaluation set (not averaged per image) and finalised by
``cnnlab.metrics.segmentation``: pixel accuracy, mean class accuracy,
per-class IoU, mean IoU (classes absent from both truth and prediction
skipped), frequency-weighted IoU, and the loss.

``make_augment(cfg)`` moves image and mask together (fields of
``config.data.augment``, all optional):
  flip        random horizontal flip (default True)
  scale       (low, high) random zoom factor range (default (1, 1))
  crop_size   (H, W) output size (default: the input size)
  fill        image value outside the source (default 0.0); mask gets
              ``ignore_label`` there, so padding never counts as a class.
The output is a random window (uniform offset) of the zoomed image.
"""
import dataclasses
import os
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.metrics.segmentation import IGNORE_LABEL, confusion_update, segmentation_scores
from cnnlab.tasks.base import Task, register, valid_mask

AUGMENT_FIELDS = ("flip", "scale", "crop_size", "fill")


def pixel_cross_entropy(logits, masks, ignore_label: int = IGNORE_LABEL, class_weights=None):
    """Per-pixel softmax cross-entropy and weights: ((B, H, W) losses, (B, H, W) weights).

    The weight of a pixel is its class weight (1 without ``class_weights``)
    and 0 where the mask holds ``ignore_label`` or a value outside [0, K).
    The mean loss is ``(losses * weights).sum() / weights.sum()`` (PyTorch's
    weighted ``CrossEntropyLoss`` convention).
    """
    logits = logits.astype(jnp.float32)  # (B, H, W, K)
    num_classes = logits.shape[-1]
    counted = (masks != ignore_label) & (masks >= 0) & (masks < num_classes)
    labels = jnp.where(counted, masks, 0)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    losses = -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]  # (B, H, W)
    weights = counted.astype(jnp.float32)
    if class_weights is not None:
        weights = weights * jnp.asarray(class_weights, jnp.float32)[labels]
    return losses, weights


@register("segmentation")
@dataclasses.dataclass(frozen=True)
class Segmentation(Task):
    """Pixel-wise classification into ``num_classes`` classes.

    Attributes:
      num_classes: classes per pixel (the logits' last dimension).
      ignore_label: mask value excluded from loss and metrics (255).
      class_weights: optional per-class loss weights (length num_classes),
        e.g. to up-weight rare classes.
    """

    num_classes: int
    ignore_label: int = IGNORE_LABEL
    class_weights: Optional[Tuple[float, ...]] = None
    keys: Tuple[str, ...] = ("image", "mask")

    def __post_init__(self):
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise ValueError(f"task.num_classes={self.num_classes!r} must be an integer >= 2 "
                             f"(background counts as a class).")
        if 0 <= self.ignore_label < self.num_classes:
            raise ValueError(f"task.ignore_label={self.ignore_label} is a real class index "
                             f"(0..{self.num_classes - 1}); use a value outside, e.g. 255.")
        if self.class_weights is not None:
            weights = tuple(float(w) for w in self.class_weights)
            if len(weights) != self.num_classes or min(weights) < 0 or not any(weights):
                raise ValueError(f"task.class_weights must hold {self.num_classes} non-negative numbers, "
                                 f"not all zero; got {self.class_weights!r}.")
            object.__setattr__(self, "class_weights", weights)

    def _check(self, logits, batch):
        masks = batch["mask"]
        if logits.ndim != 4 or logits.shape[:3] != masks.shape or logits.shape[-1] != self.num_classes:
            raise ValueError(
                f"segmentation needs logits (B, H, W, {self.num_classes}) matching the masks "
                f"{tuple(masks.shape)}; got {tuple(logits.shape)}. Use a dense model (fcn8s, ...) and "
                f"set config.model.num_classes to the number of mask classes.")
        example = valid_mask(batch, masks.shape[0]) > 0  # (B,)
        return jnp.where(example[:, None, None], masks, self.ignore_label)

    def predictions(self, logits):
        """Class index per pixel (B, H, W)."""
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)

    def loss(self, logits, batch):
        masks = self._check(logits, batch)
        losses, weights = pixel_cross_entropy(logits, masks, self.ignore_label, self.class_weights)
        return (losses * weights).sum() / jnp.maximum(weights.sum(), 1e-12), {}

    def metric_sums(self, logits, batch):
        masks = self._check(logits, batch)
        losses, weights = pixel_cross_entropy(logits, masks, self.ignore_label, self.class_weights)
        cm = jnp.zeros((self.num_classes, self.num_classes), jnp.int32)
        return {
            "loss_sum": (losses * weights).sum(),
            "loss_weight": weights.sum(),
            "confusion": confusion_update(cm, masks, self.predictions(logits), self.ignore_label),
        }

    def finalize(self, sums):
        """Metric values from summed ``metric_sums`` (per-class values as lists)."""
        weight = float(sums.get("loss_weight", 0.0))
        out = {"loss": float(sums["loss_sum"]) / weight if weight else float("nan")}
        scores = segmentation_scores(np.asarray(sums["confusion"]))
        for key, value in scores.items():
            out[key] = [float(v) for v in value] if np.ndim(value) else float(value)
        return out

    def make_augment(self, aug_config):
        """fn(batch, rng) -> batch moving ``image`` and ``mask`` together (module docstring)."""
        return make_joint_augment(aug_config, self.ignore_label)


def _augment_settings(aug_config) -> dict:
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


def write_overlays(model, variables, batches, out_dir: str, class_names=None, limit: int = 8,
                   prefix: str = "example") -> list:
    """Predicts masks for ``batches`` and writes image | truth | prediction PNGs.

    batches: host batches with ``image``, ``mask`` (and ``valid``); the first
    ``limit`` valid examples are drawn. Returns the written paths.
    """
    from cnnlab.viz.segmentation import plot_segmentation

    if limit < 1:
        raise ValueError(f"limit={limit} must be >= 1.")
    os.makedirs(out_dir, exist_ok=True)
    predict = jax.jit(lambda v, x: jnp.argmax(model.apply(v, x, train=False), axis=-1))
    paths = []
    for batch in batches:
        preds = np.asarray(predict(variables, batch["image"]))  # (B, H, W)
        valid = batch.get("valid", np.ones(len(preds), bool))
        for image, mask, pred, ok in zip(batch["image"], batch["mask"], preds, valid):
            if not ok:
                continue
            path = os.path.join(out_dir, f"{prefix}_{len(paths):03d}.png")
            paths.append(plot_segmentation(image, mask, pred, path, class_names=class_names))
            if len(paths) >= limit:
                return paths
    return paths


def format_report(metrics: dict, class_names=None) -> str:
    """Multi-line text: the scalar metrics, then IoU and accuracy per class by name."""
    lines = [" ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))]
    per_iou = next((v for k, v in metrics.items() if k.endswith("per_class_iou")), None)
    per_acc = next((v for k, v in metrics.items() if k.endswith("class_accuracy")
                    and not k.endswith("mean_class_accuracy")), None)
    if per_iou is not None:
        names = list(class_names or [])
        lines.append(f"{'class':<16} {'IoU':>7} {'accuracy':>9}")
        for k, iou in enumerate(per_iou):
            name = names[k] if k < len(names) else f"class {k}"
            acc = per_acc[k] if per_acc is not None else float("nan")
            lines.append(f"{name:<16} {iou:>7.4f} {acc:>9.4f}")
    return "\n".join(lines)

