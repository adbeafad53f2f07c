"""Mixup/CutMix on device against timm's Mixup (batch mode), and the classification loss on soft targets."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from cnnlab import tasks
from cnnlab.data import augment, mixing

B, H, W, K = 8, 32, 32, 5
LABELS = jnp.asarray([0, 1, 2, 3, 4, 0, 1, 2])  # reversed: 2 1 0 4 3 2 1 0 (pairs 1-6 share a label)


def _batch():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (B, H, W, 3)).astype(np.float32)
    return {"image": jnp.asarray(images), "label": LABELS, "valid": jnp.ones((B,), bool)}


def _timm_target(labels, lam, smoothing):
    """timm.data.mixup.mixup_target in numpy."""
    off = smoothing / K
    onehot = np.full((len(labels), K), off)
    onehot[np.arange(len(labels)), np.asarray(labels)] = 1.0 - smoothing + off
    return lam * onehot + (1.0 - lam) * onehot[::-1]


def test_lambda_and_switch_follow_beta_and_the_probabilities():
    draw = jax.jit(jax.vmap(lambda k: mixing.mix_params(k, H, W, mixup_alpha=0.4, cutmix_alpha=1.0, mix_prob=0.8,
                                                        switch_prob=0.3)))
    p = jax.tree.map(np.asarray, draw(jax.random.split(jax.random.PRNGKey(0), 4000)))
    applied, cutmix = p["applied"], p["use_cutmix"]
    assert abs(applied.mean() - 0.8) < 0.03  # mix_prob (sd 0.006)
    assert abs(cutmix[applied].mean() - 0.3) < 0.04  # switch_prob among the mixed batches (sd 0.008)
    np.testing.assert_array_equal(p["lam"][~applied], 1.0)
    mixup_lam = p["raw_lam"][applied & ~cutmix]
    assert scipy.stats.kstest(mixup_lam, scipy.stats.beta(0.4, 0.4).cdf).pvalue > 0.01
    assert abs(mixup_lam.mean() - 0.5) < 0.02 and abs(mixup_lam.var() - 1 / (4 * (2 * 0.4 + 1))) < 0.01
    np.testing.assert_array_equal(p["lam"][applied & ~cutmix], mixup_lam)  # Mixup's lambda is the draw
    assert scipy.stats.kstest(p["raw_lam"][cutmix], scipy.stats.beta(1.0, 1.0).cdf).pvalue > 0.01

    # CutMix boxes are timm's rand_bbox for the drawn lambda and centre, and lambda its corrected value.
    lam32 = p["raw_lam"][cutmix].astype(np.float32)
    ratio = np.sqrt(np.float32(1.0) - lam32)
    cut_h, cut_w = (np.floor(np.float32(H) * ratio)).astype(int), (np.floor(np.float32(W) * ratio)).astype(int)
    cy, cx = p["centre"][cutmix].T
    box = np.stack([np.clip(cy - cut_h // 2, 0, H), np.clip(cy + cut_h // 2, 0, H),
                    np.clip(cx - cut_w // 2, 0, W), np.clip(cx + cut_w // 2, 0, W)], -1)
    np.testing.assert_array_equal(p["box"][cutmix], box)
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
    np.testing.assert_allclose(p["lam"][cutmix], 1.0 - area / (H * W), atol=1e-6)
    assert (p["centre"][:, 0].min(), p["centre"][:, 0].max()) == (0, H - 1)  # uniform integer centres
    assert (area < (2 * (cut_h // 2)) * (2 * (cut_w // 2))).mean() > 0.3  # many clipped at the border: correct_lam


def test_cutmix_pastes_the_box_and_the_target_weighs_its_area():
    batch = _batch()
    fn = jax.jit(lambda b, k: mixing.mix(b, k, num_classes=K, cutmix_alpha=1.0, label_smoothing=0.1))
    flipped = np.asarray(batch["image"])[::-1]
    for seed in range(6):
        out = jax.tree.map(np.asarray, fn(batch, jax.random.PRNGKey(seed)))
        pasted = np.all(out["image"] == flipped, axis=-1)  # (B, H, W): pixels from the reversed batch
        rows, cols = np.nonzero(pasted[0])
        y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        expected = np.zeros((H, W), bool)
        expected[y0:y1, x0:x1] = True  # one box, the same in every image
        np.testing.assert_array_equal(pasted, np.broadcast_to(expected, pasted.shape))
        np.testing.assert_array_equal(out["image"][:, ~expected], np.asarray(batch["image"])[:, ~expected])
        lam = 1.0 - expected.sum() / (H * W)  # the exact fraction of original pixels
        assert 0.0 < lam < 1.0
        np.testing.assert_allclose(out["target"], _timm_target(LABELS, lam, 0.1), atol=1e-6)
        np.testing.assert_allclose(out["target"].sum(-1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(out["label"], LABELS)  # the original labels stay
        np.testing.assert_array_equal(out["valid"], True)


def test_mixup_blends_with_the_reversed_batch_and_is_deterministic():
    batch = _batch()
    key = jax.random.PRNGKey(3)
    out = mixing.mix(batch, key, num_classes=K, mixup_alpha=0.4, label_smoothing=0.1)
    off, on = 0.1 / K, 1 - 0.1 + 0.1 / K
    lam = (float(out["target"][0, 0]) - off) / (on - off)  # example 0 (label 0) meets example 7 (label 2)
    assert 0.05 < lam < 0.95
    x = np.asarray(batch["image"])
    np.testing.assert_allclose(out["image"], lam * x + (1 - lam) * x[::-1], atol=1e-6)
    np.testing.assert_allclose(out["target"], _timm_target(LABELS, lam, 0.1), atol=1e-6)
    np.testing.assert_allclose(np.asarray(out["target"]).sum(-1), 1.0, atol=1e-6)
    assert out["target"].shape == (B, K) and out["target"].dtype == jnp.float32
    again = mixing.mix(batch, key, num_classes=K, mixup_alpha=0.4, label_smoothing=0.1)
    np.testing.assert_array_equal(again["image"], out["image"])
    np.testing.assert_array_equal(again["target"], out["target"])
    other = mixing.mix(batch, jax.random.PRNGKey(4), num_classes=K, mixup_alpha=0.4, label_smoothing=0.1)
    assert not np.allclose(other["image"], out["image"])


def test_off_is_identity_and_build_mix_reads_the_config():
    batch = _batch()
    key = jax.random.PRNGKey(0)
    for settings in (dict(), dict(mixup_alpha=1.0, cutmix_alpha=1.0, mix_prob=0.0)):
        out = mixing.mix(batch, key, num_classes=K, label_smoothing=0.1, **settings)
        np.testing.assert_array_equal(out["image"], batch["image"])
        np.testing.assert_allclose(out["target"], _timm_target(LABELS, 1.0, 0.1), atol=1e-7)
    assert augment.build_mix(None, K) is None
    assert augment.build_mix({"horizontal_flip": True, "mix_prob": 0.5}, K) is None
    fn = augment.build_mix({"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "mix_switch_prob": 1.0}, K)  # always CutMix
    out = fn(batch, key)
    reference = mixing.mix(batch, key, num_classes=K, mixup_alpha=0.2, cutmix_alpha=1.0, mix_prob=1.0,
                           switch_prob=1.0)
    np.testing.assert_array_equal(out["image"], reference["image"])
    assert not np.allclose(out["image"], batch["image"])
    assert (out["image"] == batch["image"]).mean() > 0.1  # CutMix keeps pixels as they are, Mixup would not
    with pytest.raises(ValueError, match="num_classes"):
        mixing.mix(batch, key, num_classes=1, mixup_alpha=0.2)
    with pytest.raises(ValueError, match="'image' and 'label'"):
        mixing.mix({"image": batch["image"]}, key, num_classes=K, mixup_alpha=0.2)
    with pytest.raises(ValueError, match="config.data.augment.mix_prob"):
        augment.build_mix({"mixup_alpha": 0.2, "mix_prob": 1.5}, K)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _bce(z, t):
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_classification_loss_on_soft_targets(smoothing):
    logits = jnp.asarray(np.random.default_rng(1).normal(0, 2, (B, K)), jnp.float32)
    lam = 0.3
    onehot = jax.nn.one_hot(LABELS, K)
    mixed = lam * onehot + (1 - lam) * onehot[::-1]
    z, a, b = np.asarray(logits, np.float64), np.asarray(LABELS), np.asarray(LABELS)[::-1]
    for loss_type in ("softmax", "sigmoid"):
        task = tasks.create("classification", num_classes=K, label_smoothing=smoothing, loss_type=loss_type)
        plain = {"image": None, "label": LABELS}
        loss, _ = task.loss(logits, plain)
        loss_onehot, _ = task.loss(logits, {**plain, "target": onehot})
        np.testing.assert_allclose(loss_onehot, loss, rtol=1e-6)  # a one-hot target is the label
        smooth = lambda labels: np.eye(K)[labels] * (1 - smoothing) + smoothing / K  # noqa: E731
        if loss_type == "softmax":
            ce = lambda labels: -(smooth(labels) * _log_softmax(z)).sum(-1)  # noqa: E731
        else:
            ce = lambda labels: _bce(z, smooth(labels)).mean(-1)  # noqa: E731
        np.testing.assert_allclose(loss, ce(a).mean(), rtol=1e-5)
        loss_mixed, _ = task.loss(logits, {**plain, "target": mixed})
        np.testing.assert_allclose(loss_mixed, (lam * ce(a) + (1 - lam) * ce(b)).mean(), rtol=1e-5)
        # Metric sums: the loss on the soft target, accuracy against the original label.
        sums = task.metric_sums(logits, {**plain, "target": mixed, "valid": jnp.asarray([1] * 6 + [0] * 2)})
        np.testing.assert_allclose(sums["loss_sum"], (lam * ce(a) + (1 - lam) * ce(b))[:6].sum(), rtol=1e-5)
        np.testing.assert_allclose(sums["accuracy_sum"], (z.argmax(-1) == a)[:6].sum())
        assert float(sums["count"]) == 6.0
    with pytest.raises(ValueError, match="num_classes"):
        task.loss(logits, {**plain, "target": jnp.ones((B, K + 1)) / (K + 1)})


def test_binary_sigmoid_logit_takes_the_positive_column_of_a_mixed_target():
    labels = jnp.asarray([0, 1, 1, 0, 1, 0, 0, 1])
    logit = jnp.asarray(np.random.default_rng(2).normal(0, 2, (8, 1)), jnp.float32)
    task = tasks.create("classification", num_classes=2, loss_type="sigmoid")
    out = mixing.mix({"image": jnp.zeros((8, 4, 4, 1)), "label": labels}, jax.random.PRNGKey(0), num_classes=2,
                     mixup_alpha=0.4)
    lam = float(out["target"][0, 0])  # example 0 (label 0) meets example 7 (label 1)
    assert 0.05 < lam < 0.95
    z, a = np.asarray(logit[:, 0], np.float64), np.asarray(labels)
    expected = lam * _bce(z, a) + (1 - lam) * _bce(z, a[::-1])
    np.testing.assert_allclose(task.loss(logit, out)[0], expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(task.loss(logit, {"label": labels, "target": jax.nn.one_hot(labels, 2)})[0],
                               task.loss(logit, {"label": labels})[0], rtol=1e-6)
