"""Training curves from metrics.jsonl (cnnlab.viz.curves)."""
import json
import math

import numpy as np
import pytest
from PIL import Image

from cnnlab.viz.curves import (available_metrics, load_metrics, metric_series, plot_training_curves,
                               training_curves_figure)

RECORDS = [
    {"step": 100, "epoch": 1.0, "train/loss": 0.9, "train/accuracy": 0.6, "lr": 1e-3},
    {"step": 200, "epoch": 2.0, "train/loss": 0.5, "train/accuracy": 0.8, "lr": 5e-4},
    {"step": 200, "epoch": 2.0, "val/loss": 0.7, "val/accuracy": 0.75},
    {"step": 300, "epoch": 3.0, "train/loss": float("nan"), "train/accuracy": 0.85},
    {"step": 400, "epoch": 4.0, "train/loss": 0.3},
    {"step": 400, "epoch": 4.0, "val/loss": 0.6, "val/accuracy": "n/a"},
    {"epoch": 5.0, "test/accuracy": 0.7},
]


def write_jsonl(path, records, extra_lines=()):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")  # json writes NaN as NaN, which json.loads reads back
        for line in extra_lines:
            f.write(line)
    return path


def test_load_metrics_reads_lines_and_reports_bad_ones(tmp_path):
    path = write_jsonl(tmp_path / "metrics.jsonl", RECORDS, ["\n", "   \n"])
    records = load_metrics(path)
    assert len(records) == len(RECORDS)
    assert math.isnan(records[3]["train/loss"])
    bad = write_jsonl(tmp_path / "bad.jsonl", RECORDS[:2], ['{"step": 3, "train/loss": \n', '{"step": 4}\n'])
    with pytest.raises(ValueError, match=r"bad.jsonl:3 is not valid JSON"):
        load_metrics(bad)
    with pytest.raises(FileNotFoundError, match="metrics.jsonl"):
        load_metrics(tmp_path / "missing.jsonl")


def test_metric_series_skips_missing_nan_and_non_numeric():
    xs, ys = metric_series(RECORDS, "train/loss")
    np.testing.assert_array_equal(xs, [100, 200, 400])
    np.testing.assert_array_equal(ys, [0.9, 0.5, 0.3])
    xs, ys = metric_series(RECORDS, "val/accuracy")
    np.testing.assert_array_equal(xs, [200])  # "n/a" dropped
    xs, ys = metric_series(RECORDS, "test/accuracy", x="epoch")
    np.testing.assert_array_equal(xs, [5.0])
    assert len(metric_series(RECORDS, "test/accuracy", x="step")[0]) == 0  # that line has no step
    xs, ys = metric_series([{"step": 3, "a": 1.0}, {"step": 1, "a": 2.0}], "a")
    np.testing.assert_array_equal(xs, [1, 3])  # sorted by step
    np.testing.assert_array_equal(ys, [2.0, 1.0])


def test_available_metrics_losses_first():
    assert available_metrics(RECORDS) == ["loss", "accuracy"]
    assert available_metrics([{"train/top5_accuracy": 1, "val/aux_loss": 2, "lr": 3}]) == [
        "aux_loss", "top5_accuracy"]


def test_figure_has_one_panel_per_metric_log_scale_for_loss():
    fig = training_curves_figure(RECORDS, metrics=["loss", "accuracy", "lr"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "lr"]
    assert [ax.get_yscale() for ax in axes] == ["log", "linear", "linear"]
    loss_lines = {line.get_label(): line for line in axes[0].get_lines()}
    assert set(loss_lines) == {"train", "val"}
    np.testing.assert_array_equal(loss_lines["train"].get_xdata(), [100, 200, 400])
    np.testing.assert_array_equal(loss_lines["val"].get_ydata(), [0.7, 0.6])
    acc_labels = [line.get_label() for line in axes[1].get_lines()]
    assert acc_labels == ["train", "val"]  # test/accuracy has no step, so no test curve
    epoch_fig = training_curves_figure(RECORDS, metrics=["accuracy"], x="epoch")
    assert [l.get_label() for l in epoch_fig.axes[0].get_lines()] == ["train", "val", "test"]
    assert epoch_fig.axes[0].get_xlabel() == "epoch"


def test_loss_with_zero_stays_linear():
    fig = training_curves_figure([{"step": 1, "train/loss": 0.0}, {"step": 2, "train/loss": 1.0}])
    assert fig.axes[0].get_yscale() == "linear"


def test_plot_training_curves_writes_png_from_file(tmp_path):
    path = write_jsonl(tmp_path / "metrics.jsonl", RECORDS)
    out = plot_training_curves(path, tmp_path / "curves.png")
    assert out == str(tmp_path / "curves.png")
    with Image.open(out) as im:
        assert im.size == (900, 340)  # two panels of 4.5 x 3.4 inches at 100 dpi
        assert np.asarray(im.convert("L")).std() > 5  # something was drawn
    out = plot_training_curves(RECORDS, tmp_path / "four.png", metrics=["loss", "accuracy", "lr", "loss"])
    with Image.open(out) as im:
        assert im.size == (1350, 680)  # 3 columns, 2 rows


def test_plot_training_curves_errors(tmp_path):
    with pytest.raises(ValueError, match="'top5'.*Logged metrics: loss, accuracy"):
        plot_training_curves(RECORDS, tmp_path / "x.png", metrics=["top5"])
    with pytest.raises(ValueError, match="numeric 'time'"):
        plot_training_curves(RECORDS, tmp_path / "x.png", x="time")
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_training_curves([{"step": 1, "lr": 0.1}], tmp_path / "x.png")


def test_list_valued_metrics_are_not_curves(tmp_path):
    from cnnlab.viz.curves import available_metrics, plot_training_curves
    records = [{"step": 1, "val/mean_iou": 0.5, "val/per_class_iou": [0.1, 0.9]},
               {"step": 2, "val/mean_iou": 0.6, "val/per_class_iou": [0.2, 0.9]}]
    assert available_metrics(records) == ["mean_iou"]
    assert plot_training_curves(records, str(tmp_path / "c.png")).endswith("c.png")
