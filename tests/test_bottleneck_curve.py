"""experiments.bottleneck: per-class subsets and the accuracy/AUC-vs-images curve of dense heads."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnlab  # noqa: F401
from cnnlab.experiments import bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_helpers import script, script_env  # noqa: E402


def blobs(n_per_class, seed, shift=1.5, dim=16):
    """Two Gaussian classes whose means differ by ``shift`` along every axis."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], n_per_class).astype(np.int32)
    features = rng.normal(size=(2 * n_per_class, dim)).astype(np.float32) + shift * labels[:, None] / np.sqrt(dim)
    return {"features": features, "labels": labels}


def test_per_class_subset_draws_each_class_without_replacement():
    labels = np.array([0] * 30 + [1] * 20)
    idx = bottleneck.per_class_subset(labels, 10, seed=3)
    assert len(idx) == 20 and len(set(idx)) == 20
    assert np.bincount(labels[idx]).tolist() == [10, 10]
    assert not np.array_equal(idx, bottleneck.per_class_subset(labels, 10, seed=4))
    with pytest.raises(ValueError, match="class 1 has 20 training examples, fewer than the 25"):
        bottleneck.per_class_subset(labels, 25, seed=0)


def test_curve_rises_with_data_and_reaches_the_bayes_rate():
    """Two unit Gaussians 1.5 apart: the Bayes accuracy is Phi(0.75) = 0.773, the AUC Phi(1.5/sqrt 2) = 0.856."""
    train, test = blobs(400, seed=0), blobs(1000, seed=1)
    rows = bottleneck.bottleneck_curve(train, test, [5, 400], seeds=(0, 1), epochs=20, hidden=0)
    summary = {r["per_class"]: r for r in bottleneck.summarise(rows)}
    assert summary[400]["accuracy"] > 0.74 and 0.82 < summary[400]["auc"] < 0.88
    assert summary[400]["auc"] > summary[5]["auc"]
    assert summary[400]["seeds"] == 2 and summary[400]["auc_min"] <= summary[400]["auc"] <= summary[400]["auc_max"]


def test_script_writes_json_and_markdown(tmp_path):
    for name, data in (("train", blobs(60, 0)), ("test", blobs(50, 1))):
        np.savez(tmp_path / f"{name}.npz", **data)
    out = tmp_path / "curve"
    result = subprocess.run(script("bottleneck_curve.py") + [
        f"--train={tmp_path / 'train.npz'}", f"--test={tmp_path / 'test.npz'}", "--per_class=10,60",
        "--seeds=0", "--epochs=5", f"--out={out}"], env=script_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.load(open(f"{out}.json"))
    assert [r["per_class"] for r in record["summary"]] == [10, 60]
    assert "| per_class |" in open(f"{out}.md").read()
