"""ROC curve, ROC AUC, precision-recall curve and average precision: scikit-learn's arguments, its results."""
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


def _assert_score_equal(ours, ref):
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == ref.shape
    else:
        assert isinstance(ours, float)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15, equal_nan=True)


def _binary_cases():
    rng = np.random.default_rng(0)
    for trial in range(4):
        n = int(rng.integers(5, 60))
        labels = rng.integers(0, 2, n)
        scores = rng.random(n) if trial % 2 else np.round(rng.random(n), 1)  # ties on even trials
        weight = rng.random(n) * (rng.random(n) < 0.8) if trial >= 2 else None
        yield f"random{trial}", labels, scores, weight
    yield "minus_one_plus_one", np.array([-1, 1, 1, -1, 1, -1]), rng.random(6), None
    yield "all_tied", np.array([0, 1, 1, 0, 1]), np.full(5, 0.5), None
    yield "perfect", np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]), None
    yield "integer_scores", np.array([0, 1, 1, 0, 1, 0]), np.array([3, 1, 2, 2, 5, 0], np.uint8), None
    yield "no_positives", np.zeros(6, int), rng.random(6), None
    yield "no_negatives", np.ones(6, int), rng.random(6), None
    yield "single", np.array([1]), np.array([0.3]), None


CASES = list(_binary_cases())


@pytest.mark.parametrize("name,labels,scores,weight", CASES, ids=[c[0] for c in CASES])
def test_binary_curves_and_scores(name, labels, scores, weight):
    for drop in (True, False):
        kwargs = dict(sample_weight=weight, drop_intermediate=drop)
        _assert_curves_equal(R.roc_curve(labels, scores, **kwargs), _sk(skm.roc_curve, labels, scores, **kwargs))
        _assert_curves_equal(R.precision_recall_curve(labels, scores, **kwargs),
                             _sk(skm.precision_recall_curve, labels, scores, **kwargs))
    assert R.roc_curve(labels, scores)[2][0] == np.inf
    for max_fpr in (None, 0.3, 1.0):
        _assert_score_equal(R.roc_auc_score(labels, scores, sample_weight=weight, max_fpr=max_fpr),
                            _sk(skm.roc_auc_score, labels, scores, sample_weight=weight, max_fpr=max_fpr))
    _assert_score_equal(R.average_precision_score(labels, scores, sample_weight=weight),
                        _sk(skm.average_precision_score, labels, scores, sample_weight=weight))


def test_positive_class_is_configurable():
    """Dogs are the positive case: string labels and pos_label, or 0/1 with either class positive."""
    rng = np.random.default_rng(1)
    names = np.where(rng.random(40) < 0.4, "dog", "cat")
    p_dog = np.clip(rng.normal(0.6, 0.2, 40) * (names == "dog") + rng.random(40) * 0.5, 0, 1)
    weight = rng.random(40)
    for kwargs in ({}, {"sample_weight": weight}):
        _assert_curves_equal(R.roc_curve(names, p_dog, pos_label="dog", **kwargs),
                             skm.roc_curve(names, p_dog, pos_label="dog", **kwargs))
        _assert_curves_equal(R.precision_recall_curve(names, p_dog, pos_label="dog", **kwargs),
                             skm.precision_recall_curve(names, p_dog, pos_label="dog", **kwargs))
        _assert_score_equal(R.average_precision_score(names, p_dog, pos_label="dog", **kwargs),
                            skm.average_precision_score(names, p_dog, pos_label="dog", **kwargs))
        # roc_auc_score has no pos_label: the positive class is the greater label ("dog" > "cat").
        _assert_score_equal(R.roc_auc_score(names, p_dog, **kwargs), skm.roc_auc_score(names, p_dog, **kwargs))
    labels = (names == "dog").astype(int)
    _assert_curves_equal(R.roc_curve(labels, 1 - p_dog, pos_label=0), skm.roc_curve(labels, 1 - p_dog, pos_label=0))
    _assert_score_equal(R.average_precision_score(labels, 1 - p_dog, pos_label=0),
                        skm.average_precision_score(labels, 1 - p_dog, pos_label=0))
    # One class of several against the rest: multi-class labels with pos_label.
    classes = rng.integers(0, 4, 40)
    _assert_curves_equal(R.roc_curve(classes, p_dog, pos_label=2), skm.roc_curve(classes, p_dog, pos_label=2))
    with pytest.raises(ValueError, match="pos_label is not specified"):
        R.roc_curve(names, p_dog)
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        R.average_precision_score(names, p_dog)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
def test_multiclass_probabilities(seed, average):
    rng = np.random.default_rng(seed)
    k = 4
    labels = rng.integers(0, k, 70)
    scores = rng.dirichlet(np.ones(k), 70)
    if seed == 2:
        scores = np.round(scores, 1)
        scores /= scores.sum(axis=1, keepdims=True)
    weight = rng.random(70)
    for kwargs in ({}, {"sample_weight": weight}, {"labels": np.arange(k)}):
        _assert_score_equal(R.roc_auc_score(labels, scores, multi_class="ovr", average=average, **kwargs),
                            skm.roc_auc_score(labels, scores, multi_class="ovr", average=average, **kwargs))
        _assert_score_equal(R.average_precision_score(labels, scores, average=average,
                                                      sample_weight=kwargs.get("sample_weight")),
                            skm.average_precision_score(labels, scores, average=average,
                                                        sample_weight=kwargs.get("sample_weight")))
    if average != "micro" and average is not None:
        _assert_score_equal(R.roc_auc_score(labels, scores, multi_class="ovo", average=average),
                            skm.roc_auc_score(labels, scores, multi_class="ovo", average=average))
    # One-vs-rest over columns as a 0/1 indicator y_true, for any scores.
    onehot = label_binarize(labels, classes=range(k))
    raw = rng.normal(size=(70, k))
    for kwargs in ({}, {"sample_weight": weight}):
        _assert_score_equal(R.roc_auc_score(onehot, raw, average=average, **kwargs),
                            skm.roc_auc_score(onehot, raw, average=average, **kwargs))
        _assert_score_equal(R.average_precision_score(onehot, raw, average=average, **kwargs),
                            skm.average_precision_score(onehot, raw, average=average, **kwargs))


