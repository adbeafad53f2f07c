"""Host memory of detection evaluation: whole host batches kept (before) vs per-image lists (after).

  python -m benchmarks.detection_eval_memory                    # 5,000 test images, ~3-5 min on 2 cores
  python -m benchmarks.detection_eval_memory --num_images=500   # a quick look

The model and data are ``configs/shapes_detect.py``'s (SSD on the tiny
backbone, 64x64 procedural shapes, drawn in memory), untrained, with
``task.score_threshold=0`` so every image keeps ``max_detections`` (20)
boxes: the most the per-image lists can hold. Each variant runs in a fresh
subprocess over the same batches and the same compiled forward pass:

  collect   commit 78534b9's ``cnnlab.train.loop._evaluate``: append
            ``(detections, host batch)`` for every batch, then score them all
            (``Detection.host_evaluate``);
  stream    today's loop: ``host_init``, ``host_update(acc, detections,
            batch)`` per batch (the batch is dropped after it), ``host_finalize``.

Reported per variant, as growth over the state just before the evaluation
loop (after a warm-up batch, ``gc.collect`` and ``malloc_trim``):
  peak RSS growth     the highest resident memory (sampled every 2 ms) during
                      the loop and the scoring, minus the RSS before it;
  held after loop     RSS growth when the loop ends, before scoring: what is
                      kept for the metric;
  traced peak / held  the same two from ``tracemalloc`` (every numpy and Python
                      allocation made during the evaluation; no allocator noise);
and the metrics, which must be identical.
"""
import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc

RESULT_PREFIX = "EVAL_MEMORY "
VARIANTS = ("collect", "stream")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakSampler:
    """Samples this process's RSS in a thread; ``peak`` is the highest value seen."""

    def __init__(self, interval_s: float = 0.002):
        self.interval_s, self.peak, self._stop = interval_s, _rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb())
            time.sleep(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())
        return False


def run_variant(variant: str, num_images: int, batch_size: int) -> dict:
    """One evaluation of ``num_images`` test images by ``variant``; returns the measured row."""
    import runpy

    import cnnlab  # noqa: F401  (XLA flags before jax)
    import jax
    import numpy as np

    from cnnlab import data as data_lib
    from cnnlab import models, tasks

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = runpy.run_path(os.path.join(here, "configs", "shapes_detect.py"))["get_config"]()
    config.data.num_test = num_images
    dataset = data_lib.build(config.data, "test", batch_size, train=False, seed=0)
    model_kwargs = {k: v for k, v in config.model.to_dict().items() if k != "name"}
    model = models.create(config.model.name, num_classes=dataset.info.num_classes, **model_kwargs)
    task_kwargs = {k: v for k, v in config.task.to_dict().items() if k != "name"}
    task_kwargs.update(num_classes=dataset.info.num_classes, score_threshold=0.0)
    task = tasks.create(config.task.name, **task_kwargs)
    height, width, channels = dataset.info.image_shape
    variables = jax.jit(model.init)(jax.random.key(0), np.zeros((1, height, width, channels), np.float32))
    # The eval step's device part: forward pass and decoding, compiled once, fetched to numpy.
    eval_outputs = jax.jit(lambda v, images: task.eval_outputs(model.apply(v, images, train=False), None))

    def outputs_of(batch):
        return jax.device_get(eval_outputs(variables, batch["image"]))

    warm = next(iter(dataset.epoch(0)))  # compile and touch the pipeline outside the measurement
    outputs_of(warm)
    del warm
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back, so the baseline is what is live
    start_rss = _rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    with PeakSampler() as sampler:
        if variant == "collect":
            collected = []
            for batch in dataset.epoch(0):
                collected.append((outputs_of(batch), batch))
            gc.collect()
            held_rss, held_traced = _rss_mb(), tracemalloc.get_traced_memory()[0]
            metrics = task.host_evaluate(collected)
            del collected
        else:
            acc = task.host_init()
            for batch in dataset.epoch(0):
                acc = task.host_update(acc, outputs_of(batch), batch)
            del batch
            gc.collect()
            held_rss, held_traced = _rss_mb(), tracemalloc.get_traced_memory()[0]
            metrics = task.host_finalize(acc)
            del acc
    seconds = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"variant": variant, "num_images": int(metrics["num_images"]), "batch_size": batch_size,
            "image_shape": [height, width, channels], "peak_growth_mb": sampler.peak - start_rss,
            "held_after_loop_mb": held_rss - start_rss, "traced_peak_mb": traced_peak / 2**20,
            "traced_held_mb": held_traced / 2**20, "start_rss_mb": start_rss, "seconds": seconds,
            "metrics": metrics}


def measure(num_images: int, batch_size: int) -> list:
    """Runs every variant in its own fresh interpreter and returns their rows."""
    rows = []
    for variant in VARIANTS:
        cmd = [sys.executable, "-m", "benchmarks.detection_eval_memory", f"--variant={variant}",
               f"--num_images={num_images}", f"--batch_size={batch_size}"]
        done = subprocess.run(cmd, capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if done.returncode or not lines:
            raise RuntimeError(f"variant {variant!r} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        rows.append(json.loads(lines[-1][len(RESULT_PREFIX):]))
    return rows


def table(rows) -> str:
    """Markdown table of the rows, and whether their metrics agree."""
    lines = ["| variant | images | peak RSS growth MB | RSS held after loop MB | traced peak MB | "
             "traced held MB | seconds | map50 | ap |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['num_images']} | {r['peak_growth_mb']:.1f} | "
                     f"{r['held_after_loop_mb']:.1f} | {r['traced_peak_mb']:.1f} | {r['traced_held_mb']:.1f} | "
                     f"{r['seconds']:.0f} | {r['metrics']['map50']:.4f} | {r['metrics']['ap']:.4f} |")
    same = all(r["metrics"] == rows[0]["metrics"] for r in rows)
    lines.append("")
    lines.append(f"metrics identical across variants: {same}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num_images", type=int, default=5000)
    parser.add_argument("--batch_size", type=int, default=250, help="eval batch (shapes_detect's eval_batch_size)")
    parser.add_argument("--variant", choices=VARIANTS, default=None, help="run one variant in this process")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.variant:
        print(RESULT_PREFIX + json.dumps(run_variant(args.variant, args.num_images, args.batch_size)), flush=True)
        return
    rows = measure(args.num_images, args.batch_size)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    print(table(rows))


if __name__ == "__main__":
    main()
