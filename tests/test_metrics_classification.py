"""Classification metrics against scikit-learn: the sklearn-named functions take its arguments and
return its results; the confusion-matrix and class-index forms equal it with labels=range(K)."""
import warnings

import cnnlab  # noqa: F401
import numpy as np
import pytest
from sklearn import metrics as skm

from cnnlab.metrics import classification as C
from cnnlab.metrics._targets import UndefinedMetricWarning

AVERAGES = [None, "micro", "macro", "weighted"]
ZERO_DIVISION = ["warn", 0.0, 1.0, np.nan]
NAMES = np.array(["ant", "bee", "cat", "dog", "eel"])


def _sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _ours(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _assert_same(ours, ref, same_dtype=True):
    """One float, array or tuple of them, with the same types (float vs ndarray, None) as sklearn.

    same_dtype=False lets an integer support stand for scikit-learn's float one (which it gives
    when no prediction is right); the confusion-matrix forms always count in integers.
    """
    if isinstance(ref, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(ref)
        for o, r in zip(ours, ref):
            _assert_same(o, r, same_dtype)
        return
    if ref is None:
        assert ours is None
        return
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.shape == ref.shape
        if same_dtype:
            assert ours.dtype.kind == ref.dtype.kind, (ours.dtype, ref.dtype)
    else:
        assert isinstance(ours, float) and not isinstance(ours, np.ndarray), type(ours)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15, equal_nan=True)


def _random_labels(rng, n, k, as_names=False):
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.55, y_true, rng.integers(0, k, n))
    if as_names:
        return NAMES[y_true], NAMES[y_pred]
    return y_true, y_pred


def _cases():
    rng = np.random.default_rng(0)
    for trial in range(6):
        k = 2 if trial < 2 else int(rng.integers(3, 6))
        y_true, y_pred = _random_labels(rng, int(rng.integers(15, 60)), k, as_names=trial % 3 == 2)
        weight = None if trial % 2 else rng.random(len(y_true)) * (rng.random(len(y_true)) < 0.8)
        yield f"random{trial}", y_true, y_pred, weight
    y_true, y_pred = _random_labels(rng, 40, 4)
    yield "never_predicted", y_true, np.minimum(y_pred, 2), None  # class 3 never predicted
    yield "never_true", np.minimum(y_true, 2), y_pred, rng.integers(0, 3, 40)  # integer weights
    yield "one_class", np.full(12, 2), np.full(12, 2), None
    yield "all_wrong", np.zeros(10, int), np.ones(10, int), None


CASES = list(_cases())


@pytest.mark.parametrize("name,y_true,y_pred,weight", CASES, ids=[c[0] for c in CASES])
def test_precision_recall_f_take_sklearns_arguments(name, y_true, y_pred, weight):
    present = np.unique(np.concatenate([y_true, y_pred]))
    label_sets = [None, present[::-1][: max(1, present.size - 1)]]  # all, or a reordered subset
    if present.dtype.kind in "iu":
        label_sets.append(np.arange(present.max() + 2))  # a label that never occurs
    for labels in label_sets:
        for average in AVERAGES:
            for zero_division in ZERO_DIVISION:
                kwargs = dict(labels=labels, average=average, sample_weight=weight, zero_division=zero_division)
                for beta in (1.0, 0.5, 2.0):
                    _assert_same(_ours(C.precision_recall_fscore_support, y_true, y_pred, beta=beta, **kwargs),
                                 _sk(skm.precision_recall_fscore_support, y_true, y_pred, beta=beta, **kwargs))
                _assert_same(_ours(C.fbeta_score, y_true, y_pred, beta=0.5, **kwargs),
                             _sk(skm.fbeta_score, y_true, y_pred, beta=0.5, **kwargs))
                for ours, ref in [(C.precision_score, skm.precision_score), (C.recall_score, skm.recall_score),
                                  (C.f1_score, skm.f1_score)]:
                    _assert_same(_ours(ours, y_true, y_pred, **kwargs), _sk(ref, y_true, y_pred, **kwargs))


@pytest.mark.parametrize("pos_label", [0, 1])
def test_binary_default_average_scores_pos_label(pos_label):
    rng = np.random.default_rng(1)
    y_true, y_pred = _random_labels(rng, 50, 2)  # 1 = dog, 0 = cat
    weight = rng.random(50)
    for ours, ref in [(C.precision_score, skm.precision_score), (C.recall_score, skm.recall_score),
                      (C.f1_score, skm.f1_score)]:
        got = ours(y_true, y_pred, pos_label=pos_label)  # average='binary' by default
        assert isinstance(got, float)
        assert got == pytest.approx(ref(y_true, y_pred, pos_label=pos_label), rel=1e-12)
        assert ours(y_true, y_pred, pos_label=pos_label, sample_weight=weight) == pytest.approx(
            ref(y_true, y_pred, pos_label=pos_label, sample_weight=weight), rel=1e-12)
    names_true, names_pred = np.where(y_true, "dog", "cat"), np.where(y_pred, "dog", "cat")
    assert C.f1_score(names_true, names_pred, pos_label="dog") == pytest.approx(
        skm.f1_score(names_true, names_pred, pos_label="dog"), rel=1e-12)


