"""ROC curve, ROC AUC, precision-recall curve and average precision against scikit-learn."""
import warnings

import cnnlab  # noqa: F401
import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from cnnlab.metrics import ranking as R


def _sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _assert_curves_equal(ours, ref):
    assert len(ours) == len(ref)
    for o, r in zip(ours, ref):
        assert o.shape == r.shape
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=0, equal_nan=True)


def _binary_cases():
    rng = np.random.default_rng(0)
    for trial in range(4):
        n = int(rng.integers(5, 60))
        labels = rng.integers(0, 2, n)
        scores = rng.random(n) if trial % 2 else np.round(rng.random(n), 1)  # ties on odd trials
        yield f"random{trial}", labels, scores
    yield "all_tied", np.array([0, 1, 1, 0, 1]), np.full(5, 0.5)
    yield "perfect", np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])
    yield "no_positives", np.zeros(6, int), rng.random(6)
    yield "no_negatives", np.ones(6, int), rng.random(6)
    yield "single", np.array([1]), np.array([0.3])


@pytest.mark.parametrize("name,labels,scores", list(_binary_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_binary_curves_and_scores(name, labels, scores):
    for drop in (True, False):
        _assert_curves_equal(R.roc_curve(labels, scores, drop_intermediate=drop),
                             _sk(skm.roc_curve, labels, scores, drop_intermediate=drop))
        _assert_curves_equal(R.precision_recall_curve(labels, scores, drop_intermediate=drop),
                             _sk(skm.precision_recall_curve, labels, scores, drop_intermediate=drop))
    assert R.roc_curve(labels, scores)[2][0] == np.inf
    np.testing.assert_allclose(R.roc_auc_score(labels, scores), _sk(skm.roc_auc_score, labels, scores),
                               rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(R.average_precision_score(labels, scores),
                               _sk(skm.average_precision_score, labels, scores), rtol=1e-12)


def test_positive_class_is_configurable():
    """Dogs are the positive case: string labels and pos_label, or 0/1 with either class positive."""
    rng = np.random.default_rng(1)
    names = np.where(rng.random(40) < 0.4, "dog", "cat")
    p_dog = np.clip(rng.normal(0.6, 0.2, 40) * (names == "dog") + rng.random(40) * 0.5, 0, 1)
    _assert_curves_equal(R.roc_curve(names, p_dog, pos_label="dog"), skm.roc_curve(names, p_dog, pos_label="dog"))
    _assert_curves_equal(R.precision_recall_curve(names, p_dog, pos_label="dog"),
                         skm.precision_recall_curve(names, p_dog, pos_label="dog"))
    assert R.roc_auc_score(names, p_dog, pos_label="dog") == pytest.approx(
        skm.roc_auc_score(names == "dog", p_dog), rel=1e-12)
    assert R.average_precision_score(names, p_dog, pos_label="dog") == pytest.approx(
        skm.average_precision_score(names, p_dog, pos_label="dog"), rel=1e-12)
    labels = (names == "dog").astype(int)
    _assert_curves_equal(R.roc_curve(labels, 1 - p_dog, pos_label=0), skm.roc_curve(labels, 1 - p_dog, pos_label=0))
    assert R.average_precision_score(labels, 1 - p_dog, pos_label=0) == pytest.approx(
        skm.average_precision_score(labels, 1 - p_dog, pos_label=0), rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
def test_multiclass_one_vs_rest(seed, average):
    rng = np.random.default_rng(seed)
    k = 4
    labels = rng.integers(0, k, 70)
    scores = rng.dirichlet(np.ones(k), 70)
    if seed == 2:
        scores = np.round(scores, 1)
        scores /= scores.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(R.roc_auc_score(labels, scores, average=average),
                               skm.roc_auc_score(labels, scores, multi_class="ovr", average=average),
                               rtol=1e-12)
    np.testing.assert_allclose(R.average_precision_score(labels, scores, average=average),
                               skm.average_precision_score(label_binarize(labels, classes=range(k)), scores,
                                                           average=average), rtol=1e-12)


def test_multiclass_absent_class():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 30)  # class 3 never occurs
    scores = rng.dirichlet(np.ones(4), 30)
    for average in ["macro", "weighted", None]:
        np.testing.assert_allclose(
            R.roc_auc_score(labels, scores, average=average),
            _sk(skm.roc_auc_score, labels, scores, multi_class="ovr", labels=range(4), average=average),
            rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(
            R.average_precision_score(labels, scores, average=average),
            _sk(skm.average_precision_score, label_binarize(labels, classes=range(4)), scores, average=average),
            rtol=1e-12)
    assert np.isnan(R.roc_auc_score(labels, scores, average="macro"))


def test_auc_and_errors():
    assert R.auc([0, 0.5, 1], [0, 1, 1]) == pytest.approx(0.75)
    assert R.auc([1, 0.5, 0], [1, 1, 0]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="monotonic"):
        R.auc([0, 1, 0.5], [0, 1, 1])
    with pytest.raises(ValueError, match=r"\(N,\)"):
        R.roc_curve([0, 1], [[0.1, 0.9], [0.2, 0.8]])
    with pytest.raises(ValueError, match="nan"):
        R.roc_curve([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="average"):
        R.roc_auc_score([0, 1, 2], np.eye(3), average="samples")
    with pytest.raises(ValueError, match="class indices"):
        R.roc_auc_score([0, 1, 3], np.eye(3))
