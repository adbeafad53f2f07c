"""Accuracy, top-k, confusion matrix, precision/recall/F and log loss against scikit-learn."""
import warnings

import cnnlab  # noqa: F401
import numpy as np
import pytest
from sklearn import metrics as skm

from cnnlab.metrics import classification as C

AVERAGES = [None, "micro", "macro", "weighted"]
ZERO_DIVISION = [0.0, 1.0, np.nan]


def _sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _cases():
    rng = np.random.default_rng(0)
    k = 4
    labels = rng.integers(0, k, 80)
    preds = np.where(rng.random(80) < 0.6, labels, rng.integers(0, k, 80))
    yield "random", labels, preds, k
    yield "never_predicted", labels, np.minimum(preds, 2), k  # class 3 never predicted
    yield "absent_class", np.minimum(labels, 2), preds, k  # class 3 never true
    yield "all_one_class", np.full(20, 2), np.full(20, 2), k
    yield "all_wrong", np.zeros(10, int), np.ones(10, int), 3


@pytest.mark.parametrize("name,labels,preds,k", list(_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_prf_matches_sklearn(name, labels, preds, k):
    cm = C.confusion_matrix(labels, preds, k)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(labels, preds, labels=range(k)))
    assert C.accuracy(labels, preds) == skm.accuracy_score(labels, preds)
    assert C.accuracy_from_confusion(cm) == skm.accuracy_score(labels, preds)
    for average in AVERAGES:
        for zd in ZERO_DIVISION:
            for beta in (1.0, 0.5, 2.0):
                ours = C.precision_recall_fscore_support(cm, beta=beta, average=average, zero_division=zd)
                ref = _sk(skm.precision_recall_fscore_support, labels, preds, beta=beta, labels=range(k),
                          average=average, zero_division=zd)
                for o, r in zip(ours, ref):
                    if r is None:
                        assert o is None
                    else:
                        np.testing.assert_allclose(o, r, rtol=1e-12, atol=0, equal_nan=True)
            np.testing.assert_allclose(C.f1_score(cm, average=average, zero_division=zd),
                                       _sk(skm.f1_score, labels, preds, labels=range(k), average=average,
                                           zero_division=zd), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("pos_label", [0, 1])
def test_binary_average_with_positive_class(pos_label):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 50)  # 1 = dog, 0 = cat
    preds = np.where(rng.random(50) < 0.7, labels, 1 - labels)
    cm = C.confusion_matrix(labels, preds, 2)
    for fn_ours, fn_sk in [(C.precision_score, skm.precision_score), (C.recall_score, skm.recall_score),
                           (C.f1_score, skm.f1_score)]:
        assert fn_ours(cm, average="binary", pos_label=pos_label) == pytest.approx(
            fn_sk(labels, preds, pos_label=pos_label), rel=1e-12)
    # no positive predictions: sklearn's zero_division value, no warning from us
    never = np.zeros(50, int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = C.precision_score(C.confusion_matrix(labels, never, 2), average="binary")
    assert p == _sk(skm.precision_score, labels, never) == 0.0
    with pytest.raises(ValueError, match="2x2"):
        C.precision_score(np.eye(3), average="binary")


@pytest.mark.parametrize("seed", range(3))
def test_top_k_accuracy_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, 120)
    scores = np.round(rng.random((120, 7)), 1)  # ties
    for k in (1, 2, 5):
        assert C.top_k_accuracy(labels, scores, k) == pytest.approx(
            _sk(skm.top_k_accuracy_score, labels, scores, k=k, labels=range(7)), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_loss_matches_sklearn(dtype):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 60)
    probs = rng.dirichlet(np.ones(4) * 0.3, 60).astype(dtype)
    probs[0] = np.eye(4, dtype=dtype)[(labels[0] + 1) % 4]  # a zero probability on the truth
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(C.log_loss(labels, probs), skm.log_loss(labels, probs, labels=range(4)), rtol=rtol)
    np.testing.assert_allclose(C.log_loss(labels, probs, normalize=False),
                               skm.log_loss(labels, probs, labels=range(4), normalize=False), rtol=rtol)
    names = np.where(rng.random(60) < 0.5, "dog", "cat")
    p_dog = rng.random(60).astype(dtype)
    p_dog[:3] = [0.0, 1.0, 1.0]
    np.testing.assert_allclose(C.log_loss(names, p_dog, pos_label="dog"), skm.log_loss(names, p_dog), rtol=rtol)
    np.testing.assert_allclose(C.log_loss(names, 1 - p_dog, pos_label="cat"),
                               skm.log_loss(names == "cat", 1 - p_dog), rtol=rtol)


def test_errors():
    with pytest.raises(ValueError, match="num_classes"):
        C.confusion_matrix([0, 5], [0, 1], 3)
    with pytest.raises(ValueError, match="zero_division"):
        C.precision_score(np.eye(2), zero_division=0.5)
    with pytest.raises(ValueError, match="average"):
        C.precision_score(np.eye(2), average="samples")
    with pytest.raises(ValueError, match="softmax"):
        C.log_loss([0, 1], np.array([[2.0, -1.0], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="square"):
        C.precision_recall_fscore_support(np.zeros((2, 3)))


def test_class_names_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match="map class names to indices"):
        C.confusion_matrix(["cat", "dog"], ["dog", "dog"], 2)