def test_binary_average_errors_and_zero_division_warning_like_sklearn():
    rng = np.random.default_rng(2)
    y_true, y_pred = _random_labels(rng, 30, 3)
    for fn in (C.precision_score, C.recall_score, C.f1_score):
        with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
            fn(y_true, y_pred)
    with pytest.raises(ValueError, match="pos_label=2 is not a valid label"):
        C.precision_score([0, 1, 1], [1, 1, 0], pos_label=2)
    with pytest.raises(ValueError, match="pos_label='dog' is not a valid label"):
        C.precision_score(["cat", "cow"], ["cat", "cow"], pos_label="dog")
    # No positive predictions: 0 and an UndefinedMetricWarning by default, silent with a value.
    never = np.zeros(30, int)
    binary_true = (y_true > 0).astype(int)
    with pytest.warns(UndefinedMetricWarning, match="Precision is ill-defined"):
        assert C.precision_score(binary_true, never) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert C.precision_score(binary_true, never, zero_division=1.0) == 1.0
        assert np.isnan(C.precision_score(binary_true, never, zero_division=np.nan))
    with pytest.warns(UserWarning, match="pos_label"):
        C.precision_score(y_true, y_pred, average="macro", pos_label=2)
    with pytest.raises(ValueError, match="average"):
        C.precision_score(y_true, y_pred, average="mean")
    with pytest.raises(ValueError, match="Samplewise"):
        C.precision_score(y_true, y_pred, average="samples")
    with pytest.raises(ValueError, match="zero_division"):
        C.precision_score(binary_true, never, zero_division=0.5)
    with pytest.raises(ValueError, match="mix of binary and continuous"):
        C.f1_score(binary_true, rng.random(30))
    with pytest.raises(ValueError, match="continuous is not supported"):
        C.f1_score(rng.random(30), rng.random(30))
    with pytest.raises(ValueError, match="Mix of label input types"):
        C.f1_score(["cat", "dog"], [0, 1], average="macro")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        C.f1_score([0, 1, 1], [0, 1])


def test_multilabel_indicators_with_every_average():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, (25, 4))
    y_pred = np.where(rng.random((25, 4)) < 0.7, y_true, 1 - y_true)
    y_pred[:3] = 0  # rows without predictions: samplewise zero division
    weight = rng.random(25)
    for average in AVERAGES + ["samples"]:
        for zero_division in ZERO_DIVISION:
            for labels in (None, [0, 2]):
                kwargs = dict(average=average, zero_division=zero_division, labels=labels)
                _assert_same(_ours(C.precision_recall_fscore_support, y_true, y_pred, **kwargs),
                             _sk(skm.precision_recall_fscore_support, y_true, y_pred, **kwargs))
                _assert_same(_ours(C.precision_recall_fscore_support, y_true, y_pred, sample_weight=weight,
                                   **kwargs),
                             _sk(skm.precision_recall_fscore_support, y_true, y_pred, sample_weight=weight,
                                 **kwargs))


@pytest.mark.parametrize("name,y_true,y_pred,weight", CASES, ids=[c[0] for c in CASES])
def test_confusion_matrix_takes_sklearns_arguments(name, y_true, y_pred, weight):
    present = np.unique(np.concatenate([y_true, y_pred]))
    for labels in (None, present[::-1], present[:-1] if present.size > 1 else present):
        for normalize in (None, "true", "pred", "all"):
            kwargs = dict(labels=labels, sample_weight=weight, normalize=normalize)
            ours = _ours(C.confusion_matrix, y_true, y_pred, **kwargs)
            ref = _sk(skm.confusion_matrix, y_true, y_pred, **kwargs)
            assert ours.dtype == ref.dtype  # int64 counts, float64 with float weights or normalize
            np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="At least one label specified must be in y_true"):
        C.confusion_matrix(y_true, y_pred, labels=np.array(["zebra"]) if present.dtype.kind == "U" else [99])


@pytest.mark.parametrize("name,y_true,y_pred,weight", [c for c in CASES if c[1].dtype.kind in "iu"],
                         ids=[c[0] for c in CASES if c[1].dtype.kind in "iu"])
