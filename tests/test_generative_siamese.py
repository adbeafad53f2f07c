"""Siamese net: pair/triplet sampling, losses against numpy, retrieval against sklearn, training."""
import runpy
from pathlib import Path

import cnnlab  # noqa: F401
import jax
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from cnnlab.generative import siamese
from cnnlab.generative import train as gtrain

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generative" / "siamese.py"


def test_sampling_respects_classes():
    labels = np.array([3, 5, 3, 9, 5, 9, 3, 5, 9, 9])
    index = siamese.class_index(labels)
    first, second, same = (np.asarray(a) for a in siamese.sample_pairs(jax.random.key(0), index, 400))
    assert same.mean() == 0.5
    np.testing.assert_array_equal(labels[first] == labels[second], same == 1)
    assert np.all(first != second)
    a, p, n = (np.asarray(x) for x in siamese.sample_triplets(jax.random.key(1), index, 400))
    assert np.all(labels[a] == labels[p]) and np.all(a != p) and np.all(labels[a] != labels[n])
    assert set(labels[n]) == {3, 5, 9} and len(set(p)) == 10  # every class and example gets drawn
    with pytest.raises(ValueError, match="at least 2 classes"):
        siamese.class_index([1, 1, 1])
    with pytest.raises(ValueError, match=">= 2 examples per class"):
        siamese.class_index([1, 1, 2])


def test_losses_match_numpy():
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=(5, 4)).astype(np.float32) for _ in range(3))
    same = np.array([1, 0, 1, 0, 0])
    d = np.sqrt(((a - b) ** 2).sum(1))
    want = np.mean(same * d ** 2 + (1 - same) * np.maximum(0, 2.5 - d) ** 2)
    np.testing.assert_allclose(siamese.contrastive_loss(a, b, same, 2.5), want, rtol=1e-5)
    want = np.mean(np.maximum(0, ((a - b) ** 2).sum(1) - ((a - c) ** 2).sum(1) + 0.3))
    np.testing.assert_allclose(siamese.triplet_loss(a, b, c, 0.3), want, rtol=1e-5)


def test_retrieval_accuracy_matches_sklearn():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(60, 3))
    labels = rng.integers(0, 3, 60)
    ok = []
    for i in range(60):  # leave-one-out 1-NN with scikit-learn
        rest = np.arange(60) != i
        knn = KNeighborsClassifier(1).fit(e[rest], labels[rest])
        ok.append(knn.predict(e[i:i + 1])[0] == labels[i])
    assert siamese.retrieval_accuracy(e, labels) == pytest.approx(np.mean(ok))


def bars(n, seed):
    """Noisy 16x16 images of one bar at a random place: horizontal (0), vertical (1) or diagonal (2)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 3).astype(np.int32)
    images = rng.uniform(0, 0.2, (n, 16, 16, 1)).astype(np.float32)
    k = np.arange(1, 15)
    for i, c in enumerate(labels):
        r = rng.integers(2, 14)
        if c == 0:
            images[i, r, 1:15] = 1
        elif c == 1:
            images[i, 1:15, r] = 1
        else:
            images[i, k, k] = 1
    return images, labels


@pytest.mark.parametrize("loss", ["contrastive", "triplet"])
def test_short_training_lowers_loss(loss):
    images, labels = bars(96, seed=0)
    c = runpy.run_path(str(CONFIG))["get_config"]()
    c.model.features, c.model.hidden, c.model.embed_dim, c.model.loss = (8,), 16, 8, loss
    c.model.margin = 1.0 if loss == "contrastive" else 0.5
    c.optim.lr, c.optim.schedule = 1e-2, "constant"
    c.train.steps, c.train.batch_size, c.train.log_every = 60, 32, 15
    model, params, history = gtrain.train_siamese(c, images, labels, jax.random.key(0))
    assert history["loss"][-1] < 0.3 * history["loss"][0], history
    fresh, fresh_labels = bars(60, seed=1)  # unseen examples
    metrics = gtrain.evaluate_siamese(model, params, fresh, fresh_labels, jax.random.key(1), 2000)
    assert metrics["verification_auc"] > 0.95 and metrics["retrieval_accuracy"] > 0.9, metrics
