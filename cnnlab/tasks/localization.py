"""Classification plus localization of one object: joint class + box loss, IoU metric.

The model (``cnnlab.models.localization.Localizer``) returns ``{"logits":
(B, K), "boxes": (B, 4)}`` with boxes normalised (x1, y1, x2, y2) in [0, 1].
The target object of an example is its largest real box (for the
one-object shapes variant, its only box; the example's ``label`` is that
object's class in the shapes and VOC sources). The loss is
``class_weight * cross-entropy + box_weight * box loss`` (the lesson's 0.8 /
0.2 with MSE by default), the box loss being 'mse', 'smooth_l1', 'iou'
(1 - IoU) or 'giou' (1 - GIoU); examples without a box only get the class
term. Metrics: ``accuracy``, ``mean_iou`` (mean IoU of predicted and true
box), ``iou50`` (fraction localised with IoU >= 0.5) and ``correct50``
(class right and IoU >= 0.5, the classic localization accuracy).
"""
import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import optax

from cnnlab.boxes import box_area, elementwise_giou, elementwise_iou
from cnnlab.tasks.base import Task, ratio_metrics, register, valid_mask
from cnnlab.tasks.detection import smooth_l1

BOX_LOSSES = ("mse", "smooth_l1", "iou", "giou")


def target_box(boxes, box_labels):
    """The largest real box of each example -> (boxes (B, 4), has_box float (B,))."""
    real = box_labels >= 0  # (B, N)
    areas = jnp.where(real, box_area(boxes), -1.0)  # (B, N)
    index = jnp.argmax(areas, axis=1)  # (B,)
    chosen = jnp.take_along_axis(boxes, index[:, None, None], axis=1)[:, 0]  # (B, 4)
    return chosen, real.any(axis=1).astype(jnp.float32)


@register("localization")
@dataclasses.dataclass(frozen=True)
class Localization(Task):
    """Joint classification and single-box regression (see the module docstring)."""

    num_classes: int
    class_weight: float = 0.8
    box_weight: float = 0.2
    box_loss: str = "mse"
    keys: Tuple[str, ...] = ("image", "label", "boxes", "box_labels")

    def __post_init__(self):
        if self.box_loss not in BOX_LOSSES:
            raise ValueError(f"task.box_loss={self.box_loss!r}; use one of {BOX_LOSSES}.")
        if self.class_weight < 0 or self.box_weight < 0:
            raise ValueError("task.class_weight and task.box_weight must be >= 0.")

    def _check(self, outputs):
        if not isinstance(outputs, dict) or not {"logits", "boxes"} <= set(outputs):
            raise ValueError("the localization task needs a model returning {'logits', 'boxes'}, "
                             "such as config.model.name='localizer'.")

    def per_example_box_loss(self, predicted, target):
        if self.box_loss == "mse":
            return ((predicted - target) ** 2).mean(-1)
        if self.box_loss == "smooth_l1":
            return smooth_l1(predicted - target, beta=0.1).mean(-1)
        if self.box_loss == "iou":
            return 1.0 - elementwise_iou(predicted, target)
        return 1.0 - elementwise_giou(predicted, target)

    def _terms(self, outputs, batch):
        self._check(outputs)
        logits, predicted = outputs["logits"], outputs["boxes"]
        labels = batch["label"]
        mask = valid_mask(batch, labels.shape[0])  # (B,)
        target, has_box = target_box(batch["boxes"], batch["box_labels"])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)  # (B,)
        box = self.per_example_box_loss(predicted, target)  # (B,)
        iou = elementwise_iou(predicted, target)  # (B,)
        return mask, has_box * mask, ce, box, iou

    def loss(self, outputs, batch):
        mask, boxed, ce, box, _ = self._terms(outputs, batch)
        ce_mean = (ce * mask).sum() / jnp.maximum(mask.sum(), 1.0)
        box_mean = (box * boxed).sum() / jnp.maximum(boxed.sum(), 1.0)
        total = self.class_weight * ce_mean + self.box_weight * box_mean
        return total, {"ce": ce_mean, "box_loss": box_mean}

    def metric_sums(self, outputs, batch):
        mask, boxed, ce, box, iou = self._terms(outputs, batch)
        correct = (jnp.argmax(outputs["logits"], -1) == batch["label"]).astype(jnp.float32)
        hit = (iou >= 0.5).astype(jnp.float32)
        return {
            "loss_sum": (self.class_weight * ce * mask).sum() + (self.box_weight * box * boxed).sum(),
            "accuracy_sum": (correct * mask).sum(),
            "count": mask.sum(),
            "iou_sum": (iou * boxed).sum(),
            "iou50_sum": (hit * boxed).sum(),
            "correct50_sum": (hit * correct * boxed).sum(),
            "box_count": boxed.sum(),
        }

    def finalize(self, sums):
        out = ratio_metrics({k: v for k, v in sums.items() if k in ("loss_sum", "accuracy_sum", "count")})
        boxes = float(sums.get("box_count", 0.0))
        for key in ("iou", "iou50", "correct50"):
            out["mean_iou" if key == "iou" else key] = (
                float(sums[f"{key}_sum"]) / boxes if boxes else float("nan"))
        return out

    def predictions(self, outputs):
        """The predicted box as a one-row detection: boxes (B, 1, 4), scores (B, 1) = the
        softmax probability of the predicted class, labels (B, 1)."""
        self._check(outputs)
        probs = jax.nn.softmax(outputs["logits"], axis=-1)
        b = outputs["boxes"]  # (B, 4); corners may come out swapped early in training
        ordered = jnp.concatenate([jnp.minimum(b[:, :2], b[:, 2:]), jnp.maximum(b[:, :2], b[:, 2:])], -1)
        return {"boxes": ordered[:, None, :], "scores": probs.max(-1)[:, None],
                "labels": jnp.argmax(probs, -1).astype(jnp.int32)[:, None]}

    def make_augment(self, aug_config):
        from cnnlab.data import box_augment

        return box_augment.build(aug_config)

