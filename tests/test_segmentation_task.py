"""Segmentation task: loss and whole-set metrics against numpy, joint augmentation, a falling loss."""
import cnnlab  # noqa: F401  (XLA flags first)
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnlab import models, tasks
from cnnlab.data import shapes
from cnnlab.data.mask_augment import warp_example
from cnnlab.experiments.report import format_segmentation_report
from cnnlab.tasks.segmentation import Segmentation

K = 4


def _random_batch(rng, n=3, h=7, w=5, k=K, with_padding=False):
    logits = rng.normal(size=(n, h, w, k)).astype(np.float32)
    mask = rng.integers(0, k, size=(n, h, w)).astype(np.int32)
    mask[rng.uniform(size=mask.shape) < 0.2] = 255
    mask[mask == k - 1] = 0  # class k-1 never true ...
    logits[..., k - 1] -= 100.0  # ... nor predicted: its IoU is nan and mIoU must skip it
    batch = {"mask": mask}
    if with_padding:
        batch["valid"] = np.array([True] * (n - 1) + [False])
    return logits, batch


def numpy_scores(logits_list, batches, k):
    """Slow reference: loop over every counted pixel of the whole set, then the FCN formulas."""
    cm = np.zeros((k, k))
    for logits, batch in zip(logits_list, batches):
        valid = batch.get("valid", np.ones(len(logits), bool))
        for b in range(len(logits)):
            if not valid[b]:
                continue
            for y in range(logits.shape[1]):
                for x in range(logits.shape[2]):
                    t = batch["mask"][b, y, x]
                    if t == 255:
                        continue
                    cm[t, int(np.argmax(logits[b, y, x]))] += 1
    n_ii, t_i, p_i = np.diag(cm), cm.sum(1), cm.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = n_ii / (t_i + p_i - n_ii)
        acc = n_ii / t_i
    return {
        "pixel_accuracy": n_ii.sum() / cm.sum(),
        "mean_class_accuracy": np.nanmean(acc),
        "per_class_iou": iou,
        "mean_iou": np.nanmean(iou),
        "frequency_weighted_iou": np.nansum(t_i / cm.sum() * iou),
    }


