"""Real multi-process training: 2 processes x 2 CPU devices on 127.0.0.1 against 1 process x 4.

Every job is scripts/train.py (or a small worker) started as separate
processes joined by `jax.distributed` with gloo collectives, on a free
loopback port, each wait bounded, every process killed at the end.
"""
import json
import os
import shutil
import signal
import time

import jax
import numpy as np
import pytest

import multiprocess_helpers as mp

pytestmark = pytest.mark.xdist_group("multiprocess")  # one worker: the runs fixture is built once
from cnnlab import pretrained
from cnnlab.train import loop

HERE = os.path.dirname(os.path.abspath(__file__))
# 2 processes reduce gradients across processes with gloo, 1 process inside
# XLA: the same sums added in another order, so the runs agree to float32
# rounding (measured 1.8e-7 after 30 steps), not bit for bit.
TOLERANCE = 2e-6


@pytest.fixture(scope="module", autouse=True)
def _kill_leftovers():
    yield
    for job in mp.JOBS:
        job.stop()


def _state(workdir):
    _, _, _, state, _ = loop.restore_for_inference(workdir)
    return state


def _leaves(workdir):
    s = _state(workdir)
    return [np.asarray(x) for x in jax.tree.leaves((s.params, s.batch_stats, s.opt_state))]


def _max_diff(a, b):
    return max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(_leaves(a), _leaves(b)))


