"""Object detection with anchors: target assignment, focal + box loss, decoding, NMS, mAP.

Works with models that return ``{"class_logits": (B, A, K), "box_deltas":
(B, A, 4), "anchors": (A, 4)}`` (``cnnlab.models.detection.SSD``).

Training: every anchor is matched to the ground truth it overlaps most
(``cnnlab.boxes.match_anchors``: IoU >= ``positive_iou`` positive, <
``negative_iou`` background, in between ignored; every object also claims
its best anchor). Classification is the sigmoid focal loss (Lin et al. 2017)
over positives and negatives; box regression is smooth-L1 on the SSD-coded
deltas, or GIoU loss on the decoded boxes, over positives. Both are divided
by the number of positive anchors in the batch.

Inference (``detect``, compiled, batched): sigmoid scores, the
``pre_nms_top_k`` best (anchor, class) pairs, decoded and clipped boxes,
per-class ``nms_padded``; fixed-size outputs ``boxes`` (B, M, 4)
normalised, ``scores`` (B, M), ``labels`` (B, M) with -1 padding.

Evaluation (``host_init``/``host_update``/``host_finalize``, or
``host_evaluate`` at once): VOC mAP@0.5 (all-point, ``map50``), COCO
AP@[.5:.95] (``ap``), ``ap50``, ``ap75``, ``ar100`` from
``cnnlab.metrics.detection`` on pixel boxes; objects flagged
``box_difficult`` in a batch are ignored by the VOC metric. Only each
image's detections and truths are kept between batches, never the images.

Drawing detections: ``cnnlab.viz.detection.draw_predictions``.
"""
import dataclasses
import functools
import weakref
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnlab.boxes import (SSD_VARIANCES, clip_boxes, decode_boxes, elementwise_giou,
                          encode_boxes, match_anchors, nms_padded)
from cnnlab.metrics.detection import coco_evaluate, voc_evaluate
from cnnlab.tasks.base import Task, ratio_metrics, register, valid_mask

BOX_LOSSES = ("smooth_l1", "giou")


def sigmoid_focal_loss(logits, targets, alpha: float = 0.25, gamma: float = 2.0):
    """Elementwise focal loss: -alpha_t (1 - p_t)^gamma log p_t; logits, targets (..., K)."""
    ce = optax.sigmoid_binary_cross_entropy(logits, targets)
    p = jax.nn.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss


def smooth_l1(x, beta: float = 1.0 / 9.0):
    """Huber-style smooth L1: 0.5 x^2 / beta below beta, |x| - beta / 2 above."""
    ax = jnp.abs(x)
    return jnp.where(ax < beta, 0.5 * x * x / beta, ax - 0.5 * beta)