def test_finalize_of_summed_batches_matches_numpy_over_the_whole_set():
    rng = np.random.default_rng(0)
    task = tasks.create("segmentation", num_classes=K)
    pairs = [_random_batch(rng), _random_batch(rng, n=2, h=4, w=9), _random_batch(rng, with_padding=True)]
    sums = None
    for logits, batch in pairs:
        s = jax.jit(task.metric_sums)(jnp.asarray(logits), {k: jnp.asarray(v) for k, v in batch.items()})
        sums = s if sums is None else jax.tree.map(jnp.add, sums, s)
    got = task.finalize({k: np.asarray(v) for k, v in sums.items()})
    want = numpy_scores([p[0] for p in pairs], [p[1] for p in pairs], K)
    for key in ("pixel_accuracy", "mean_class_accuracy", "mean_iou", "frequency_weighted_iou"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    np.testing.assert_allclose(got["per_class_iou"], want["per_class_iou"], rtol=1e-9)
    assert np.isnan(got["per_class_iou"][K - 1])  # absent from truth and prediction: skipped
    # The mean IoU of the whole set is not the mean of per-batch mean IoUs.
    per_batch = [numpy_scores([lg], [b], K)["mean_iou"] for lg, b in pairs]
    assert got["mean_iou"] != pytest.approx(np.mean(per_batch), rel=1e-6)
    report = format_segmentation_report(got, ["bg", "a", "b", "c"]).splitlines()
    assert f"mean_iou={got['mean_iou']:.4f}" in report[0] and f"pixel_accuracy={got['pixel_accuracy']:.4f}" in report[0]
    assert report[1].split() == ["class", "IoU", "accuracy"]
    for row, name, iou, acc in zip(report[2:], ["bg", "a", "b", "c"], want["per_class_iou"], got["class_accuracy"]):
        assert row.split() == [name, f"{iou:.4f}", f"{acc:.4f}"]  # per class, by name; nan for class c


def test_loss_matches_numpy_with_ignore_label_and_class_weights():
    rng = np.random.default_rng(1)
    logits, batch = _random_batch(rng, with_padding=True)
    weights = (0.5, 2.0, 1.0, 3.0)
    task = Segmentation(num_classes=K, class_weights=weights)
    loss, _ = task.loss(jnp.asarray(logits), {k: jnp.asarray(v) for k, v in batch.items()})
    num = den = 0.0
    for b in range(len(logits) - 1):  # the last example is padding
        for y in range(logits.shape[1]):
            for x in range(logits.shape[2]):
                t = batch["mask"][b, y, x]
                if t == 255:
                    continue
                z = logits[b, y, x].astype(np.float64)
                ce = np.log(np.exp(z - z.max()).sum()) + z.max() - z[t]
                num += weights[t] * ce
                den += weights[t]
    assert float(loss) == pytest.approx(num / den, rel=1e-5)
    sums = task.metric_sums(jnp.asarray(logits), {k: jnp.asarray(v) for k, v in batch.items()})
    assert task.finalize(sums)["loss"] == pytest.approx(num / den, rel=1e-5)


def test_task_errors_are_clear():
    with pytest.raises(ValueError, match="class_weights"):
        Segmentation(num_classes=3, class_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="ignore_label"):
        Segmentation(num_classes=3, ignore_label=1)
    task = Segmentation(num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        task.loss(jnp.zeros((1, 4, 4, 5)), {"mask": jnp.zeros((1, 4, 4), jnp.int32)})
    with pytest.raises(ValueError, match="unknown segmentation augment"):
        task.make_augment({"flip": True, "rotate": 10})
    with pytest.raises(ValueError, match="scale"):
        task.make_augment({"scale": (1.5, 1.0)})


def test_drawing_reports_and_warps_live_outside_the_task():
    from cnnlab.data import mask_augment
    from cnnlab.tasks import segmentation as task_module

    for name in ("write_overlays", "format_report", "warp_example", "make_joint_augment", "_augment_settings",
                 "AUGMENT_FIELDS"):
        assert not hasattr(task_module, name), name
    assert mask_augment.AUGMENT_FIELDS == ("flip", "scale", "crop_size", "fill")
    # The task's augmentation is mask_augment's: the same output for the same key.
    data = shapes.generate(2, seed=4, image_size=(24, 24))
    batch = {"image": jnp.asarray(data["image"], jnp.float32) / 255.0, "mask": jnp.asarray(data["mask"], jnp.int32)}
    fields = {"scale": (0.5, 0.5), "crop_size": 20}  # a 12x12 picture in a 20x20 window: a border
    ours = Segmentation(num_classes=4, ignore_label=200).make_augment(fields)(batch, jax.random.key(1))
    ref = mask_augment.make_joint_augment(fields, 200)(batch, jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(ours["mask"]), np.asarray(ref["mask"]))
    np.testing.assert_array_equal(np.asarray(ours["image"]), np.asarray(ref["image"]))
    mask = np.asarray(ours["mask"])
    assert mask.shape == (2, 20, 20) and (mask == 200).sum() == 2 * (400 - 144) and 255 not in mask


def test_warp_geometry_against_numpy():
    rng = np.random.default_rng(2)
    mask = rng.integers(0, 3, size=(6, 8)).astype(np.int32)
    image = np.repeat(mask[..., None].astype(np.float32), 2, axis=-1)
    # Zoom x2 anchored top-left: output pixel y shows source pixel y // 2 (nearest).
    _, m2 = warp_example(jnp.asarray(image), jnp.asarray(mask), 2.0, jnp.zeros(2), False, (6, 8))
    np.testing.assert_array_equal(np.asarray(m2), np.repeat(np.repeat(mask, 2, 0), 2, 1)[:6, :8])
    # Zoom x0.5: source pixels 1, 3, 5, ... in the top-left quarter, ignore (255) and fill elsewhere.
    im_half, m_half = warp_example(jnp.asarray(image), jnp.asarray(mask), 0.5, jnp.zeros(2), False, (6, 8),
                                   fill=-1.0)
    expected = np.full((6, 8), 255)
    expected[:3, :4] = mask[1::2, 1::2]
    np.testing.assert_array_equal(np.asarray(m_half), expected)
    assert np.all(np.asarray(im_half)[3:, :, 0] == -1.0) and np.all(np.asarray(im_half)[:, 4:, 0] == -1.0)
    # Flip at scale 1: exact mirror of both.
    im_f, m_f = warp_example(jnp.asarray(image), jnp.asarray(mask), 1.0, jnp.zeros(2), True, (6, 8))
    np.testing.assert_array_equal(np.asarray(m_f), mask[:, ::-1])
    np.testing.assert_allclose(np.asarray(im_f), image[:, ::-1], atol=1e-6)


def test_make_augment_moves_image_and_mask_together():
    task = tasks.create("segmentation", num_classes=4)
    data = shapes.generate(4, seed=0, image_size=(40, 40))
    # Encode the mask in the image so a joint warp keeps them consistent (away from edges).
    image = (data["mask"][..., None].astype(np.float32) / 3.0) * np.ones((1, 1, 1, 3), np.float32)
    batch = {"image": jnp.asarray(image), "mask": jnp.asarray(data["mask"].astype(np.int32)),
             "label": jnp.asarray(data["label"])}
    augment = jax.jit(task.make_augment({"flip": True, "scale": (0.7, 1.4), "crop_size": (32, 36)}))
    out = augment(batch, jax.random.key(3))
    again = augment(batch, jax.random.key(3))
    assert out["image"].shape == (4, 32, 36, 3) and out["mask"].shape == (4, 32, 36)
    np.testing.assert_array_equal(np.asarray(out["mask"]), np.asarray(again["mask"]))
    mask, img = np.asarray(out["mask"]), np.asarray(out["image"])[..., 0]
    assert set(np.unique(mask)) <= {0, 1, 2, 3, 255}
    # Where the 3x3 neighbourhood holds one class, the bilinear image reads that class too.
    interior = np.zeros_like(mask, bool)
    interior[:, 1:-1, 1:-1] = True
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            interior &= np.roll(mask, (dy, dx), axis=(1, 2)) == mask
    interior &= mask != 255
    assert interior.sum() > 1000
    np.testing.assert_allclose(img[interior] * 3.0, mask[interior], atol=1e-4)
    assert task.make_augment(None)(batch, jax.random.key(0)) is batch


def test_loss_falls_on_a_tiny_batch():
    model = models.create("fcn8s", num_classes=4, backbone="vgg11", backbone_width=0.0625,
                          backbone_batch_norm=True, fc_units=8, fc6_kernel=1, dropout_rate=0.0)
    task = tasks.create("segmentation", num_classes=4)
    data = shapes.generate(4, seed=1, image_size=(32, 32))
    batch = {"image": jnp.asarray(data["image"], jnp.float32) / 255.0,
             "mask": jnp.asarray(data["mask"], jnp.int32)}
    variables = jax.jit(model.init)({"params": jax.random.key(0, impl="rbg")}, batch["image"])
    tx = optax.adam(1e-2)

    @jax.jit
    def step(params, stats, opt):
        def loss_fn(p):
            logits, new = model.apply({"params": p, "batch_stats": stats}, batch["image"], train=True,
                                      mutable=["batch_stats"])
            return task.loss(logits, batch)[0], new["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), stats, opt, loss

    params, stats = variables["params"], variables["batch_stats"]
    opt = tx.init(params)
    losses = []
    for _ in range(30):
        params, stats, opt, loss = step(params, stats, opt)
        losses.append(float(loss))
    assert losses[0] == pytest.approx(np.log(4), rel=1e-3)  # zero-initialised scores: uniform
    assert losses[-1] < 0.5 * losses[0]
