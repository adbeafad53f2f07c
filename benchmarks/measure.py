"""Turning wall-clock timings into one result row shared by every framework."""
import os
import platform
import resource
import statistics
import time
from typing import Optional, Sequence

RESULT_PREFIX = "BENCH_RESULT "
ROW_KEYS = ("model", "system", "batch_size", "steps", "repeats", "images_per_s",
            "images_per_s_min", "images_per_s_max", "step_ms", "images_per_cpu_s", "compile_s",
            "peak_rss_mb", "flops_per_image", "status", "note")


class RepeatTimer:
    """Collects wall and process-CPU seconds of each timed repeat: `with timer: ...`."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall.append(time.perf_counter() - self._wall)
        self.cpu.append(time.process_time() - self._cpu)
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if platform.system() == "Linux" else kib / 2**20


def result_row(model: str, system: str, batch_size: int, steps: int,
               repeat_seconds: Sequence[float], first_step_s: float,
               flops_per_image: Optional[float] = None, note: str = "",
               repeat_cpu_seconds: Optional[Sequence[float]] = None) -> dict:
    """The result row of one timed (model, system) cell.

    repeat_seconds: wall time of each repeat of `steps` training steps.
    first_step_s: wall time of the first step (trace + compile + run); the
    compile time reported is that minus one steady-state step.
    repeat_cpu_seconds: process CPU time (all threads) of each repeat; gives
    `images_per_cpu_s`, which other processes on the machine disturb less
    than wall time (spinning worker threads still count).
    """
    if not repeat_seconds or min(repeat_seconds) <= 0:
        raise ValueError(f"repeat_seconds must be positive timings, got {list(repeat_seconds)}.")
    images = batch_size * steps
    rates = [images / s for s in repeat_seconds]
    median_s = statistics.median(repeat_seconds)  # images_per_s is images / median time
    step_s = median_s / steps
    return {
        "model": model, "system": system, "batch_size": batch_size, "steps": steps,
        "repeats": len(repeat_seconds),
        "images_per_s": images / median_s,
        "images_per_s_min": min(rates), "images_per_s_max": max(rates),
        "step_ms": 1000.0 * step_s,
        "images_per_cpu_s": (images / statistics.median(repeat_cpu_seconds)
                             if repeat_cpu_seconds else None),
        "compile_s": max(first_step_s - step_s, 0.0),
        "peak_rss_mb": peak_rss_mb(),
        "flops_per_image": flops_per_image,
        "status": "ok", "note": note,
    }


def missing_row(model: str, system: str, batch_size: int, status: str, note: str) -> dict:
    """A row for a cell that did not run: a peer not installed, or a failure."""
    row = dict.fromkeys(ROW_KEYS)
    row.update(model=model, system=system, batch_size=batch_size, status=status, note=note)
    return row


def cpu_description() -> str:
    """CPU model, widest vector ISA and core count, e.g. 'AMD EPYC (AVX-512), 2 cores'."""
    name, isa = "", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not name:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not isa:
                    cpu_flags = set(line.split(":", 1)[1].split())
                    isa = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"))
                                if flag in cpu_flags), "")
    except OSError:  # not Linux: fall back to what platform knows
        pass
    name = name or platform.processor() or platform.machine()
    return f"{name}{f' ({isa})' if isa else ''}, {os.cpu_count()} cores"
