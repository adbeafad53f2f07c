"""A damaged newest checkpoint: the relaunch falls back to the newest intact one, says so,
and never silently starts over."""
import os
import shutil
import subprocess

import jax
import numpy as np
import pytest

from cnnlab.train import loop
from cnnlab.train.checkpoint import CheckpointError
from train_helpers import TINY_CONFIG, script, script_env, tiny_config

pytestmark = pytest.mark.xdist_group("test_train_damaged")  # one worker builds the module fixtures once


def _config():  # tests/tiny_config.py with three checkpoints kept
    return tiny_config(epochs=5, checkpoint_every=3, log_every=3, eval_every=6, keep_checkpoints=3)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    # Written by another process, as a relaunch finds it (this process's
    # tensorstore caches would otherwise serve the files it wrote itself).
    workdir = str(tmp_path_factory.mktemp("damaged") / "reference")
    subprocess.run(script("train.py") + [f"--config={TINY_CONFIG}", f"--workdir={workdir}",
                                         "--config.train.keep_checkpoints=3"],
                   env=script_env(), check=True, capture_output=True, timeout=300)
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["24", "27", "30"]
    return workdir


def _copy(reference, tmp_path):
    workdir = str(tmp_path / "run")
    shutil.copytree(reference, workdir)
    return workdir


def _data_files(workdir, step):
    state = os.path.join(workdir, "checkpoints", str(step), "state")
    files = [os.path.join(r, f) for r, _, fs in os.walk(state) for f in fs if os.sep + "d" in r[len(state):]]
    return sorted(files, key=os.path.getsize, reverse=True)


def _leaves(workdir):
    _, _, _, state, _ = loop.restore_for_inference(workdir)
    return [np.asarray(x) for x in jax.tree.leaves((state.params, state.batch_stats, state.opt_state))]


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _flip(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for i in range(len(data) // 3, len(data) // 3 + 16):
            data[i] ^= 0xFF
        f.seek(0)
        f.write(data)


@pytest.mark.parametrize("damage", ["truncate", "corrupt", "unfinished"])
def test_relaunch_falls_back_to_the_newest_intact_checkpoint(reference, tmp_path, capsys, damage):
    workdir = _copy(reference, tmp_path)
    newest = os.path.join(workdir, "checkpoints", "30")
    if damage == "truncate":
        for path in _data_files(workdir, 30):  # (orbax does not read every byte of every file)
            _truncate(path)
    elif damage == "corrupt":
        for path in _data_files(workdir, 30):
            _flip(path)
    else:  # a save that never finished: orbax's temporary folder
        os.rename(newest, newest + ".orbax-checkpoint-tmp-1764633600")
    result = loop.run(_config(), workdir)
    err = capsys.readouterr().err
    if damage == "unfinished":
        assert "warning: checkpoint step 30 in" in err and "was left unfinished" in err
    else:
        assert "warning: checkpoint step 30 in" in err and "is damaged and was skipped" in err
        assert os.path.isdir(newest + ".damaged"), "the damaged files are kept aside, not deleted"
    assert "resuming from step 27" in err
    assert result["step"] == 30
    for a, b in zip(_leaves(reference), _leaves(workdir)):  # the 3 lost steps were trained again
        np.testing.assert_array_equal(a, b)


def test_no_intact_checkpoint_is_an_error_not_a_fresh_start(reference, tmp_path):
    workdir = _copy(reference, tmp_path)
    for step in (24, 27, 30):
        for path in _data_files(workdir, step):
            _truncate(path)
    log = os.path.join(workdir, "metrics.jsonl")
    logged = open(log).read()
    with pytest.raises(CheckpointError, match=r"no intact checkpoint is left in .*step 30 .*step 27 "
                                              r".*step 24 .*To start over from step 0, delete"):
        loop.run(_config(), workdir, verbose=False)
    assert open(log).read() == logged, "the log is kept"
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["24.damaged", "27.damaged",
                                                                        "30.damaged"]
    with pytest.raises(CheckpointError):  # and again on the next relaunch: never from step 0
        loop.run(_config(), workdir, verbose=False)


def test_evaluate_skips_a_damaged_checkpoint_and_leaves_it_in_place(reference, tmp_path, caplog):
    workdir = _copy(reference, tmp_path)
    for path in _data_files(workdir, 30):
        _flip(path)
    _, _, _, state, _ = loop.restore_for_inference(workdir)
    assert int(state.step) == 27
    assert "checkpoint step 30" in caplog.text and "damaged" in caplog.text
    assert os.path.isdir(os.path.join(workdir, "checkpoints", "30"))  # a reader renames nothing
