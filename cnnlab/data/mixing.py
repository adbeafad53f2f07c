"""Mixup and CutMix on device, with timm's ``Mixup`` semantics in its 'batch' mode.

One draw per batch: with probability ``mix_prob`` the batch is mixed with
itself reversed (example i with example B - 1 - i), else left as is. When
both alphas are > 0, CutMix is used with probability ``switch_prob`` and
Mixup otherwise; lambda ~ Beta(alpha, alpha) of the chosen method.

- Mixup: ``images = lam * images + (1 - lam) * images[::-1]``.
- CutMix: a box of ``int(H sqrt(1 - lam)) x int(W sqrt(1 - lam))`` pixels
  (timm keeps ``2 * (cut // 2)`` of them) about a uniform integer centre,
  clipped to the image, is pasted from the reversed batch, and lambda is
  corrected to the pixels kept: ``lam = 1 - box_area / (H W)`` (timm's
  ``correct_lam``).

The soft target is timm's ``mixup_target``: ``lam * onehot(label) + (1 -
lam) * onehot(label[::-1])`` with each one-hot smoothed to ``1 - s + s/K`` /
``s/K``; it is stored in ``batch["target"]`` (B, K) float32, and
``batch["label"]`` keeps the original label (its weight is lam).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def _check(num_classes, mixup_alpha, cutmix_alpha, mix_prob, switch_prob, label_smoothing) -> None:
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"mixup/cutmix needs num_classes >= 2 (the soft target's width), got {num_classes!r}.")
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ValueError(f"mixup_alpha and cutmix_alpha must be >= 0 (0 = off), got {mixup_alpha}, {cutmix_alpha}.")
    for name, value in (("mix_prob", mix_prob), ("switch_prob", switch_prob)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}.")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {label_smoothing}.")


@functools.partial(jax.jit, static_argnames=("height", "width", "mixup_alpha", "cutmix_alpha", "mix_prob",
                                             "switch_prob"))
def mix_params(rng: jax.Array, height: int, width: int, *, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0,
               mix_prob: float = 1.0, switch_prob: float = 0.5) -> dict:
    """The per-batch draw of :func:`mix`, as scalars.

    Returns ``applied`` (bool: mixed at all), ``use_cutmix`` (bool),
    ``raw_lam`` (the Beta draw of the chosen method), ``centre`` (cy, cx),
    ``box`` int32 (y_low, y_high, x_low, x_high), and ``lam``, the weight of
    the original images (1 when not applied, the box-corrected value for
    CutMix, ``raw_lam`` for Mixup).
    """
    apply_key, switch_key, mixup_key, cutmix_key, row_key, col_key = jax.random.split(rng, 6)
    use_mixup, use_cutmix = mixup_alpha > 0, cutmix_alpha > 0
    applied = jax.random.uniform(apply_key) < mix_prob if (use_mixup or use_cutmix) else jnp.asarray(False)
    if use_mixup and use_cutmix:
        cutmix = jax.random.uniform(switch_key) < switch_prob
    else:
        cutmix = jnp.asarray(use_cutmix)
    mixup_lam = jax.random.beta(mixup_key, mixup_alpha, mixup_alpha) if use_mixup else jnp.float32(1.0)
    cutmix_lam = jax.random.beta(cutmix_key, cutmix_alpha, cutmix_alpha) if use_cutmix else jnp.float32(1.0)
    raw_lam = jnp.where(cutmix, cutmix_lam, mixup_lam).astype(jnp.float32)
    # timm's rand_bbox: cut = int(size * sqrt(1 - lam)), centre uniform in [0, size), clipped half-sizes.
    ratio = jnp.sqrt(1.0 - raw_lam)
    cut_h = jnp.floor(jnp.float32(height) * ratio).astype(jnp.int32)
    cut_w = jnp.floor(jnp.float32(width) * ratio).astype(jnp.int32)
    cy = jax.random.randint(row_key, (), 0, height)
    cx = jax.random.randint(col_key, (), 0, width)
    y_low, y_high = jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height)
    x_low, x_high = jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width)
    area = (y_high - y_low) * (x_high - x_low)
    box_lam = 1.0 - area.astype(jnp.float32) / float(height * width)
    lam = jnp.where(applied, jnp.where(cutmix, box_lam, raw_lam), 1.0).astype(jnp.float32)
    return {"applied": applied, "use_cutmix": applied & cutmix, "raw_lam": raw_lam, "centre": jnp.stack([cy, cx]),
            "box": jnp.stack([y_low, y_high, x_low, x_high]).astype(jnp.int32), "lam": lam}


def mixup_target(labels: jax.Array, num_classes: int, lam, label_smoothing: float = 0.0) -> jax.Array:
    """timm's ``mixup_target``: ``lam * onehot(labels) + (1 - lam) * onehot(labels[::-1])``, smoothed,
    float32 ``(B, num_classes)``; every row sums to 1."""
    off = label_smoothing / num_classes
    on = 1.0 - label_smoothing + off
    onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32) * (on - off) + off
    return lam * onehot + (1.0 - lam) * onehot[::-1]


@functools.partial(jax.jit, static_argnames=("num_classes", "mixup_alpha", "cutmix_alpha", "mix_prob",
                                             "switch_prob", "label_smoothing"))
def mix(batch: dict, rng: jax.Array, *, num_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0,
        mix_prob: float = 1.0, switch_prob: float = 0.5, label_smoothing: float = 0.0) -> dict:
    """Mixup/CutMix of ``batch["image"]`` (B, H, W, C) with the reversed batch; adds ``batch["target"]``.

    Returns a new dict: ``image`` mixed, ``target`` the (B, num_classes)
    soft target, every other entry (``label`` included) unchanged. Both
    alphas 0 (or ``mix_prob`` 0) leave the images as they are and give the
    (smoothed) one-hot target.
    """
    _check(num_classes, mixup_alpha, cutmix_alpha, mix_prob, switch_prob, label_smoothing)
    if "image" not in batch or "label" not in batch:
        raise ValueError(f"mixup/cutmix needs 'image' and 'label' in the batch, got keys {sorted(batch)}; it is "
                         f"for classification batches.")
    images, labels = batch["image"], batch["label"]
    if images.ndim != 4 or labels.ndim != 1:
        raise ValueError(f"mixup/cutmix needs image (B, H, W, C) and label (B,), got {images.shape} and "
                         f"{labels.shape}.")
    _, height, width, _ = images.shape
    p = mix_params(rng, height, width, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, mix_prob=mix_prob,
                   switch_prob=switch_prob)
    flipped = images[::-1]
    rows = jnp.arange(height)[:, None]
    cols = jnp.arange(width)[None, :]
    y_low, y_high, x_low, x_high = p["box"]
    inside = (rows >= y_low) & (rows < y_high) & (cols >= x_low) & (cols < x_high)  # (H, W)
    lam = p["lam"]
    mixed_up = (lam * images + (1.0 - lam) * flipped).astype(images.dtype)
    cut = jnp.where(inside[None, :, :, None], flipped, images)
    out_images = jnp.where(p["applied"], jnp.where(p["use_cutmix"], cut, mixed_up), images)
    out = dict(batch)
    out["image"] = out_images
    out["target"] = mixup_target(labels, num_classes, lam, label_smoothing)
    return out
