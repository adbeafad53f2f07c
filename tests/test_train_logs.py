"""Run logs (cnnlab.train.logs): metrics.jsonl, TensorBoard event files, console; the profiler."""
import glob
import io
import json
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.util import tensor_util

from cnnlab.experiments import runs
from cnnlab.train.logs import (Console, MetricsLog, MultiWriter, TensorBoardWriter, format_metrics,
                               read_metrics, writers)
from cnnlab.train.profiling import StepProfiler
from cnnlab.viz.curves import load_metrics


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def _scalars(logdir):
    """{tag: [(step, value), ...]} as TensorBoard's legacy loader shows them."""
    acc = event_accumulator.EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _plugin_scalars(logdir):
    """The same through the loader `tensorboard --load_fast=false` serves from."""
    acc = plugin_event_accumulator.EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
            for tag in acc.Tags()["tensors"]}


# --- metrics.jsonl -------------------------------------------------------------------------------

def test_jsonl_round_trip_converts_numpy_and_nonfinite(tmp_path):
    log = MetricsLog(str(tmp_path / "metrics.jsonl"))
    log.write_scalars(10, {"epoch": 0.5, "train/loss": np.float32(0.25),
                           "train/per_class": np.array([0.5, 1.0]), "val/loss": float("nan")})
    log.write({"step": 20, "train/loss": jnp.asarray(0.125)})
    assert _lines(log.path) == [
        '{"step": 10, "epoch": 0.5, "train/loss": 0.25, "train/per_class": [0.5, 1.0], '
        '"val/loss": null}',
        '{"step": 20, "train/loss": 0.125}']
    assert log.read() == [json.loads(line) for line in _lines(log.path)]
    assert MetricsLog(str(tmp_path / "missing.jsonl")).read() == []


def test_jsonl_truncate_after_keeps_steps_up_to_the_restored_one(tmp_path):
    log = MetricsLog(str(tmp_path / "metrics.jsonl"))
    for step in (10, 20, 20, 30):
        log.write_scalars(step, {"train/loss": step / 100})
    log.truncate_after(20)
    assert [r["step"] for r in log.read()] == [10, 20, 20]
    log.write_scalars(30, {"train/loss": 0.5})
    assert log.read()[-1] == {"step": 30, "train/loss": 0.5}


def test_disabled_jsonl_writes_nothing(tmp_path):
    log = MetricsLog(str(tmp_path / "metrics.jsonl"), enabled=False)
    log.write_scalars(1, {"train/loss": 1.0})
    log.truncate_after(0)
    assert os.listdir(tmp_path) == []


def test_torn_last_line_is_skipped_with_a_warning_and_removed_on_resume(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 10, "train/loss": 0.5}\n\n{"step": 20, "train/loss": 0.4}\n'
                    '{"step": 30, "train/lo')
    log = MetricsLog(str(path))
    with caplog.at_level(logging.WARNING):
        assert log.read() == [{"step": 10, "train/loss": 0.5}, {"step": 20, "train/loss": 0.4}]
    assert f"{path}:4 is a cut-off last line" in caplog.text
    log.truncate_after(20)  # nothing past step 20 is whole, but the torn line goes
    assert _lines(path) == ['{"step": 10, "train/loss": 0.5}', '{"step": 20, "train/loss": 0.4}']
    log.write_scalars(30, {"train/loss": 0.3})
    assert [r["step"] for r in read_metrics(str(path))] == [10, 20, 30]
    assert not os.path.exists(str(path) + ".tmp")


