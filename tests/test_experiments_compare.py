"""Comparisons: one table of several runs on the same data; finished runs are reused."""
import csv
import os

import numpy as np
import pytest
from sklearn import metrics as skm

from cnnlab.experiments import compare, report, runs
from train_helpers import tiny_config


def _binary(model: str):
    """Two shape classes, one sigmoid logit (the dogs-vs-cats layout), one epoch."""
    c = tiny_config(epochs=1)
    c.data.num_classes = 2
    c.model.num_classes = 1
    c.task.loss_type = "sigmoid"
    c.task.num_classes = 1
    if model == "dense":
        del c.model["widths"]
        c.model.name = "dense"
        c.model.hidden = (8,)
    return c


def test_compare_trains_once_then_reuses(tmp_path):
    configs = {"conv": _binary("conv"), "dense": _binary("dense")}
    first = compare.compare(configs, str(tmp_path), verbose=False)
    assert first["statuses"] == {"conv": "trained", "dense": "trained"}
    stamps = {n: os.path.getmtime(tmp_path / n / "metrics.jsonl") for n in configs}
    ckpts = {n: runs.checkpoint_steps(str(tmp_path / n)) for n in configs}
    assert ckpts == {"conv": [6], "dense": [6]}  # 96 images / batch 16, one epoch

    second = compare.compare(configs, str(tmp_path), verbose=False)
    assert second["statuses"] == {"conv": "reused", "dense": "reused"}
    assert {n: os.path.getmtime(tmp_path / n / "metrics.jsonl") for n in configs} == stamps
    for a, b in zip(first["rows"], second["rows"]):
        assert a["accuracy"] == b["accuracy"] and a["auc"] == b["auc"]
        assert a["train_time_s"] == pytest.approx(b["train_time_s"])  # recorded once, read back

    with open(tmp_path / "comparison.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["model"] for r in table] == ["conv", "dense"]
    # dense: 16*16*3 -> 8 -> 1; simple_cnn (4, 8) with one logit.
    assert int(table[1]["parameters"]) == 768 * 8 + 8 + 8 * 1 + 1
    assert int(table[0]["parameters"]) == 3 * 3 * 3 * 4 + 2 * 4 + 3 * 3 * 4 * 8 + 2 * 8 + 8 + 1
    md = (tmp_path / "comparison.md").read_text()
    assert md.count("\n") == 4 and "| conv |" in md and "| dense |" in md
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"

    # Each row equals scikit-learn on that run's predictions (dogs = class 1 positive).
    for row in table:
        pred = report.predict_split(row["run"])
        y, p1 = pred.labels, pred.probs[:, 1]
        yhat = (p1 > 0.5).astype(int)
        assert float(row["accuracy"]) == pytest.approx(skm.accuracy_score(y, yhat))
        assert float(row["precision"]) == pytest.approx(skm.precision_score(y, yhat, zero_division=0))
        assert float(row["recall"]) == pytest.approx(skm.recall_score(y, yhat))
        assert float(row["f1"]) == pytest.approx(skm.f1_score(y, yhat))
        assert float(row["auc"]) == pytest.approx(skm.roc_auc_score(y, p1))


def test_finished_means_a_test_record_at_the_last_step(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "checkpoints" / "6").mkdir(parents=True)
    log = workdir / "metrics.jsonl"
    log.write_text('{"step": 6, "train/loss": 1.0}\n')
    assert not runs.is_finished(str(workdir))  # interrupted before the test evaluation
    log.write_text('{"step": 6, "train/loss": 1.0}\n{"step": 6, "test/accuracy": 0.5}\n')
    assert runs.is_finished(str(workdir))
    (workdir / "checkpoints" / "6").rmdir()
    (workdir / "checkpoints" / "3").mkdir()
    assert not runs.is_finished(str(workdir))  # the checkpoint is not at the last step


def test_config_checks_and_overrides(tmp_path):
    a, b = _binary("conv"), _binary("conv")
    b.data.num_classes = 3
    with pytest.raises(ValueError, match=r"differ in data.num_classes"):
        compare.compare({"a": a, "b": b}, str(tmp_path), verbose=False)
    b = _binary("conv")
    b.data.augment = {"horizontal_flip": True}
    b.data.image_size = (24, 24)
    compare.check_same_data({"a": a, "b": b})  # augmentation and resizing of the same examples may differ

    assert runs.parse_overrides(["train.epochs=2,optim.lr=0.01", "data.classes=('cat','dog')"]) == {
        "train.epochs": 2, "optim.lr": 0.01, "data.classes": ("cat", "dog")}
    c = runs.apply_overrides(a, {"train.epochs": 3, "model.hidden": (4,)}, only_existing=True)
    assert c.train.epochs == 3 and "hidden" not in c.model and a.train.epochs == 1
    with pytest.raises(ValueError, match="unknown config field 'train.epoch'"):
        runs.apply_overrides(a, {"train.epoch": 3})
    # A workdir holding another config's run is never silently reused.
    runs_dir = tmp_path / "x"
    runs_dir.mkdir()
    (runs_dir / "config.json").write_text('{"model": {"name": "other"}}')
    with pytest.raises(ValueError, match="different config"):
        runs.train_or_reuse(a, str(runs_dir), verbose=False)


def test_compare_files_rejects_an_override_no_config_has(tmp_path):
    cfg = os.path.join(os.path.dirname(__file__), "tiny_config.py")
    with pytest.raises(ValueError, match="no config has the field 'optim.lrr'"):
        compare.compare_files([cfg], str(tmp_path), overrides={"optim.lrr": 0.1})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        compare.compare_files(["configs/nope.py"], str(tmp_path))
    assert np.isnan(runs.train_time(str(tmp_path)))