@register("detection")
@dataclasses.dataclass(frozen=True)
class Detection(Task):
    """Single-stage anchor detection (see the module docstring)."""

    num_classes: int
    positive_iou: float = 0.5
    negative_iou: float = 0.4
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    box_loss: str = "smooth_l1"
    box_weight: float = 1.0
    score_threshold: float = 0.05
    nms_iou: float = 0.5
    max_detections: int = 100
    pre_nms_top_k: int = 400
    keys: Tuple[str, ...] = ("image", "boxes", "box_labels")

    def __post_init__(self):
        if self.box_loss not in BOX_LOSSES:
            raise ValueError(f"task.box_loss={self.box_loss!r}; use one of {BOX_LOSSES}.")
        if not 0 < self.negative_iou <= self.positive_iou <= 1:
            raise ValueError(f"need 0 < task.negative_iou <= task.positive_iou <= 1, got "
                             f"{self.negative_iou} and {self.positive_iou}.")
        if self.max_detections < 1 or self.pre_nms_top_k < 1:
            raise ValueError("task.max_detections and task.pre_nms_top_k must be >= 1.")

    # ------------------------------------------------------------------ training
    def _check_outputs(self, outputs):
        if not isinstance(outputs, dict) or not {"class_logits", "box_deltas", "anchors"} <= set(outputs):
            raise ValueError("the detection task needs a model returning {'class_logits', 'box_deltas', "
                             "'anchors'} such as config.model.name='ssd'.")
        if outputs["class_logits"].shape[-1] != self.num_classes:
            raise ValueError(f"the model predicts {outputs['class_logits'].shape[-1]} classes but the "
                             f"task has num_classes={self.num_classes}.")

    def assign(self, anchors, boxes, labels):
        """Targets per anchor: (matched (B, A) int: >= 0 gt index, -1 background, -2 ignored,
        class one-hot (B, A, K), matched boxes (B, A, 4))."""
        matched = jax.vmap(match_anchors, in_axes=(None, 0, 0, None, None))(
            anchors, boxes, labels, self.positive_iou, self.negative_iou)  # (B, A)
        index = jnp.maximum(matched, 0)
        classes = jnp.take_along_axis(labels, index, axis=1)  # (B, A)
        onehot = jax.nn.one_hot(classes, self.num_classes) * (matched >= 0)[..., None]
        target_boxes = jnp.take_along_axis(boxes, index[..., None], axis=1)  # (B, A, 4)
        return matched, onehot, target_boxes

    def _losses(self, outputs, batch):
        self._check_outputs(outputs)
        logits = outputs["class_logits"]  # (B, A, K)
        deltas = outputs["box_deltas"]  # (B, A, 4)
        anchors = outputs["anchors"]  # (A, 4)
        mask = valid_mask(batch, logits.shape[0])  # (B,)
        matched, onehot, target_boxes = self.assign(anchors, batch["boxes"], batch["box_labels"])
        positive = (matched >= 0).astype(jnp.float32) * mask[:, None]  # (B, A)
        counted = (matched != -2).astype(jnp.float32) * mask[:, None]
        num_pos = jnp.maximum(positive.sum(), 1.0)
        focal = sigmoid_focal_loss(logits, onehot, self.focal_alpha, self.focal_gamma).sum(-1)
        cls_loss = (focal * counted).sum() / num_pos
        if self.box_loss == "smooth_l1":
            targets = encode_boxes(target_boxes, anchors[None], SSD_VARIANCES)
            per_anchor = smooth_l1(deltas - targets).sum(-1)
        else:
            predicted = decode_boxes(deltas, anchors[None], SSD_VARIANCES)
            per_anchor = 1.0 - elementwise_giou(predicted, target_boxes)
        box_loss = (per_anchor * positive).sum() / num_pos
        return cls_loss, box_loss, positive.sum(), mask.sum()

    def loss(self, outputs, batch):
        cls_loss, box_loss, num_pos, _ = self._losses(outputs, batch)
        total = cls_loss + self.box_weight * box_loss
        return total, {"cls_loss": cls_loss, "box_loss": box_loss, "num_positives": num_pos}

    def metric_sums(self, outputs, batch):
        cls_loss, box_loss, num_pos, count = self._losses(outputs, batch)
        return {
            "loss_sum": (cls_loss + self.box_weight * box_loss) * count,
            "cls_loss_sum": cls_loss * count,
            "box_loss_sum": box_loss * count,
            "positives_sum": num_pos,
            "count": count,
        }

    def finalize(self, sums):
        return ratio_metrics(sums)

    def make_augment(self, aug_config):
        from cnnlab.data import box_augment

        return box_augment.build(aug_config)

    # ------------------------------------------------------------------ inference
    def detect(self, outputs):
        """Decoded, per-class NMS-ed detections of a batch (jittable); see the module docstring."""
        self._check_outputs(outputs)
        anchors = outputs["anchors"]
        k = self.num_classes
        top = min(self.pre_nms_top_k, anchors.shape[0] * k)

        def one(logits, deltas):  # (A, K), (A, 4)
            scores, flat = jax.lax.top_k(jax.nn.sigmoid(logits).reshape(-1), top)  # (top,)
            anchor_index, classes = flat // k, flat % k
            boxes = clip_boxes(decode_boxes(deltas[anchor_index], anchors[anchor_index],
                                            SSD_VARIANCES))  # (top, 4)
            keep, _ = nms_padded(boxes, scores, self.nms_iou, self.score_threshold,
                                 max_output=self.max_detections, classes=classes)
            found = keep >= 0
            safe = jnp.maximum(keep, 0)
            return (jnp.where(found[:, None], boxes[safe], 0.0),
                    jnp.where(found, scores[safe], 0.0),
                    jnp.where(found, classes[safe], -1).astype(jnp.int32))

        boxes, scores, labels = jax.vmap(one)(outputs["class_logits"], outputs["box_deltas"])
        return {"boxes": boxes, "scores": scores, "labels": labels}

    def predictions(self, outputs):
        """Boxes, scores and labels to draw or score (the same as ``detect``)."""
        return self.detect(outputs)

    host_metrics = True  # mAP needs every image's detections and truths on the host

    def eval_outputs(self, outputs, batch):
        return self.detect(outputs)

    def host_init(self):
        return ([], [])  # (predictions, ground truths), one small dict per image

    def host_update(self, acc, detections, batch):
        """Keeps each valid image's detections and truths in pixels, not the host batch."""
        predictions, truths = to_evaluation_lists([(detections, batch)])
        acc[0].extend(predictions)
        acc[1].extend(truths)
        return acc

    def host_finalize(self, acc):
        """VOC and COCO metrics over the whole split."""
        predictions, truths = acc
        if not truths:
            return {}
        voc = voc_evaluate(predictions, truths, self.num_classes, iou_threshold=0.5)
        coco = coco_evaluate(predictions, truths, self.num_classes)
        return {
            "map50": voc["map"],
            "ap": coco["ap"],
            "ap50": coco["ap50"],
            "ap75": coco["ap75"],
            "ar100": coco["ar100"],
            "num_images": float(len(truths)),
        }

    def host_evaluate(self, collected):
        """The metrics of `[(detections, host batch), ...]` at once (tests, notebooks)."""
        acc = self.host_init()
        for detections, batch in collected:
            acc = self.host_update(acc, detections, batch)
        return self.host_finalize(acc)


