"""Confusion matrix, ROC/PR and prediction gallery figures (cnnlab.viz.classification)."""
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image
from sklearn.metrics import auc, average_precision_score, confusion_matrix, precision_recall_curve, roc_curve

from cnnlab.viz.classification import (confusion_matrix_figure, gallery_order, normalize_confusion,
                                       plot_confusion_matrix, plot_pr, plot_roc, prediction_gallery,
                                       prediction_gallery_figure, roc_figure, pr_figure)

pytestmark = pytest.mark.xdist_group("test_viz_classification")  # one worker builds the module fixtures once


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    preds = np.where(rng.random(60) < 0.7, labels, rng.integers(0, 3, 60))
    return labels, preds


def test_normalize_confusion_matches_sklearn(predictions):
    labels, preds = predictions
    cm = confusion_matrix(labels, preds, labels=[0, 1, 2, 3])  # class 3 never occurs: zero row
    expected = np.nan_to_num(confusion_matrix(labels, preds, labels=[0, 1, 2, 3], normalize="true"))
    np.testing.assert_allclose(normalize_confusion(cm), expected, atol=1e-12)
    assert normalize_confusion(cm)[3].tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="square"):
        normalize_confusion(np.zeros((2, 3)))


def test_confusion_figure_annotates_counts_and_rates(predictions, tmp_path):
    labels, preds = predictions
    cm = confusion_matrix(labels, preds)
    fig = confusion_matrix_figure(cm, class_names=["cat", "dog", "bird"])
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 9
    rate00 = cm[0, 0] / cm[0].sum()
    assert texts[0] == f"{cm[0, 0]}\n{rate00:.2f}"
    assert texts[5] == f"{cm[1, 2]}\n{cm[1, 2] / cm[1].sum():.2f}"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "bird"]
    assert f"{np.trace(cm) / cm.sum():.3f}" in ax.get_title()
    out = plot_confusion_matrix(cm, tmp_path / "cm.png", class_names=["cat", "dog", "bird"])
    with Image.open(out) as im:
        assert im.size == (500, 400)  # 4 x 4 inch heatmap + 1 inch colour bar at 100 dpi
    big = confusion_matrix_figure(np.eye(30, dtype=int))
    assert len(big.axes[0].texts) == 0  # too many classes to annotate
    with pytest.raises(ValueError, match="2 class names for 3 classes"):
        confusion_matrix_figure(cm, class_names=["a", "b"])


def test_roc_and_pr_legends_carry_scores(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    good = y + rng.normal(0, 0.6, 200)
    weak = y + rng.normal(0, 2.0, 200)
    curves, pr_curves = {}, {}
    for name, score in [("good", good), ("weak", weak)]:
        fpr, tpr, _ = roc_curve(y, score)
        curves[name] = (fpr, tpr, auc(fpr, tpr))
        precision, recall, _ = precision_recall_curve(y, score)
        pr_curves[name] = (recall, precision, average_precision_score(y, score))
    labels = [t.get_text() for t in roc_figure(curves).axes[0].get_legend().get_texts()]
    assert labels == ["chance", f"good (AUC = {curves['good'][2]:.3f})", f"weak (AUC = {curves['weak'][2]:.3f})"]
    assert curves["good"][2] > curves["weak"][2] > 0.5
    pr_labels = [t.get_text() for t in pr_figure(pr_curves).axes[0].get_legend().get_texts()]
    assert pr_labels == [f"good (AP = {pr_curves['good'][2]:.3f})", f"weak (AP = {pr_curves['weak'][2]:.3f})"]
    for fn, c, name in [(plot_roc, curves, "roc.png"), (plot_pr, pr_curves, "pr.png")]:
        with Image.open(fn(c, tmp_path / name)) as im:
            assert im.size == (550, 500)
    no_auc = roc_figure({"m": ([0, 1], [0, 1], None)})
    assert no_auc.axes[0].get_legend().get_texts()[1].get_text() == "m"
    with pytest.raises(ValueError, match="equal length"):
        plot_roc({"m": ([0, 0.5, 1], [0, 1], 0.5)}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_pr({}, tmp_path / "x.png")


def test_gallery_order_puts_mistakes_first():
    labels = np.array([0, 1, 2, 1, 0])
    preds = np.array([0, 2, 2, 0, 1])
    np.testing.assert_array_equal(gallery_order(labels, preds), [1, 3, 4, 0, 2])
    conf = np.array([0.9, 0.6, 0.8, 0.95, 0.7])
    np.testing.assert_array_equal(gallery_order(labels, preds, conf), [3, 4, 1, 0, 2])
    full = np.full((5, 3), 0.05)
    full[np.arange(5), preds] = conf  # (N, K) form gives the same order
    np.testing.assert_array_equal(gallery_order(labels, preds, full), [3, 4, 1, 0, 2])
    np.testing.assert_array_equal(gallery_order(labels, labels), np.arange(5))  # no mistakes: unchanged
    with pytest.raises(ValueError, match="equal length"):
        gallery_order(labels, preds[:3])


def test_prediction_gallery_titles_colours_and_size(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.random((6, 12, 12, 1)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0, 2])
    preds = np.array([0, 2, 2, 0, 0, 2])
    probs = np.array([0.9, 0.6, 0.8, 0.95, 0.7, 0.99])
    names = ["cat", "dog", "bird"]
    fig = prediction_gallery_figure(images, labels, preds, probs, names, max_images=4)
    shown = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in shown] == [
        "dog / cat (0.95)", "dog / bird (0.60)", "bird / bird (0.99)", "cat / cat (0.90)"]
    colours = [to_rgb(ax.title.get_color()) for ax in shown]
    assert colours == [to_rgb("red")] * 2 + [to_rgb("green")] * 2
    np.testing.assert_allclose(shown[0].get_images()[0].get_array(), images[3, :, :, 0])
    out = prediction_gallery(images, labels, preds, probs, names, tmp_path / "gallery.png", max_images=4)
    with Image.open(out) as im:
        assert im.size == (400, 450)  # 2 x 2 panels of 2.0 x 2.25 inches
    uint8 = prediction_gallery((images * 255).astype(np.uint8), labels, preds, None, None,
                               tmp_path / "g2.png")
    with Image.open(uint8) as im:
        assert im.size == (600, 450)  # 6 images: 3 columns, 2 rows
    with pytest.raises(ValueError, match="one label per image"):
        prediction_gallery(images, labels[:3], preds[:3], None, names, tmp_path / "x.png")
    with pytest.raises(ValueError, match=">= 0"):
        prediction_gallery(images, labels - 1, preds, None, names, tmp_path / "x.png")
