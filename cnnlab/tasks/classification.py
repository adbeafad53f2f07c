"""Image classification: softmax (or sigmoid) cross-entropy, accuracy, top-k."""
import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import optax

from cnnlab.tasks.base import Task, ratio_metrics, register, valid_mask


@register("classification")
@dataclasses.dataclass(frozen=True)
class Classification(Task):
    """Single-label classification.

    A batch may carry soft targets `target` (B, K) (Mixup/CutMix,
    `cnnlab.data.mixing`): the loss then uses them (smoothed by
    `label_smoothing` like one-hot targets), while accuracy stays against
    `label`, the original label of each image.

    Attributes:
      num_classes: number of classes (the logits' last dimension).
      label_smoothing: Keras/PyTorch-style smoothing of the one-hot target.
      loss_type: 'softmax' (categorical cross-entropy) or 'sigmoid' (one
        independent binary cross-entropy per class, Keras `binary_crossentropy`
        on one-hot targets; with one logit it is the binary dogs-vs-cats loss).
      top_k: also report top-k accuracy when k > 1 and k < num_classes.
    """

    num_classes: int
    label_smoothing: float = 0.0
    loss_type: str = "softmax"
    top_k: int = 5
    keys: Tuple[str, ...] = ("image", "label")

    def __post_init__(self):
        if self.loss_type not in ("softmax", "sigmoid"):
            raise ValueError(
                f"task.loss_type={self.loss_type!r} is not known; use 'softmax' or 'sigmoid'.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                f"task.label_smoothing={self.label_smoothing} must be in [0, 1).")

    def _targets(self, labels, width):
        onehot = jax.nn.one_hot(labels, width)
        if self.label_smoothing:
            onehot = optax.smooth_labels(onehot, self.label_smoothing)
        return onehot

    def _soft_targets(self, target, width):
        """A (B, K) soft target (Mixup/CutMix), smoothed like the one-hot ones; with one sigmoid
        logit, a (B, 2) target gives the positive class's column."""
        target = jnp.asarray(target, jnp.float32)
        if target.ndim != 2:
            raise ValueError(f"batch['target'] must be soft targets (B, K), got shape {target.shape}.")
        if width == 1 and self.loss_type == "sigmoid" and target.shape[-1] in (1, 2):
            positive = target[:, -1:]
            if self.label_smoothing:
                positive = positive * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
            return positive
        if target.shape[-1] != width:
            raise ValueError(f"batch['target'] has {target.shape[-1]} classes but the logits have {width}; build "
                             f"the mixed targets with num_classes = task.num_classes.")
        if self.label_smoothing:
            target = optax.smooth_labels(target, self.label_smoothing)
        return target

    def per_example_loss(self, logits, labels, target=None):
        """Loss per example (B,) against `labels` (B,), or against soft targets `target` (B, K) when given."""
        logits = logits.astype(jnp.float32)  # (B, K); loss in float32 under bf16 compute
        if target is not None:
            targets = self._soft_targets(target, logits.shape[-1])
            if self.loss_type == "sigmoid":
                return optax.sigmoid_binary_cross_entropy(logits, targets).mean(-1)
            return optax.softmax_cross_entropy(logits, targets)
        if self.loss_type == "sigmoid":
            if logits.shape[-1] == 1:  # binary: one logit, label in {0, 1}
                targets = labels[:, None].astype(jnp.float32)
                if self.label_smoothing:
                    targets = targets * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
            else:
                targets = self._targets(labels, logits.shape[-1])
            return optax.sigmoid_binary_cross_entropy(logits, targets).mean(-1)
        return optax.softmax_cross_entropy(logits, self._targets(labels, logits.shape[-1]))

    def predictions(self, logits):
        """Class index per example (B,)."""
        if logits.shape[-1] == 1:
            return (logits[:, 0] > 0).astype(jnp.int32)
        return jnp.argmax(logits, -1)

    def loss(self, logits, batch):
        labels = batch["label"]
        mask = valid_mask(batch, labels.shape[0])
        per_example = self.per_example_loss(logits, labels, batch.get("target"))
        return (per_example * mask).sum() / jnp.maximum(mask.sum(), 1.0), {}

    def metric_sums(self, logits, batch):
        labels = batch["label"]
        mask = valid_mask(batch, labels.shape[0])
        per_example = self.per_example_loss(logits, labels, batch.get("target"))
        correct = (self.predictions(logits) == labels).astype(jnp.float32)
        sums = {
            "loss_sum": (per_example * mask).sum(),
            "accuracy_sum": (correct * mask).sum(),
            "count": mask.sum(),
        }
        k = self.top_k
        if 1 < k < logits.shape[-1]:
            topk = jax.lax.top_k(logits.astype(jnp.float32), k)[1]  # (B, k)
            hit = (topk == labels[:, None]).any(-1).astype(jnp.float32)
            sums[f"top{k}_accuracy_sum"] = (hit * mask).sum()
        return sums

    def finalize(self, sums):
        return ratio_metrics(sums)
