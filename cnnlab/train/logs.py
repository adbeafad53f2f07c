"""Run logs: `metrics.jsonl` (one JSON object per logging point) and the console."""
import json
import math
import os
import sys
import time


def _jsonable(value):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/Inf to null."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """Appends records like {"step": 100, "epoch": 1.0, "train/loss": 0.5} to a JSONL file.

    Only process 0 writes (`enabled=False` elsewhere). On resume the log is cut
    back to the restored step, so a replayed stretch is not logged twice.
    """

    def __init__(self, path: str, enabled: bool = True):
        self.path = path
        self.enabled = enabled

    def truncate_after(self, step: int) -> None:
        if not self.enabled or not os.path.exists(self.path):
            return
        with open(self.path) as f:
            lines = [ln for ln in f if ln.strip()]
        keep = [ln for ln in lines if json.loads(ln).get("step", 0) <= step]
        if len(keep) != len(lines):
            with open(self.path, "w") as f:
                f.writelines(keep)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        clean = {k: _jsonable(v) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")

    def read(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]


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


class Console:
    """Progress lines on stderr: step, epoch, throughput and the latest metrics."""

    def __init__(self, total_steps: int, enabled: bool = True, stream=None):
        self.total = total_steps
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.t0 = time.time()
        self.last_time = self.t0
        self.last_step = None

    def progress(self, step: int, epoch: float, metrics: dict, images_per_step: int) -> None:
        now = time.time()
        rate = ""
        if self.last_step is not None and step > self.last_step:
            ips = (step - self.last_step) * images_per_step / max(now - self.last_time, 1e-9)
            rate = f" {ips:,.0f} img/s"
        self.last_step, self.last_time = step, now
        width = 20
        done = int(width * step / max(self.total, 1))
        bar = "#" * done + "." * (width - done)
        self.line(f"[{bar}] step {step}/{self.total} epoch {epoch:.2f}{rate} "
                  f"{format_metrics(metrics)}")

    def line(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)
