"""Run logs: scalar writers (`metrics.jsonl`, TensorBoard event files) and the console.

Every writer has `write_scalars(step, values)`, `truncate_after(step)` (on resume: drop
what was logged after the restored step) and `close()`; `writers(workdir, ...)` builds the
set a run uses. Only process 0 writes (`enabled=False` elsewhere).
"""
import json
import logging
import math
import numbers
import os
import sys
import time

import numpy as np
from tqdm import tqdm

_logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def _jsonable(value):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/Inf to null."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _scalar(value):
    """float(value) for a real number or a 0-d numeric array (numpy, jax); None otherwise."""
    if isinstance(value, numbers.Real):
        return float(value)
    dtype = getattr(value, "dtype", None)
    if getattr(value, "ndim", None) == 0 and dtype is not None and (
            np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
        return float(value)
    return None


def read_metrics(path: str) -> list:
    """The records of a JSONL metrics file ([] when it does not exist).

    A cut-off last line (power loss or a full disk mid-write) is skipped with a
    warning, so a relaunch goes on; a bad line anywhere else is damage and raises.
    """
    return [record for record, _ in _parse(path)[0]]


def _parse(path: str):
    """([(record, line), ...], torn): the file's records with their text, and whether a
    cut-off last line was skipped."""
    if not os.path.exists(path):
        return [], False
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [(n, ln) for n, ln in enumerate(f, start=1) if ln.strip()]
    entries = []
    for i, (lineno, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                _logger.warning("%s:%d is a cut-off last line (the run stopped mid-write); "
                                "skipping it.", path, lineno)
                return entries, True
            raise ValueError(
                f"{path}:{lineno} is not valid JSON ({e.msg}) and is not the last line, so it is "
                f"damage inside the log rather than a cut-off final write. Fix or delete that "
                f"line (the other lines are intact), or delete {path} to drop the metric "
                f"history.") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{lineno} holds a {type(record).__name__}, not a JSON "
                             f"object; fix or delete that line.")
        entries.append((record, line))
    return entries, False


class MetricsLog:
    """Appends records like {"step": 100, "epoch": 1.0, "train/loss": 0.5} to a JSONL file.

    Every value is kept, per-class lists too. On resume the log is cut back to the
    restored step, so a replayed stretch is not logged twice.
    """

    def __init__(self, path: str, enabled: bool = True):
        self.path = path
        self.enabled = enabled
        self._tail_checked = False

    def truncate_after(self, step: int) -> None:
        """Drops records past `step` and a cut-off last line, rewriting the file atomically."""
        if not self.enabled or not os.path.exists(self.path):
            return
        entries, torn = _parse(self.path)
        keep = [line for record, line in entries if record.get("step", 0) <= step]
        if len(keep) != len(entries) or torn or (keep and not keep[-1].endswith("\n")):
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(line.rstrip("\n") + "\n" for line in keep)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        self._tail_checked = True

    def _check_tail(self) -> None:
        """Before this process's first append: a file not ending in a newline gets its
        cut-off last line removed (or, if that line is whole, the missing newline added),
        so appended records stay one per line."""
        self._tail_checked = True
        if not os.path.exists(self.path) or os.path.getsize(self.path) == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
            start = data.rfind(b"\n") + 1
            try:
                json.loads(data[start:])
            except ValueError:
                lineno = data.count(b"\n") + 1
                _logger.warning("%s:%d is a cut-off last line (the run stopped mid-write); "
                                "removing it.", self.path, lineno)
                f.truncate(start)
            else:
                f.seek(0, os.SEEK_END)
                f.write(b"\n")

    def write(self, record: dict) -> None:
        """Appends one record (a dict that holds its own "step")."""
        if not self.enabled:
            return
        if not self._tail_checked:
            self._check_tail()
        clean = {k: _jsonable(v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")

    def write_scalars(self, step: int, values: dict) -> None:
        """Appends {"step": step, **values}."""
        self.write(dict(step=int(step), **values))

    def read(self) -> list:
        """All records; a cut-off last line is skipped with a warning (see `read_metrics`)."""
        return read_metrics(self.path)

    def close(self) -> None:
        """Nothing to release: each write opens and closes the file."""


def _newest_event_second(logdir: str):
    """The creation second in the newest event file name in `logdir` (None if none)."""
    seconds = []
    for name in os.listdir(logdir):
        if "tfevents." in name:
            field = name.split("tfevents.", 1)[1].split(".", 1)[0]
            if field.isdigit():
                seconds.append(int(field))
    return max(seconds, default=None)


class TensorBoardWriter:
    """Scalars as TensorBoard event files in `logdir`, written without TensorFlow.

    Uses the `tensorboard` package's own EventFileWriter. Per-class lists and other
    non-scalars are left out (they stay in metrics.jsonl). Each launch writes a new
    event file that opens with a SessionLog.START one step after the step given to
    `truncate_after` (after step 0 when it is not called): TensorBoard then drops what
    earlier files logged from that step on, so a resumed run shows one curve, not the
    orphaned stretch as well. (The Python loaders purge on that START; the Rust data
    server drops a tag's later steps when the tag goes back in step, to the same end.)
    """

    def __init__(self, logdir: str, enabled: bool = True):
        self.logdir = logdir
        self.enabled = enabled
        self._writer = None

    def _open(self, keep_through: int) -> None:
        try:
            from tensorboard.compat.proto import event_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as e:
            raise ImportError(f"TensorBoard logging needs the tensorboard package ({e}); "
                              f"pip install tensorboard, or turn TensorBoard logging off.") from e
        os.makedirs(self.logdir, exist_ok=True)
        # Loaders read event files in name order and names start with the creation
        # second: wait out a file made this same second so the new one sorts last.
        newest, now = _newest_event_second(self.logdir), time.time()
        if newest is not None and int(now) <= newest < now + 2:
            time.sleep(newest + 1 - now)
        elif newest is not None and newest >= now + 2:
            _logger.warning("event files in %s are dated %d s in the future (clock change?); "
                            "TensorBoard may read this launch's file before them.",
                            self.logdir, newest - int(now))
        self._event_pb2 = event_pb2
        self._writer = EventFileWriter(self.logdir)
        self._start(keep_through)

    def _start(self, keep_through: int) -> None:
        """SessionLog.START at keep_through + 1: loaders keep only earlier steps of old files."""
        self._add(step=keep_through + 1,
                  session_log=self._event_pb2.SessionLog(status=self._event_pb2.SessionLog.START))

    def _add(self, **fields) -> None:
        self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), **fields))
        self._writer.flush()

    def truncate_after(self, step: int) -> None:
        """Marks a (re)start from `step`: TensorBoard hides what earlier files logged after it."""
        if not self.enabled:
            return
        if self._writer is None:
            self._open(int(step))
        else:
            self._start(int(step))

    def write_scalars(self, step: int, values: dict) -> None:
        """One event with a simple_value per scalar in `values` (the rest is skipped)."""
        if not self.enabled:
            return
        from tensorboard.compat.proto import summary_pb2
        points = [(k, _scalar(v)) for k, v in values.items()]
        points = [summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in points
                  if v is not None]
        if self._writer is None:
            self._open(0)
        if points:
            self._add(step=int(step), summary=summary_pb2.Summary(value=points))

    def close(self) -> None:
        """Flushes and closes the event file (safe to call twice)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class MultiWriter:
    """Sends each call to several writers, e.g. metrics.jsonl and TensorBoard."""

    def __init__(self, *writers):
        self.writers = writers

    def write_scalars(self, step: int, values: dict) -> None:
        for w in self.writers:
            w.write_scalars(step, values)

    def truncate_after(self, step: int) -> None:
        for w in self.writers:
            w.truncate_after(step)

    def close(self) -> None:
        for w in self.writers:
            w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def writers(workdir: str, tensorboard: bool = False, enabled: bool = True) -> MultiWriter:
    """The run's writers: `<workdir>/metrics.jsonl`, plus `<workdir>/tensorboard/` if asked."""
    out = [MetricsLog(os.path.join(workdir, METRICS_FILE), enabled=enabled)]
    if tensorboard:
        out.append(TensorBoardWriter(os.path.join(workdir, TENSORBOARD_DIR), enabled=enabled))
    return MultiWriter(*out)