def to_evaluation_lists(collected):
    """[(detections, host batch)] -> (predictions, ground_truths) in pixels, valid images only.

    Each image becomes two small dicts of fresh arrays (``boxes``, ``labels``,
    ``scores``; ``boxes``, ``labels`` and ``difficult`` when the batch flags
    them): no images and no views into the batch, so a batch is freed as
    soon as the caller drops it.
    """
    predictions, truths = [], []
    for detections, batch in collected:
        height, width = np.shape(batch["image"])[1:3]  # the shape only: images stay where they are
        scale = np.array([width, height, width, height], np.float64)
        det_boxes, det_labels, det_scores = (np.asarray(detections[k]) for k in ("boxes", "labels", "scores"))
        gt_boxes, gt_labels = np.asarray(batch["boxes"]), np.asarray(batch["box_labels"])
        valid = np.asarray(batch.get("valid", np.ones(len(gt_labels), bool)), bool)
        difficult = batch.get("box_difficult", None)
        difficult = None if difficult is None else np.asarray(difficult, bool)
        for i in np.flatnonzero(valid):
            found = det_labels[i] >= 0
            # Boolean indexing and arithmetic make new arrays; nothing below is a view of the batch.
            predictions.append({"boxes": det_boxes[i][found] * scale, "labels": det_labels[i][found],
                                "scores": det_scores[i][found]})
            real = gt_labels[i] >= 0
            truth = {"boxes": gt_boxes[i][real] * scale, "labels": gt_labels[i][real]}
            if difficult is not None:
                truth["difficult"] = difficult[i][real]
            truths.append(truth)
    return predictions, truths


@functools.lru_cache(maxsize=16)
def _compiled_predictions(model, task):
    return jax.jit(lambda variables, images: task.predictions(model.apply(variables, images, train=False)))


_UNHASHABLE = {}  # (id(model), id(task)) -> (weakref to the model, weakref to the task, compiled fn)


def predictions_fn(model, task):
    """fn(variables, images) -> ``task.predictions`` of ``model``, compiled once per (model, task).

    Equal models and tasks (frozen dataclasses, Flax modules) share one
    compiled function; a model with unhashable fields (a dict of backbone
    options) is cached by identity for as long as it lives.
    """
    try:
        return _compiled_predictions(model, task)
    except TypeError:  # an unhashable model or task field
        pass
    key = (id(model), id(task))
    held = _UNHASHABLE.get(key)
    if held is not None and held[0]() is model and held[1]() is task:
        return held[2]
    fn = jax.jit(lambda variables, images: task.predictions(model.apply(variables, images, train=False)))
    _UNHASHABLE[key] = (weakref.ref(model), weakref.ref(task), fn)
    weakref.finalize(model, _UNHASHABLE.pop, key, None)
    return fn


def predict(model, variables, images, task, batch_size: int = 64) -> dict:
    """``task.predictions`` of ``model`` on ``images`` (N, H, W, C) in [0, 1], compiled, as numpy."""
    run = predictions_fn(model, task)
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (N, H, W, C), got shape {images.shape}.")
    parts = [jax.device_get(run(variables, images[i:i + batch_size]))
             for i in range(0, len(images), batch_size)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