def test_multiclass_absent_class_and_samples_average():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 30)  # class 3 never occurs
    scores = rng.dirichlet(np.ones(4), 30)
    onehot = label_binarize(labels, classes=range(4))
    for average in ["macro", "weighted", None, "samples"]:
        if average != "samples":
            _assert_score_equal(
                R.roc_auc_score(labels, scores, multi_class="ovr", labels=range(4), average=average),
                _sk(skm.roc_auc_score, labels, scores, multi_class="ovr", labels=range(4), average=average))
        _assert_score_equal(R.roc_auc_score(onehot, scores, average=average),
                            _sk(skm.roc_auc_score, onehot, scores, average=average))
        _assert_score_equal(R.average_precision_score(onehot, scores, average=average),
                            _sk(skm.average_precision_score, onehot, scores, average=average))
    assert np.isnan(R.roc_auc_score(onehot, scores, average="macro"))  # the absent class has no AUC
    assert R.average_precision_score(onehot, scores, average=None)[3] == 0.0


def test_auc_and_errors():
    assert R.auc([0, 0.5, 1], [0, 1, 1]) == pytest.approx(0.75)
    assert R.auc([1, 0.5, 0], [1, 1, 0]) == pytest.approx(0.75)
    for x, y in ([[0, 0.2, 0.6, 1.0], [0, 0.5, 0.7, 1.0]], [[1.0, 0.6, 0.6, 0.0], [1.0, 0.9, 0.4, 0.0]]):
        assert R.auc(x, y) == pytest.approx(skm.auc(x, y), rel=1e-12)
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        R.auc([0, 1, 0.5], [0, 1, 1])
    with pytest.raises(ValueError, match="At least 2 points"):
        R.auc([0.5], [1.0])
    with pytest.raises(ValueError, match=r"\(N,\)"):
        R.roc_curve([0, 1], [[0.1, 0.9], [0.2, 0.8]])
    with pytest.raises(ValueError, match="nan"):
        R.roc_curve([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="multi_class must be in"):
        R.roc_auc_score([0, 1, 2], np.eye(3))
    with pytest.raises(ValueError, match="sum up to 1.0"):
        R.roc_auc_score([0, 1, 2], np.eye(3) * 2, multi_class="ovr")
    with pytest.raises(ValueError, match="average must be one of"):
        R.roc_auc_score([0, 1, 2], np.eye(3), multi_class="ovr", average="samples")
    with pytest.raises(ValueError, match="Number of classes in y_true"):
        R.roc_auc_score([0, 1, 2], np.full((3, 4), 0.25), multi_class="ovr")
    with pytest.raises(ValueError, match="average=None .* needs multi_class='ovr'"):
        R.roc_auc_score([0, 1, 2], np.eye(3), multi_class="ovo", average=None)
    with pytest.raises(ValueError, match="pos_label is fixed to 1 for multiclass"):
        R.average_precision_score([0, 1, 2], np.eye(3), pos_label=2)
    with pytest.raises(ValueError, match="continuous format is not supported"):
        R.roc_curve([0.1, 0.7], [0.1, 0.7])
