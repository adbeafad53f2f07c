"""The training loop end to end on a tiny model: learning, logs, checkpoints, evaluation."""
import json
import os

import numpy as np
import pytest

from cnnlab.train import ConfigError, NonFiniteLoss, evaluate, loop
from train_helpers import tiny_config


def test_run_learns_and_writes_a_complete_run_directory(tmp_path):
    config = tiny_config(epochs=6, curves=True, log_every=3)
    result = loop.run(config, str(tmp_path), verbose=False)
    assert result["status"] == "finished" and result["step"] == 36
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    train_losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert train_losses[-1] < train_losses[0]
    assert any("val/accuracy" in r for r in records) and "test/accuracy" in records[-1]
    assert 0.0 <= result["test/accuracy"] <= 1.0
    for name in ("config.json", "curves.png", "checkpoints", "best"):
        assert (tmp_path / name).exists(), name
    # scripts/evaluate.py's library call restores the checkpoint and reproduces the test metrics.
    again = evaluate(str(tmp_path), split="test")
    np.testing.assert_allclose(again["test/accuracy"], result["test/accuracy"])
    np.testing.assert_allclose(again["test/loss"], result["test/loss"], rtol=1e-5)


def test_rerun_of_a_finished_run_resumes_and_does_not_train_again(tmp_path):
    config = tiny_config(epochs=1)
    first = loop.run(config, str(tmp_path), verbose=False)
    second = loop.run(config, str(tmp_path), verbose=False)
    assert second["step"] == first["step"]
    np.testing.assert_allclose(second["test/loss"], first["test/loss"], rtol=1e-6)


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    config = tiny_config(epochs=3, log_every=1, checkpoint_every=1)
    config.optim.name, config.optim.lr, config.optim.momentum = "sgd", 1e30, 0.0
    with pytest.raises(NonFiniteLoss, match="NaN/Inf.*last good checkpoint"):
        loop.run(config, str(tmp_path), verbose=False)
    steps = sorted(int(s) for s in os.listdir(tmp_path / "checkpoints") if s.isdigit())
    assert steps, "the good checkpoints before the blow-up are kept"
    from cnnlab.train.checkpoint import Checkpointer
    from cnnlab.train.loop import restore_for_inference
    _, _, _, state, _ = restore_for_inference(str(tmp_path))
    import jax
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))


def test_config_errors_name_the_field():
    config = tiny_config()
    config.train.epochs, config.train.steps = 0, 0
    with pytest.raises(ConfigError, match="epochs or config.train.steps"):
        loop.run(config, "/tmp/unused", verbose=False)
    config = tiny_config()
    config.optim.lr = -1.0
    with pytest.raises(ConfigError, match="config.optim.lr"):
        loop.run(config, "/tmp/unused", verbose=False)


def test_bfloat16_mixed_precision_keeps_float32_params(tmp_path):
    config = tiny_config(epochs=1, dtype="bfloat16")
    result = loop.run(config, str(tmp_path), verbose=False)
    assert np.isfinite(result["test/loss"])
    _, _, _, state, _ = loop.restore_for_inference(str(tmp_path))
    import jax
    assert {x.dtype.name for x in jax.tree.leaves(state.params)} == {"float32"}


def test_pmap_mode_runs_the_same_loop_as_jit(tmp_path):
    results = {}
    for mode in ("jit", "pmap"):
        config = tiny_config(epochs=1, parallel=mode)
        results[mode] = loop.run(config, str(tmp_path / mode), verbose=False)
    assert results["pmap"]["step"] == results["jit"]["step"]
    np.testing.assert_allclose(results["pmap"]["test/loss"], results["jit"]["test/loss"], rtol=1e-4)
    np.testing.assert_allclose(results["pmap"]["val/accuracy"], results["jit"]["val/accuracy"])


def test_an_image_size_too_small_for_the_model_names_the_field_the_layer_and_the_fix(tmp_path):
    config = tiny_config()
    config.model.widths = (4, 4, 4, 4, 4, 4)  # six 2x2 max-pools need at least 64x64
    with pytest.raises(ValueError, match=r"config.data.image_size=\(16, 16\) is too small for "
                                         r"simple_cnn.*smallest square size that works is 64x64"):
        loop.run(config, str(tmp_path), verbose=False)
    assert not (tmp_path / "checkpoints").exists()


def test_featurewise_statistics_are_saved_once_and_evaluation_reads_them(tmp_path, monkeypatch):
    from cnnlab.data import augment
    from cnnlab.train import inputs
    config = tiny_config(epochs=1)
    config.data.augment = {"featurewise_center": True, "featurewise_std_normalization": True}
    result = loop.run(config, str(tmp_path), verbose=False)
    saved = json.loads((tmp_path / inputs.STATS_FILE).read_text())
    train = loop._split_data(loop.defaults.complete(config), "train", 16, True, 0)
    mean, std = augment.featurewise_stats(train)
    np.testing.assert_allclose(saved["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(saved["std"], std, rtol=1e-6)

    def no_training_split(*args, **kwargs):
        raise AssertionError("evaluation re-read the training split for its statistics")

    monkeypatch.setattr(augment, "featurewise_stats", no_training_split)
    again = evaluate(str(tmp_path), split="test")
    np.testing.assert_allclose(again["test/loss"], result["test/loss"], rtol=1e-5)