def format_metrics(metrics: dict) -> str:
    """'train/loss=0.1234 val/accuracy=0.9870' with sensible precision."""
    parts = []
    for k, v in metrics.items():
        if hasattr(v, "ndim") and v.ndim or isinstance(v, (list, tuple)):
            continue  # per-class arrays go to the log, not the console
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        else:
            parts.append(f"{k}={v}")
    return " ".join(parts)


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Console:
    """Training progress on stderr: a tqdm bar on a terminal, plain lines otherwise.

    Off a terminal (log files, CI, pytest) each log point prints one line such as
    'step 30/30 epoch 2.00 1,234 img/s train/loss=0.5', which tests and log readers
    grep. On a terminal a tqdm bar counts the steps (rate, ETA) with the same figures
    as its postfix. `bar` forces either mode. Quiet when `enabled=False` (processes
    other than 0, verbose off).
    """

    def __init__(self, total_steps: int, enabled: bool = True, stream=None, bar=None):
        self.total = total_steps
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.use_bar = enabled and (_isatty(self.stream) if bar is None else bool(bar))
        self._bar = None
        self.last_time = time.time()
        self.last_step = None

    def _open_bar(self, step: int) -> None:
        self._bar = tqdm(total=self.total, initial=step, unit="step", file=self.stream,
                         dynamic_ncols=True)

    def start(self, step: int) -> None:
        """Shows the bar from `step` (where this launch begins, the restored step on resume)."""
        if self.use_bar and self._bar is None:
            self._open_bar(step)

    def progress(self, step: int, epoch: float, metrics: dict, images_per_step: int) -> None:
        """Reports a log point: step, epoch, images/s since the last one, scalar metrics."""
        if not self.enabled:
            return
        now = time.time()
        rate = ""
        if self.last_step is not None and step > self.last_step:
            ips = (step - self.last_step) * images_per_step / max(now - self.last_time, 1e-9)
            rate = f"{ips:,.0f} img/s"
        self.last_step, self.last_time = step, now
        figures = " ".join(p for p in (rate, format_metrics(metrics)) if p)
        if not self.use_bar:
            self.line(f"step {step}/{self.total} epoch {epoch:.2f} {figures}".rstrip())
            return
        if self._bar is None:
            self._open_bar(step)
        self._bar.set_postfix_str(f"epoch {epoch:.2f} {figures}".rstrip(), refresh=False)
        self._bar.update(step - self._bar.n)  # redraws at most every 0.1 s; close() at the end

    def line(self, text: str) -> None:
        """Prints a message (above the bar when there is one)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """Leaves the bar at its last state (safe to call twice)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
