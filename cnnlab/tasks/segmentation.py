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

``make_augment(cfg)`` moves image and mask together with
``cnnlab.data.mask_augment`` (fields of ``config.data.augment``: flip,
scale, crop_size, fill); masks get ``ignore_label`` outside the source.
Overlays of predictions: ``cnnlab.viz.segmentation.write_overlays``; the
text report: ``cnnlab.experiments.report.format_segmentation_report``.
"""
import dataclasses
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.metrics.segmentation import IGNORE_LABEL, confusion_update, segmentation_scores
from cnnlab.tasks.base import Task, register, valid_mask


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
        """fn(batch, rng) -> batch moving ``image`` and ``mask`` together (``cnnlab.data.mask_augment``)."""
        from cnnlab.data import mask_augment

        return mask_augment.make_joint_augment(aug_config, self.ignore_label)
