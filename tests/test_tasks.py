"""Classification task: losses and metric sums against plain numpy."""
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import tasks


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_softmax_loss_and_accuracy_match_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6)
    task = tasks.create("classification", num_classes=4, top_k=2)
    loss, _ = task.loss(jnp.asarray(logits), {"label": jnp.asarray(labels)})
    ref = -_log_softmax(logits)[np.arange(6), labels].mean()
    np.testing.assert_allclose(float(loss), ref, rtol=1e-5)
    sums = task.metric_sums(jnp.asarray(logits), {"label": jnp.asarray(labels)})
    assert float(sums["accuracy_sum"]) == (logits.argmax(-1) == labels).sum()
    top2 = np.argsort(-logits, -1)[:, :2]
    assert float(sums["top2_accuracy_sum"]) == sum(labels[i] in top2[i] for i in range(6))
    out = task.finalize({k: float(v) for k, v in sums.items()})
    np.testing.assert_allclose(out["loss"], ref, rtol=1e-5)


def test_valid_mask_excludes_padding():
    task = tasks.create("classification", num_classes=3)
    logits = jnp.array([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    batch = {"label": jnp.array([0, 0, 2]), "valid": jnp.array([True, False, True])}
    sums = task.metric_sums(logits, batch)
    assert float(sums["count"]) == 2 and float(sums["accuracy_sum"]) == 2


def test_label_smoothing_and_sigmoid_binary():
    task = tasks.create("classification", num_classes=2, label_smoothing=0.2)
    logits = jnp.array([[2.0, -1.0]])
    loss, _ = task.loss(logits, {"label": jnp.array([0])})
    target = np.array([0.9, 0.1])
    np.testing.assert_allclose(float(loss), -(target * _log_softmax(np.array([[2.0, -1.0]]))[0]).sum(), rtol=1e-5)
    binary = tasks.create("classification", num_classes=1, loss_type="sigmoid")
    z = np.array([[0.3], [-1.2]], np.float32)
    y = np.array([1, 0])
    loss, _ = binary.loss(jnp.asarray(z), {"label": jnp.asarray(y)})
    p = 1 / (1 + np.exp(-z[:, 0]))
    np.testing.assert_allclose(float(loss), -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(), rtol=1e-5)


def test_unknown_task_and_bad_settings():
    with pytest.raises(ValueError, match="not a known task"):
        tasks.create("classify")
    with pytest.raises(ValueError, match="loss_type"):
        tasks.create("classification", num_classes=2, loss_type="hinge")
