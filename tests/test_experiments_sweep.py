"""Sweeps: one run per (value, seed); mean and spread per value from the runs' test records."""
import csv
import json

import numpy as np
import pytest

from cnnlab.experiments import sweep
from train_helpers import tiny_config


def test_sweep_aggregates_mean_and_std_over_seeds(tmp_path):
    config = tiny_config(steps=3, eval_every=3, checkpoint_every=3)
    config.data.num_train = 48
    result = sweep.sweep(config, str(tmp_path), "optim.lr", [3e-3, 3e-2], seeds=[0, 1], verbose=False)
    assert [(r["value"], r["seed"]) for r in result["runs"]] == [(3e-3, 0), (3e-3, 1), (3e-2, 0), (3e-2, 1)]
    assert all(r["status"] == "trained" for r in result["runs"])
    for value, row in zip([3e-3, 3e-2], result["summary"]):
        accs, losses = [], []
        for seed in (0, 1):
            run = tmp_path / f"optim.lr={value}" / f"seed{seed}"
            saved = json.loads((run / "config.json").read_text())
            assert saved["optim"]["lr"] == value and saved["train"]["seed"] == seed
            test = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
            accs.append(test["test/accuracy"])
            losses.append(test["test/loss"])
        assert row["n"] == 2
        assert row["test/accuracy/mean"] == pytest.approx(np.mean(accs))
        assert row["test/accuracy/std"] == pytest.approx(np.std(accs, ddof=1))
        assert row["test/loss/mean"] == pytest.approx(np.mean(losses))
        assert row["test/loss/std"] == pytest.approx(np.std(losses, ddof=1))
        assert row["test/loss/min"] == pytest.approx(min(losses))
    # Different seeds give different runs.
    assert result["runs"][0]["metrics"]["test/loss"] != result["runs"][1]["metrics"]["test/loss"]
    with open(result["paths"]["csv"]) as f:
        table = list(csv.DictReader(f))
    assert [float(r["optim.lr"]) for r in table] == [3e-3, 3e-2]
    assert float(table[1]["test/loss/mean"]) == pytest.approx(result["summary"][1]["test/loss/mean"])
    assert "±" in (tmp_path / "sweep.md").read_text()
    again = sweep.sweep(config, str(tmp_path), "optim.lr", [3e-3], seeds=[1], verbose=False)
    assert again["runs"][0]["status"] == "reused"
    assert again["summary"][0]["test/accuracy/std"] == 0.0  # one seed: no spread


def test_parsing_and_aggregate():
    assert sweep.parse_sweep("optim.lr=0.1,0.01,0.001") == ("optim.lr", [0.1, 0.01, 0.001])
    assert sweep.parse_sweep("optim.lr=0.1") == ("optim.lr", [0.1])
    assert sweep.parse_sweep("model.widths=(4,8),(8,16)") == ("model.widths", [(4, 8), (8, 16)])
    assert sweep.parse_sweep("optim.name=adam,sgd") == ("optim.name", ["adam", "sgd"])
    assert sweep.parse_seeds("0,1,2") == [0, 1, 2]
    assert sweep.value_label((32, 32)) == "32x32"
    stats = sweep.aggregate([0.5, 0.7, 0.9, float("nan")])
    assert stats == pytest.approx({"n": 3, "mean": 0.7, "std": 0.2, "min": 0.5, "max": 0.9})
    with pytest.raises(ValueError, match="field=v1,v2"):
        sweep.parse_sweep("optim.lr")
    with pytest.raises(ValueError, match="integers"):
        sweep.parse_seeds("a,b")
    with pytest.raises(ValueError, match="unknown config field 'optim.lrr'"):
        sweep.sweep(tiny_config(), "/tmp/unused_sweep", "optim.lrr", [0.1])


def test_ablation_trains_each_variant_per_seed_and_draws_the_table(tmp_path):
    config = tiny_config(steps=3, eval_every=3, checkpoint_every=3)
    config.data.num_train = 48
    variants = dict([sweep.parse_variant("baseline:"),
                     sweep.parse_variant("smooth:task.label_smoothing=0.2;optim.lr=0.01")])
    assert variants == {"baseline": {}, "smooth": {"task.label_smoothing": 0.2, "optim.lr": 0.01}}
    result = sweep.ablate(config, str(tmp_path), variants, seeds=[0, 1], verbose=False)
    assert [(r["value"], r["seed"]) for r in result["runs"]] == [
        ("baseline", 0), ("baseline", 1), ("smooth", 0), ("smooth", 1)]
    saved = json.loads((tmp_path / "smooth" / "seed1" / "config.json").read_text())
    assert saved["task"]["label_smoothing"] == 0.2 and saved["optim"]["lr"] == 0.01
    assert saved["train"]["seed"] == 1
    base = json.loads((tmp_path / "baseline" / "seed0" / "config.json").read_text())
    assert base["optim"]["lr"] == config.optim.lr
    row = result["summary"][1]
    accs = [r["metrics"]["test/accuracy"] for r in result["runs"][2:]]
    assert row["value"] == "smooth" and row["test/accuracy/mean"] == pytest.approx(np.mean(accs))
    md = (tmp_path / "ablation.md").read_text()
    assert md.splitlines()[0].startswith("| variant | n |") and "| smooth | 2 |" in md
    assert (tmp_path / "ablation.png").stat().st_size > 1000
    for bad in ("noname", ":x=1", "a b:x=1", "v:x"):
        with pytest.raises(ValueError, match="--variant"):
            sweep.parse_variant(bad)