def _finish(job, timeout=240):
    codes = job.wait(timeout)
    assert codes == [0] * len(codes), job.stderr(codes.index(next(c for c in codes if c)))[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny config (30 steps) trained 2x2 and 1x4, in jit and pmap mode."""
    root = tmp_path_factory.mktemp("multiprocess")
    out, times = {}, {}
    for name, processes, devices, args, slurm in (
            ("jit2x2", 2, 2, ["--config.train.curves=True"], False),
            ("jit1x4", 1, 4, [], False),
            ("pmap2x2", 2, 2, ["--config.train.parallel=pmap"], True),  # found from SLURM's env
            ("pmap1x4", 1, 4, ["--config.train.parallel=pmap"], False)):
        workdir = str(root / name)
        t = time.time()
        job = mp.launch_train(workdir, processes=processes, devices=devices, args=args, slurm=slurm)
        _finish(job)
        out[name], times[name] = (workdir, job), time.time() - t
    print("wall seconds per run:", {k: round(v, 1) for k, v in times.items()})
    return out


def test_two_processes_train_like_one_in_jit_and_pmap_mode(runs):
    for mode in ("jit", "pmap"):
        two, one = runs[f"{mode}2x2"][0], runs[f"{mode}1x4"][0]
        assert int(_state(two).step) == int(_state(one).step) == 30  # not 2x the steps
        diff = _max_diff(two, one)
        print(f"{mode}: 2x2 vs 1x4 max |diff| of params, BatchNorm and optimizer state = {diff:.2e}")
        assert diff < TOLERANCE
        logs = [loop.MetricsLog(os.path.join(d, "metrics.jsonl")).read() for d in (two, one)]
        assert [r["step"] for r in logs[0]] == [r["step"] for r in logs[1]]  # each step logged once
        np.testing.assert_allclose([r.get("val/loss", 0) for r in logs[0]],
                                   [r.get("val/loss", 0) for r in logs[1]], rtol=1e-5)
    assert _max_diff(runs["jit2x2"][0], runs["pmap2x2"][0]) > 1e-3  # the comparison can fail


# Gloo's C++ threads print "[Gloo] Rank r is connected to n peer ranks. Expected number of
# connected peer ranks is : n" piece by piece, and the threads' pieces interleave anywhere
# ("[Gloo] Rank [Gloo] Rank 2 is connected ... 3 is connected ..."): what process 1 may print is
# words of that sentence and numbers, nothing else.
_GLOO_WORDS = set("[Gloo] Rank is connected to peer ranks. Expected number of ranks :".split())


def _only_gloo(text: str) -> bool:
    tokens = text.replace("[Gloo]", " [Gloo] ").split()
    return all(t in _GLOO_WORDS or t.isdigit() for t in tokens)


def test_only_process_0_writes_logs_and_prints(runs):
    for name in ("jit2x2", "pmap2x2"):
        workdir, job = runs[name]
        assert "step 30/30" in job.stderr(0) and "status=finished" in job.stdout(0)
        other = job.stderr(1)
        assert "step " not in other and "test:" not in other
        assert _only_gloo(job.stdout(1)), job.stdout(1)
        assert not _only_gloo(job.stdout(0))  # the check can fail: process 0 prints its results
    assert os.path.exists(os.path.join(runs["jit2x2"][0], "curves.png"))


def test_pmap_on_two_hosts_saves_the_global_state_once(runs):
    """One global array per leaf (no device or host axis), replicated over the 4 devices of
    both processes, each process writing its part: not a copy per host."""
    import orbax.checkpoint as ocp
    shapes = {k: v.shape for k, v in _flat(_state(runs["pmap1x4"][0]))}
    for name in ("pmap2x2", "jit2x2"):
        state = os.path.join(runs[name][0], "checkpoints", "30", "state")
        assert sorted(os.listdir(os.path.join(state, "array_metadatas"))) == ["process_0", "process_1"]
        tree = ocp.StandardCheckpointer().metadata(state).item_metadata
        for key, leaf in _flat(tree):
            if key.split("/")[0] in ("params", "batch_stats"):
                assert tuple(leaf.shape) == shapes[key], key
                devices = [d.id for d in leaf.sharding.device_mesh.mesh]
                assert len(devices) == 4 and len({i // 2048 for i in devices}) == 2  # 2 hosts
                assert not any(leaf.sharding.partition_spec), "replicated, not split per host"
    with open(os.path.join(runs["pmap2x2"][0], "checkpoints", "30", "meta", "metadata")) as f:
        meta = json.load(f)
    assert meta["num_processes"] == 2 and meta["num_devices"] == 4


def _flat(tree):
    if hasattr(tree, "params"):  # a TrainState
        tree = {"params": tree.params, "batch_stats": tree.batch_stats}
    return [("/".join(str(getattr(k, "key", k)) for k in path), leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(dict(tree))[0]]


def test_every_example_once_per_epoch_across_processes(tmp_path):
    out = str(tmp_path / "ids.json")
    job = mp.launch_script(os.path.join(HERE, "multiprocess_data_check.py"), args=[out],
                           workdir=str(tmp_path / "ids"))
    _finish(job, timeout=120)
    with open(out) as f:
        result = json.load(f)
    assert result["processes"] == 2 and result["devices"] == 4
    from cnnlab import data
    cfg = {"name": "shapes", "storage": "memory", "variant": "classify", "num_classes": 3,
           "image_size": (16, 16), "num_train": 40, "num_validation": 22, "num_test": 8}
    for epoch, batches in enumerate(result["train"]):  # 40 examples, global batch 8: 5 batches
        ids = np.asarray(batches)
        single = data.build(cfg, "train", 8, train=True, seed=7).indices(epoch)
        np.testing.assert_array_equal(ids, single)  # the same global batches as 1 process
        assert sorted(ids.ravel()) == list(range(40))
    ids = np.asarray(result["eval"][0])  # 22 examples in 3 global batches of 8: 2 padding slots
    assert ids.shape == (3, 8) and (ids < 0).sum() == 2
    np.testing.assert_array_equal(ids[ids >= 0], np.arange(22))
    assert result["eval_count"] == 22.0


def test_sigkill_both_processes_then_relaunch_is_bit_equal(runs, tmp_path):
    workdir = str(tmp_path / "killed")
    job = mp.launch_train(workdir, args=["--config.train.curves=True"])
    stopped = mp.wait_for_checkpoint(job, workdir, 9)
    for p in job.procs:
        p.send_signal(signal.SIGKILL)
    assert job.wait(30) == [-signal.SIGKILL] * 2
    assert 9 <= stopped < 30
    moved = str(tmp_path / "moved")  # a copy resumed on one process with 4 devices, below
    shutil.copytree(workdir, moved, ignore=shutil.ignore_patterns("*.orbax-checkpoint-tmp*"))
    steps = sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())
    newest = os.path.join(workdir, "checkpoints", str(steps[-1]), "state")
    for root, _, files in os.walk(newest):  # damage the newest: both processes must skip it
        for name in files:
            if os.sep + "d" in root[len(newest):]:
                with open(os.path.join(root, name), "r+b") as f:
                    f.truncate(os.path.getsize(f.name) // 2)
    relaunch = mp.launch_train(workdir, args=["--config.train.curves=True"], tag="again")
    _finish(relaunch)
    err = relaunch.stderr(0)
    assert f"checkpoint step {steps[-1]} in" in err and "is damaged and was skipped" in err
    assert f"resuming from step {steps[-2]}" in err
    reference = runs["jit2x2"][0]
    for a, b in zip(_leaves(reference), _leaves(workdir)):  # bit-equal, even from the older step
        np.testing.assert_array_equal(a, b)
    # The same checkpoint resumed by 1 process of 4 devices: the same global
    # batches, so the same run up to the reduction order.
    single = mp.launch_train(moved, processes=1, devices=4)
    _finish(single)
    assert "written by 4 devices" not in single.stderr(0)
    assert _max_diff(reference, moved) < TOLERANCE
    one_device = mp.launch_train(str(tmp_path / "moved"), processes=1, devices=1,
                                 args=["--config.train.epochs=6"], tag="fewer")
    _finish(one_device)
    assert "the checkpoint was written by 4 devices; resuming on 1" in one_device.stderr(0)


def _stop_one(job, workdir, after_step, *, victim, sig):
    """Sends `sig` to process `victim` once checkpoint `after_step` exists; returns the other
    process's exit code, the seconds it took to stop, and its stderr."""
    mp.wait_for_checkpoint(job, workdir, after_step)
    job.procs[victim].send_signal(sig)
    t = time.time()
    try:
        code = job.procs[1 - victim].wait(timeout=60)
    finally:
        job.procs[victim].send_signal(signal.SIGKILL)
    took = time.time() - t
    print(f"process {1 - victim} stopped {took:.1f} s after process {victim} got {sig.name}")
    return code, took, job.stderr(1 - victim)


def test_lost_peer_stops_the_other_process_then_both_resume(tmp_path):
    workdir = str(tmp_path / "lost")
    args = ["--config.train.epochs=8", "--heartbeat_timeout=60", "--peer_timeout=5"]
    code, took, err = _stop_one(mp.launch_train(workdir, args=args), workdir, 6, victim=1,
                                sig=signal.SIGKILL)
    assert code == 1 and took < 15, err[-2000:]  # the gloo error (~2 s) or --peer_timeout (5 s)
    assert "error: process 1 of this 2-process run stopped" in err
    assert "Relaunch all 2 processes" in err
    complete = mp.latest_step(workdir)
    relaunch = mp.launch_train(workdir, args=args, tag="again")
    _finish(relaunch)
    assert f"resuming from step {complete}" in relaunch.stderr(0)
    assert mp.latest_step(workdir) == 48


def test_lost_coordinator_stops_the_other_process(tmp_path):
    workdir = str(tmp_path / "lost0")
    job = mp.launch_train(workdir, args=["--config.train.epochs=8", "--heartbeat_timeout=20"])
    code, took, err = _stop_one(job, workdir, 3, victim=0, sig=signal.SIGKILL)
    assert code != 0 and took < 15
    # jax's runtime stops it from C++ with its own message naming the leader (process 0).
    assert "leader task was preempted/died" in err or "process 0 of this 2-process run stopped" in err


def test_processes_that_see_different_checkpoints_refuse_to_resume(runs, tmp_path):
    """Hosts without a shared --workdir would resume from different steps: an error, not a hang."""
    copy, empty = str(tmp_path / "copy"), str(tmp_path / "empty")
    shutil.copytree(runs["jit2x2"][0], copy)
    job = mp.launch_train([copy, empty])
    assert job.wait(120) == [1, 1]
    for i in range(2):
        err = job.stderr(i)
        assert "the processes see different checkpoints" in err
        assert "process 0: 30, process 1: -1" in err and "every host shares" in err


def test_checkpoints_of_four_devices_load_on_one(runs, tmp_path, capsys):
    workdir = runs["jit2x2"][0]
    variables = pretrained.read_variables(workdir)  # was: "Topology mismatch detected"
    state = _state(workdir)
    for a, b in zip(jax.tree.leaves(variables["params"]), jax.tree.leaves(state.params)):
        np.testing.assert_array_equal(a, np.asarray(b))
    metrics = loop.evaluate(workdir, split="test")
    logged = [r for r in loop.MetricsLog(os.path.join(workdir, "metrics.jsonl")).read()
              if "test/accuracy" in r][-1]
    assert metrics["test/accuracy"] == pytest.approx(logged["test/accuracy"])
    from train_helpers import tiny_config
    config = tiny_config(epochs=1)
    config.init_weights = workdir
    result = loop.run(config, str(tmp_path / "from_four"))
    assert result["status"] == "finished"
    assert f"initialised model weights from {workdir}" in capsys.readouterr().err


def test_sigterm_to_one_process_stops_both_after_the_same_step(tmp_path):
    workdir = str(tmp_path / "term")
    job = mp.launch_train(workdir, args=["--config.train.epochs=8"])
    mp.wait_for_checkpoint(job, workdir, 6)
    job.procs[1].send_signal(signal.SIGTERM)  # as a scheduler preempting one host
    assert job.wait(60) == [0, 0], job.stderr(0)[-2000:]
    err = job.stderr(0)
    saved = int(err.split("saved a checkpoint at step ")[1].split(";")[0])
    assert saved % loop.STOP_SYNC_EVERY == 0 and saved < 48  # the agreed step, checkpointed
    assert mp.latest_step(workdir) == saved and "status=interrupted" in job.stdout(0)


def test_hung_peer_is_named_within_the_peer_timeout(tmp_path):
    """A stopped (not dead) process breaks no socket: the others' collectives would wait
    forever; its silent liveness counter ends them after --peer_timeout seconds."""
    workdir = str(tmp_path / "hung")
    job = mp.launch_train(workdir, args=["--config.train.epochs=8", "--heartbeat_timeout=120",
                                         "--peer_timeout=5"])
    code, took, err = _stop_one(job, workdir, 3, victim=1, sig=signal.SIGSTOP)
    assert code == 1 and 4 < took < 15, err[-2000:]
    assert "error: process 1 of this 2-process run stopped (no sign of life for 5 s" in err
