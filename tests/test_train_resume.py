"""Killed runs resume to exactly the parameters of an uninterrupted run."""
import os
import signal
import subprocess
import time

import jax
import numpy as np

from cnnlab.train.loop import restore_for_inference
from train_helpers import TINY_CONFIG, script, script_env


def _launch(workdir):
    return subprocess.Popen(script("train.py") + [f"--config={TINY_CONFIG}", f"--workdir={workdir}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=script_env())


def _finish(workdir):
    proc = _launch(workdir)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def _latest(workdir):
    path = os.path.join(workdir, "checkpoints")
    steps = [int(s) for s in os.listdir(path) if s.isdigit()] if os.path.isdir(path) else []
    return max(steps, default=-1)


def _params(workdir):
    _, _, _, state, _ = restore_for_inference(workdir)
    return [np.asarray(x) for x in jax.tree.leaves((state.params, state.batch_stats, state.opt_state))]


def _interrupt(workdir, sig, after_step):
    proc = _launch(workdir)
    deadline = time.time() + 240
    while _latest(workdir) < after_step and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_sigkill_mid_epoch_then_relaunch_gives_identical_final_parameters(tmp_path):
    reference = str(tmp_path / "reference")
    _finish(reference)
    killed = str(tmp_path / "killed")
    code, _, _ = _interrupt(killed, signal.SIGKILL, after_step=9)
    assert code == -signal.SIGKILL
    resumed_from = _latest(killed)
    assert 9 <= resumed_from < 30  # 6 steps per epoch, 30 in all: a mid-run, usually mid-epoch, stop
    _, err = _finish(killed)
    assert f"resuming from step {resumed_from}" in err
    for a, b in zip(_params(reference), _params(killed)):
        np.testing.assert_array_equal(a, b)


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    workdir = str(tmp_path / "run")
    code, out, err = _interrupt(workdir, signal.SIGTERM, after_step=3)
    assert code == 0, err[-2000:]
    assert "SIGTERM received: saved a checkpoint" in err
    assert "status=interrupted" in out
    stopped = _latest(workdir)
    assert stopped >= 3
    _, err = _finish(workdir)
    assert f"resuming from step {stopped}" in err
    assert _latest(workdir) == 30
