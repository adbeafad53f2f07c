"""Jittable streaming sums: equal to scikit-learn on the whole set, additive over batches and devices."""
import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from cnnlab.metrics import classification, streaming


@pytest.mark.parametrize("seed", range(3))
def test_confusion_accumulates_over_batches(seed):
    rng = np.random.default_rng(seed)
    k = 5
    labels = rng.integers(0, k, 64)
    preds = np.where(rng.random(64) < 0.5, labels, rng.integers(0, k - 1, 64))  # class 4 rarely predicted
    valid = rng.random(64) < 0.8
    update = jax.jit(streaming.confusion_update)
    cm = jnp.zeros((k, k), jnp.int32)
    for start in range(0, 64, 16):
        sl = slice(start, start + 16)
        cm = update(cm, labels[sl], preds[sl], valid[sl])
    expected = skm.confusion_matrix(labels[valid], preds[valid], labels=range(k))
    np.testing.assert_array_equal(np.asarray(cm), expected)
    np.testing.assert_array_equal(classification.confusion_from_labels(labels, preds, k, valid), expected)


def test_out_of_range_entries_are_not_counted():
    cm = streaming.confusion_counts(jnp.array([0, 1, 255, -1, 2]), jnp.array([0, 2, 1, 1, 3]), 3)
    np.testing.assert_array_equal(np.asarray(cm), [[1, 0, 0], [0, 0, 1], [0, 0, 0]])


def test_device_sums_equal_whole_set():
    """Per-device sums combined with psum (as under shard_map/pmap) equal the whole-set numbers."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, (4, 10))  # 4 "devices" x 10 rows
    scores = rng.dirichlet(np.ones(4), (4, 10)).astype(np.float32)
    valid = rng.random((4, 10)) < 0.9

    def per_device(y, p, v):
        sums = {
            "cm": streaming.confusion_counts(y, jnp.argmax(p, -1), 4, v),
            "correct": streaming.correct_count(y, jnp.argmax(p, -1), v),
            "top2": streaming.top_k_correct(y, p, 2, v),
            "nll": streaming.log_loss_sum(y, p, v),
            "count": streaming.example_count(y, v),
        }
        return jax.lax.psum(sums, "devices")

    sums = jax.vmap(per_device, axis_name="devices")(labels, scores, valid)
    sums = jax.tree.map(lambda x: np.asarray(x[0]), sums)
    y, p = labels[valid], scores[valid]
    np.testing.assert_array_equal(sums["cm"], skm.confusion_matrix(y, p.argmax(-1), labels=range(4)))
    assert sums["count"] == valid.sum()
    np.testing.assert_allclose(sums["correct"] / sums["count"], skm.accuracy_score(y, p.argmax(-1)), rtol=1e-12)
    np.testing.assert_allclose(sums["top2"] / sums["count"],
                               skm.top_k_accuracy_score(y, p, k=2, labels=range(4)), rtol=1e-12)
    np.testing.assert_allclose(sums["nll"] / sums["count"], skm.log_loss(y, p, labels=range(4)), rtol=2e-6)


def test_top_k_ties_follow_sklearn():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 6, 200)
    scores = rng.integers(0, 3, (200, 6)).astype(np.float32)  # heavy ties
    for k in (1, 2, 3):
        got = int(streaming.top_k_correct(labels, scores, k)) / 200
        np.testing.assert_allclose(got, skm.top_k_accuracy_score(labels, scores, k=k, labels=range(6)),
                                   rtol=1e-12)


def test_binary_log_loss_sum_clips_like_sklearn():
    labels = np.array([0, 1, 1, 0, 1])
    probs = np.array([0.0, 1.0, 0.3, 1.0, 0.0], np.float32)  # confident mistakes are clipped at eps
    got = float(streaming.log_loss_sum(labels, probs)) / 5
    np.testing.assert_allclose(got, skm.log_loss(labels, probs), rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="one shape"):
        streaming.confusion_counts(jnp.zeros(3, int), jnp.zeros(4, int), 2)
    with pytest.raises(ValueError, match="square"):
        streaming.confusion_update(jnp.zeros((2, 3)), jnp.zeros(3, int), jnp.zeros(3, int))
    with pytest.raises(ValueError, match="k must be"):
        streaming.top_k_correct(jnp.zeros(3, int), jnp.zeros((3, 4)), 0)