def test_append_after_a_torn_or_unterminated_last_line_stays_valid_jsonl(tmp_path, caplog):
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"step": 10}\n{"step": 2')  # a fresh start that never calls truncate_after
    MetricsLog(str(torn)).write_scalars(1, {"a": 1})
    assert _lines(torn) == ['{"step": 10}', '{"step": 1, "a": 1}']
    assert f"{torn}:2 is a cut-off last line" in caplog.text
    whole = tmp_path / "whole.jsonl"
    whole.write_text('{"step": 10}')  # whole record, only its newline was lost
    MetricsLog(str(whole)).write_scalars(11, {"a": 1})
    assert _lines(whole) == ['{"step": 10}', '{"step": 11, "a": 1}']


def test_bad_line_before_the_last_is_damage_and_raises(tmp_path):
    path = tmp_path / "metrics.jsonl"
    content = '{"step": 10}\n{"step": 20, "tr\n{"step": 30}\n'
    path.write_text(content)
    with pytest.raises(ValueError, match=r"metrics.jsonl:2 is not valid JSON .* is not the last "
                                         r"line.*Fix or delete that line"):
        MetricsLog(str(path)).read()
    with pytest.raises(ValueError, match=r"metrics.jsonl:2 is not valid JSON"):
        MetricsLog(str(path)).truncate_after(10)
    assert path.read_text() == content, "a damaged log is left as it is"
    path.write_text('{"step": 10}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2 holds a list, not a JSON object"):
        read_metrics(str(path))


def test_curves_and_runs_read_through_the_same_reader(tmp_path, caplog):
    workdir = tmp_path / "run"
    (workdir / "checkpoints" / "6").mkdir(parents=True)
    path = workdir / "metrics.jsonl"
    path.write_text('{"step": 6, "train/loss": 1.0}\n{"step": 6, "test/accuracy": 0.5, "time": 2.5}'
                    '\n{"step": 7, "tra')
    assert load_metrics(path) == [{"step": 6, "train/loss": 1.0},
                                  {"step": 6, "test/accuracy": 0.5, "time": 2.5}]
    assert runs.is_finished(str(workdir))  # the torn step-7 line does not count as progress
    assert runs.train_time(str(workdir)) == 2.5
    assert "metrics.jsonl:3 is a cut-off last line" in caplog.text


# --- TensorBoard ---------------------------------------------------------------------------------

def test_tensorboard_gets_scalars_only_and_reads_back(tmp_path):
    tb = TensorBoardWriter(str(tmp_path / "tb"))
    tb.write_scalars(10, {"epoch": 0.5, "train/loss": np.float32(0.75), "train/n": 3,
                          "train/per_class": [0.5, 1.0], "val/acc": jnp.asarray(0.5),
                          "val/confusion": np.eye(2), "status": "ok"})
    tb.write_scalars(20, {"train/loss": 0.25, "val/acc": float("nan")})
    tb.close()
    tb.close()
    assert len(glob.glob(str(tmp_path / "tb" / "events.out.tfevents.*"))) == 1
    got = _scalars(tmp_path / "tb")
    assert sorted(got) == ["epoch", "train/loss", "train/n", "val/acc"]
    assert got["train/loss"] == [(10, 0.75), (20, 0.25)]
    assert got["epoch"] == [(10, 0.5)] and got["train/n"] == [(10, 3.0)]
    assert got["val/acc"][0] == (10, 0.5) and got["val/acc"][1][0] == 20
    assert np.isnan(got["val/acc"][1][1])


def test_tensorboard_resume_purges_the_orphaned_steps(tmp_path):
    logdir = tmp_path / "tb"
    first = TensorBoardWriter(str(logdir))  # launch 1: steps 10..30, checkpoint at 20
    for step in (10, 20, 30):
        first.write_scalars(step, {"train/loss": step / 10, "val/acc": step / 100})
    first.close()
    second = TensorBoardWriter(str(logdir))  # launch 2 resumes from step 20
    second.truncate_after(20)
    second.write_scalars(30, {"train/loss": 2.5})
    second.write_scalars(40, {"train/loss": 2.0, "val/acc": 0.5})
    second.close()
    files = sorted(glob.glob(str(logdir / "events.out.tfevents.*")))
    assert len(files) == 2
    expected = {"train/loss": [(10, 1.0), (20, 2.0), (30, 2.5), (40, 2.0)],
                "val/acc": [(10, 0.1), (20, 0.2), (40, 0.5)]}  # the old step-30 value is gone
    for got in (_scalars(logdir), _plugin_scalars(logdir)):
        assert {k: [(s, pytest.approx(v)) for s, v in pts] for k, pts in got.items()} == expected


def test_writers_factory(tmp_path):
    with writers(str(tmp_path), tensorboard=True) as out:
        assert isinstance(out, MultiWriter)
        out.truncate_after(0)
        out.write_scalars(5, {"train/loss": 0.5, "train/per_class": [1, 2]})
    assert read_metrics(str(tmp_path / "metrics.jsonl")) == [
        {"step": 5, "train/loss": 0.5, "train/per_class": [1, 2]}]
    assert _scalars(tmp_path / "tensorboard") == {"train/loss": [(5, 0.5)]}

    plain = tmp_path / "plain"
    plain.mkdir()
    with writers(str(plain)) as out:
        out.write_scalars(5, {"train/loss": 0.5})
    assert os.listdir(plain) == ["metrics.jsonl"]

    quiet = tmp_path / "quiet"  # processes other than 0
    quiet.mkdir()
    with writers(str(quiet), tensorboard=True, enabled=False) as out:
        out.truncate_after(0)
        out.write_scalars(5, {"train/loss": 0.5})
    assert os.listdir(quiet) == []


# --- console -------------------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_console_prints_plain_lines_off_a_terminal():
    out = io.StringIO()
    console = Console(30, stream=out)
    console.line("resuming from step 10 in /tmp/run")
    console.progress(20, 1.0, {"train/loss": 0.123456, "train/per_class": np.ones(3)}, 8)
    console.progress(30, 1.5, {"train/loss": 0.1, "val/accuracy": 0.875}, 8)
    console.close()
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["resuming from step 10 in /tmp/run",
                         "step 20/30 epoch 1.00 train/loss=0.1235"]
    assert lines[2].startswith("step 30/30 epoch 1.50 ")
    assert lines[2].endswith(" img/s train/loss=0.1 val/accuracy=0.875")
    assert len(lines) == 3


def test_console_shows_a_tqdm_bar_on_a_terminal():
    out = _Terminal()
    console = Console(30, stream=out)
    console.start(10)
    console.line("resuming from step 10")
    console.progress(20, 1.0, {"train/loss": 0.5}, 4)
    console.progress(30, 1.5, {"train/loss": 0.25}, 4)
    console.close()
    text = out.getvalue()
    assert "resuming from step 10\n" in text
    assert "10/30" in text and "30/30" in text and "100%" in text
    last = text.rsplit("\r", 1)[-1]
    assert "epoch 1.50" in last and "img/s train/loss=0.25" in last
    assert "step 30/30" not in text  # the plain lines are for logs only


def test_quiet_console_prints_nothing():
    for stream in (io.StringIO(), _Terminal()):
        console = Console(30, enabled=False, stream=stream)
        console.start(0)
        console.progress(30, 1.0, {"train/loss": 0.5}, 4)
        console.line("hello")
        console.close()
        assert stream.getvalue() == ""


def test_format_metrics_skips_arrays():
    assert format_metrics({"a": 0.123456, "b": 3, "c": [1, 2], "d": np.zeros(2)}) == "a=0.1235 b=3"


# --- profiler ------------------------------------------------------------------------------------

def test_step_profiler_traces_the_window_once(tmp_path):
    f = jax.jit(lambda x: jnp.tanh(x @ x))
    x = f(jnp.ones((32, 32)))
    profiler = StepProfiler(str(tmp_path), start_step=2, num_steps=3)
    states = []
    for step in range(1, 9):
        x = f(x)
        done = profiler.step(step, x)
        states.append(profiler.active)
        if step == 5:
            assert done == str(tmp_path / "profile")
        else:
            assert done is None
    assert states == [False, True, True, True, False, False, False, False]
    traces = glob.glob(str(tmp_path / "profile" / "plugins" / "profile" / "*" / "*.xplane.pb"))
    assert len(traces) == 1 and os.path.getsize(traces[0]) > 0
    assert profiler.stop() is None and profiler.stop() is None  # idempotent


def test_step_profiler_stop_ends_a_cut_short_trace_and_off_means_off(tmp_path):
    f = jax.jit(lambda x: x + 1)
    profiler = StepProfiler(str(tmp_path / "a"), start_step=1, num_steps=100)
    x = f(jnp.zeros(4))
    profiler.step(1, x)
    assert profiler.active
    assert profiler.stop(f(x)) == str(tmp_path / "a" / "profile")  # e.g. the run ended early
    assert profiler.stop() is None
    assert glob.glob(str(tmp_path / "a" / "profile" / "plugins" / "profile" / "*" / "*.xplane.pb"))
    for off in (StepProfiler(str(tmp_path / "b"), 1, 0),
                StepProfiler(str(tmp_path / "b"), 1, 2, enabled=False),
                StepProfiler(str(tmp_path / "b"), 1, 2)):  # resumed past the window: step 5 > 3
        for step in (5, 6):
            assert off.step(step, x) is None
        assert not off.active
    assert not os.path.exists(tmp_path / "b")
    with pytest.raises(ValueError, match="num_steps=0"):
        StepProfiler(str(tmp_path), -1, 2)
