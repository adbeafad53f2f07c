"""Run reports: the metrics of a restored run equal scikit-learn on its predictions."""
import json
import os

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from cnnlab.experiments import report
from cnnlab.train import loop
from train_helpers import tiny_config

pytestmark = pytest.mark.xdist_group("test_experiments_report")  # one worker builds the module fixtures once


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("report") / "run")
    result = loop.run(tiny_config(epochs=1), workdir, verbose=False)
    return workdir, result


def test_report_of_a_run_equals_sklearn(tiny_run):
    workdir, result = tiny_run
    pred = report.predict_split(workdir, gallery_size=9)
    numbers = report.write_report(workdir, gallery_size=9, predictions=pred)
    y, probs = pred.labels, pred.probs  # (32,), (32, 3)
    assert y.shape == (32,) and probs.shape == (32, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-9)
    # The run's own test evaluation (the task's sums on device) agrees with the host report.
    assert numbers["accuracy"] == pytest.approx(result["test/accuracy"], abs=1e-6)
    assert numbers["log_loss"] == pytest.approx(result["test/loss"], rel=1e-4)
    yhat = probs.argmax(1)
    labels = [0, 1, 2]
    assert numbers["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat))
    np.testing.assert_array_equal(numbers["confusion_matrix"], skm.confusion_matrix(y, yhat, labels=labels))
    p, r, f, s = skm.precision_recall_fscore_support(y, yhat, labels=labels, zero_division=0)
    for i, name in enumerate(pred.class_names):
        got = numbers["per_class"][name]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    mp, mr, mf, _ = skm.precision_recall_fscore_support(y, yhat, labels=labels, average="macro", zero_division=0)
    assert (numbers["precision"], numbers["recall"], numbers["f1"]) == pytest.approx((mp, mr, mf))
    assert numbers["auc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert numbers["average_precision"] == pytest.approx(
        skm.average_precision_score(label_binarize(y, classes=labels), probs, average="macro"))
    assert numbers["log_loss"] == pytest.approx(skm.log_loss(y, probs, labels=labels))
    assert numbers["parameters"] == 3 * 3 * 3 * 4 + 2 * 4 + 3 * 3 * 4 * 8 + 2 * 8 + 8 * 3 + 3
    # JSON on disk holds the same numbers; every figure is a PNG in the run directory.
    with open(os.path.join(workdir, "report_test.json")) as fh:
        saved = json.load(fh)
    assert saved["accuracy"] == numbers["accuracy"] and saved["step"] == result["step"]
    for kind in ("confusion", "roc", "pr", "gallery"):
        with open(numbers["paths"][kind], "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    # The gallery keeps mistakes first, most confident first.
    wrong = pred.gallery_probs.argmax(1) != pred.gallery_labels
    assert wrong.sum() == min(9, int((yhat != y).sum()))
    assert not np.any(np.diff(wrong.astype(int)) > 0)  # no mistake after a correct one
    conf = pred.gallery_probs.max(1)
    assert np.all(np.diff(conf[wrong]) <= 0)


def test_binary_report_uses_the_positive_class():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    logits = rng.normal(size=(200, 1)) + (y[:, None] - 0.5)  # one sigmoid logit
    probs = report.probabilities(logits, "sigmoid")
    np.testing.assert_allclose(probs[:, 1], 1 / (1 + np.exp(-logits[:, 0])))
    for pos, name in ((1, "dog"), (0, "cat")):
        numbers, curves = report.classification_report(y, probs, ["cat", "dog"], pos_label=name)
        yhat = (logits[:, 0] > 0).astype(int)
        assert numbers["positive_class"] == name
        assert numbers["precision"] == pytest.approx(skm.precision_score(y, yhat, pos_label=pos))
        assert numbers["recall"] == pytest.approx(skm.recall_score(y, yhat, pos_label=pos))
        assert numbers["f1"] == pytest.approx(skm.f1_score(y, yhat, pos_label=pos))
        assert numbers["auc"] == pytest.approx(skm.roc_auc_score(y == pos, probs[:, pos]))
        assert numbers["average_precision"] == pytest.approx(skm.average_precision_score(y == pos, probs[:, pos]))
        fpr, tpr, _ = skm.roc_curve(y, probs[:, pos], pos_label=pos)
        np.testing.assert_allclose(curves["roc"][name][0], fpr)
        np.testing.assert_allclose(curves["roc"][name][1], tpr)
    assert report.positive_index("1", ["cat", "dog"]) == 1
    with pytest.raises(ValueError, match="not a class"):
        report.classification_report(y, probs, ["cat", "dog"], pos_label="horse")
    with pytest.raises(ValueError, match="out of range"):
        report.positive_index(2, ["cat", "dog"])


def test_probabilities_and_errors():
    z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(report.probabilities(z), np.exp(z) / np.exp(z).sum(1, keepdims=True))
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(report.probabilities(z, "sigmoid"), s / s.sum(1, keepdims=True))
    with pytest.raises(ValueError, match=r"\(N, K >= 2\)"):
        report.classification_report([0, 1], np.ones((2, 1)))
    with pytest.raises(FileNotFoundError, match="not a cnnlab run directory"):
        report.write_report("/nonexistent/run")
