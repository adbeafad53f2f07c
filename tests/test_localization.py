"""Classification + localization: the joint loss, its box losses and the IoU metrics vs numpy."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import models, tasks
from cnnlab.tasks.localization import target_box


def _iou_np(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def _giou_np(a, b):
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union - (cw * ch - union) / (cw * ch)


def _batch(rng, n=6):
    c = rng.uniform(0.3, 0.7, (n, 2))
    s = rng.uniform(0.1, 0.4, (n, 2))
    true = np.concatenate([c - s / 2, c + s / 2], -1).astype(np.float32)
    boxes = np.full((n, 3, 4), -1.0, np.float32)
    box_labels = np.full((n, 3), -1, np.int32)
    boxes[:, 1] = true  # the real box sits in row 1; row 0 a smaller second object
    box_labels[:, 1] = rng.integers(0, 3, n)
    small = true.copy()
    small[:, 2:] = small[:, :2] + 0.02
    boxes[:3, 0], box_labels[:3, 0] = small[:3], 0
    pred = np.clip(true + rng.normal(0, 0.05, true.shape), 0, 1).astype(np.float32)
    logits = rng.normal(0, 2, (n, 3)).astype(np.float32)
    batch = {"label": box_labels[:, 1].copy(), "boxes": boxes, "box_labels": box_labels,
             "valid": np.array([True] * (n - 1) + [False])}
    return {"logits": logits, "boxes": pred}, batch, true


def test_target_box_is_the_largest_real_box():
    _, batch, true = _batch(np.random.default_rng(0))
    chosen, has = target_box(jnp.asarray(batch["boxes"]), jnp.asarray(batch["box_labels"]))
    np.testing.assert_allclose(np.asarray(chosen), true)
    empty = target_box(jnp.full((1, 2, 4), -1.0), jnp.full((1, 2), -1))[1]
    assert np.asarray(has).tolist() == [1.0] * 6 and float(empty[0]) == 0.0


@pytest.mark.parametrize("box_loss", ["mse", "smooth_l1", "iou", "giou"])
def test_joint_loss_and_iou_metrics_match_numpy(box_loss):
    outputs, batch, true = _batch(np.random.default_rng(1))
    task = tasks.create("localization", num_classes=3, box_loss=box_loss)
    loss, aux = task.loss(jax.tree.map(jnp.asarray, outputs), jax.tree.map(jnp.asarray, batch))
    valid = batch["valid"]
    logits, pred = outputs["logits"][valid], outputs["boxes"][valid]
    labels, target = batch["label"][valid], true[valid]
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -logp[np.arange(len(labels)), labels].mean()
    d = pred - target
    per_box = {
        "mse": (d ** 2).mean(-1),
        "smooth_l1": np.where(np.abs(d) < 0.1, 0.5 * d ** 2 / 0.1, np.abs(d) - 0.05).mean(-1),
        "iou": 1 - np.array([_iou_np(p, t) for p, t in zip(pred, target)]),
        "giou": 1 - np.array([_giou_np(p, t) for p, t in zip(pred, target)]),
    }[box_loss]
    assert float(loss) == pytest.approx(0.8 * ce + 0.2 * per_box.mean(), rel=1e-5)
    sums = task.metric_sums(jax.tree.map(jnp.asarray, outputs), jax.tree.map(jnp.asarray, batch))
    metrics = task.finalize(jax.device_get(sums))
    ious = np.array([_iou_np(p, t) for p, t in zip(pred, target)])
    correct = logits.argmax(-1) == labels
    assert metrics["mean_iou"] == pytest.approx(ious.mean(), rel=1e-5)
    assert metrics["iou50"] == pytest.approx((ious >= 0.5).mean())
    assert metrics["correct50"] == pytest.approx(((ious >= 0.5) & correct).mean())
    assert metrics["accuracy"] == pytest.approx(correct.mean())
    assert metrics["loss"] == pytest.approx(float(loss), rel=1e-5)


@pytest.mark.parametrize("pooling", ["avg", "flatten"])
def test_localizer_heads_and_bad_settings(pooling):
    model = models.create("localizer", num_classes=4, backbone_kwargs={"widths": (8, 8, 8)}, hidden=0,
                          pooling=pooling)
    x = jax.random.uniform(jax.random.key(1), (2, 32, 32, 3))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    out = jax.jit(model.apply)(variables, x)
    assert out["logits"].shape == (2, 4) and out["boxes"].shape == (2, 4)
    b = np.asarray(out["boxes"])
    assert b.min() >= 0.0 and b.max() <= 1.0 and (b[:, 2:] >= b[:, :2]).all()  # proper boxes
    inputs = variables["params"]["box"]["kernel"].shape[0]
    assert inputs == (8 if pooling == "avg" else 4 * 4 * 8)  # 32 / 2^3 = 4: a 4x4x8 map
    with pytest.raises(ValueError, match="box_loss"):
        tasks.create("localization", num_classes=3, box_loss="l3")
    with pytest.raises(ValueError, match="backbone_kwargs may not set"):
        models.create("localizer", backbone_kwargs={"num_classes": 2}).init(jax.random.key(0), x)