def test_confusion_forms_equal_sklearn_with_every_class(name, y_true, y_pred, weight):
    k = int(max(y_true.max(), y_pred.max())) + 2  # one class that never occurs
    everything = np.arange(k)
    cm = C.confusion_from_labels(y_true, y_pred, k)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=everything))
    assert C.accuracy(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    assert C.accuracy_from_confusion(cm) == pytest.approx(skm.accuracy_score(y_true, y_pred), rel=1e-12)
    for average in AVERAGES:
        for zero_division in (0.0, 1.0, np.nan):
            for beta in (1.0, 0.5, 2.0):
                _assert_same(
                    C.scores_from_confusion(cm, beta=beta, average=average, zero_division=zero_division),
                    _sk(skm.precision_recall_fscore_support, y_true, y_pred, beta=beta, labels=everything,
                        average=average, zero_division=zero_division), same_dtype=False)
            for ours, ref in [(C.precision_from_confusion, skm.precision_score),
                              (C.recall_from_confusion, skm.recall_score), (C.f1_from_confusion, skm.f1_score)]:
                _assert_same(ours(cm, average=average, zero_division=zero_division),
                             _sk(ref, y_true, y_pred, labels=everything, average=average,
                                 zero_division=zero_division))


def test_confusion_forms_binary_and_errors():
    rng = np.random.default_rng(4)
    y_true, y_pred = _random_labels(rng, 50, 2)
    cm = C.confusion_from_labels(y_true, y_pred, 2)
    for pos_label in (0, 1):
        assert C.f1_from_confusion(cm, average="binary", pos_label=pos_label) == pytest.approx(
            skm.f1_score(y_true, y_pred, pos_label=pos_label), rel=1e-12)
    valid = rng.random(50) < 0.7
    np.testing.assert_array_equal(C.confusion_from_labels(y_true, y_pred, 2, valid),
                                  skm.confusion_matrix(y_true[valid], y_pred[valid], labels=[0, 1]))
    with pytest.raises(ValueError, match="2x2"):
        C.precision_from_confusion(np.eye(3), average="binary")
    with pytest.raises(ValueError, match="zero_division"):
        C.precision_from_confusion(np.eye(2), zero_division=0.5)
    with pytest.raises(ValueError, match="average"):
        C.precision_from_confusion(np.eye(2), average="samples")
    with pytest.raises(ValueError, match="square"):
        C.scores_from_confusion(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="num_classes"):
        C.confusion_from_labels([0, 5], [0, 1], 3)
    with pytest.raises(ValueError, match="map class names to indices"):
        C.confusion_from_labels(["cat", "dog"], ["dog", "dog"], 2)


@pytest.mark.parametrize("seed", range(3))
def test_top_k_accuracy_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, 120)
    scores = np.round(rng.random((120, 7)), 1)  # ties
    for k in (1, 2, 5):
        assert C.top_k_accuracy(labels, scores, k) == pytest.approx(
            _sk(skm.top_k_accuracy_score, labels, scores, k=k, labels=range(7)), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_loss_takes_sklearns_arguments(dtype):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, 60)
    probs = rng.dirichlet(np.ones(4) * 0.3, 60).astype(dtype)
    probs[0] = np.eye(4, dtype=dtype)[(labels[0] + 1) % 4]  # a zero probability on the truth
    weight = rng.random(60)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for kwargs in ({}, {"normalize": False}, {"sample_weight": weight},
                   {"sample_weight": weight, "normalize": False}, {"labels": [0, 1, 2, 3]}):
        np.testing.assert_allclose(C.log_loss(labels, probs, **kwargs), skm.log_loss(labels, probs, **kwargs),
                                   rtol=rtol)
    # A class absent from y_true needs labels=, as in scikit-learn.
    few = np.minimum(labels, 2)
    with pytest.raises(ValueError, match="different number of classes"):
        C.log_loss(few, probs)
    np.testing.assert_allclose(C.log_loss(few, probs, labels=range(4)), skm.log_loss(few, probs, labels=range(4)),
                               rtol=rtol)
    # Binary: (N,) is the probability of the greater label ("dog" > "cat").
    names = np.where(rng.random(60) < 0.5, "dog", "cat")
    p_dog = rng.random(60).astype(dtype)
    p_dog[:3] = [0.0, 1.0, 1.0]
    np.testing.assert_allclose(C.log_loss(names, p_dog), skm.log_loss(names, p_dog), rtol=rtol)
    np.testing.assert_allclose(C.log_loss(names, p_dog, sample_weight=weight),
                               skm.log_loss(names, p_dog, sample_weight=weight), rtol=rtol)


def test_log_loss_errors_name_the_cause():
    with pytest.raises(ValueError, match="softmax"):
        C.log_loss([0, 1], np.array([[2.0, -1.0], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="only one label"):
        C.log_loss([1, 1], np.array([[0.5, 0.5], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="not belonging to the passed labels"):
        C.log_loss([0, 3], np.array([[0.5, 0.5], [0.2, 0.8]]), labels=[0, 1])
    with pytest.warns(UserWarning, match="do not sum to one"):
        C.log_loss([0, 1], np.array([[0.5, 0.4], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="at least one non-zero"):
        C.log_loss([0, 1], np.array([[0.5, 0.5], [0.2, 0.8]]), sample_weight=[0, 0])
