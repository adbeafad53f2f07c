"""Wall time for the MNIST convnet to reach 99.2% test accuracy: cnnlab vs Keras 3 vs PyTorch.

    python -m benchmarks.time_to_accuracy [--frameworks=cnnlab,keras,torch] [--max_epochs=10]

The same recipe everywhere: the Keras MNIST convnet, Adam (lr 1e-3, eps
1e-7, multiplied by --lr_decay_per_epoch after every epoch), batch 64, a
fresh shuffle each epoch, inputs scaled to [0, 1], and an
evaluation on the 10,000 test images after every epoch; training stops at
the first evaluation at or above the target. The clock starts after the data
is in memory and the model is built, so it includes compilation, every
training step and every evaluation. Each framework runs in its own
subprocess. cnnlab uses its library pieces (`JitMesh` train and eval steps)
on in-memory arrays.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from benchmarks import measure, peers, report, specs

FLAGS = flags.FLAGS
flags.DEFINE_list("frameworks", ["cnnlab", "keras", "torch"], "Frameworks to time.")
flags.DEFINE_float("target", 0.992, "Test accuracy to reach.")
flags.DEFINE_integer("max_epochs", 10, "Give up after this many epochs.")
flags.DEFINE_integer("batch_size", 64, "Training batch size.")
flags.DEFINE_integer("eval_batch_size", 1000, "Evaluation batch size (divides 10,000).")
flags.DEFINE_float("lr_decay_per_epoch", 0.7, "The learning rate is multiplied by this after every epoch "
                   "(1 = constant), the same staircase in every framework.")
flags.DEFINE_float("max_minutes", 30.0, "Stop a framework after the epoch that passes this "
                   "wall time (reported as not reached).")
flags.DEFINE_integer("seed", 0, "Initialisation and shuffling seed.")
flags.DEFINE_list("seeds", [], "Several seeds (overrides --seed): every framework runs once per seed, "
                  "and the summary gives the median time to the target.")
flags.DEFINE_string("data", "../shared/data/mnist.npz", "Keras-layout mnist.npz (relative to the repo root).")
flags.DEFINE_string("out", "benchmarks/results", "Folder for time_to_accuracy.json/.md.")
flags.DEFINE_string("readme", "", "If set, rewrite the time-to-accuracy section of this README.")
flags.DEFINE_string("run_one", "", "Internal: run one framework in this process and print its row.")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = ("cnnlab", "keras", "torch")
EVAL_KEYS = ("image", "label")


def load_mnist(path: str):
    """(x_train (60000, 28, 28, 1) float32 in [0, 1], y_train int32, x_test, y_test)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: pass --data=<Keras-layout mnist.npz> "
                                f"(x_train, y_train, x_test, y_test).")
    with np.load(path) as f:
        arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    x_train, y_train, x_test, y_test = arrays
    scale = np.float32(1.0 / 255.0)
    return (x_train[..., None].astype(np.float32) * scale, y_train.astype(np.int32),
            x_test[..., None].astype(np.float32) * scale, y_test.astype(np.int32))


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled example order of `epoch` (used by cnnlab and PyTorch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class Curve:
    """Test accuracy after each epoch, with the wall time since the clock started."""

    def __init__(self, target: float, max_seconds: float = float("inf")):
        self.target, self.max_seconds = target, max_seconds
        self.points, self.start = [], time.perf_counter()

    def add(self, accuracy: float) -> bool:
        """Records one evaluation; True once the target is reached or time is up (stop)."""
        seconds = time.perf_counter() - self.start
        self.points.append({"epoch": len(self.points) + 1, "seconds": seconds,
                            "test_accuracy": float(accuracy)})
        return accuracy >= self.target or seconds > self.max_seconds

    def row(self, framework: str, note: str) -> dict:
        reached = next((p for p in self.points if p["test_accuracy"] >= self.target), None)
        return {"framework": framework, "target": self.target, "reached": reached is not None,
                "seconds": reached["seconds"] if reached else None,
                "epochs": reached["epoch"] if reached else None,
                "best_accuracy": max((p["test_accuracy"] for p in self.points), default=None),
                "curve": self.points, "peak_rss_mb": measure.peak_rss_mb(), "note": note}


def run_cnnlab(data, batch_size, eval_batch_size, max_epochs, target, seed,
               max_seconds=float("inf"), lr_decay_per_epoch: float = 1.0) -> dict:
    from benchmarks import cnnlab_bench
    import jax

    x_train, y_train, x_test, y_test = data
    steps = len(x_train) // batch_size
    _, par, state = cnnlab_bench.build(specs.get("mnist_cnn"), seed=seed, lr_decay_per_epoch=lr_decay_per_epoch,
                                       steps_per_epoch=steps)
    eval_batches = [par.put_batch({"image": x_test[i:i + eval_batch_size],
                                   "label": y_test[i:i + eval_batch_size]})
                    for i in range(0, len(x_test), eval_batch_size)]
    curve = Curve(target, max_seconds)
    for epoch in range(max_epochs):
        order = epoch_order(len(x_train), seed, epoch)
        for i in range(steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            state, _ = par.train_step(state, par.put_batch({"image": x_train[idx], "label": y_train[idx]}))
        sums = None
        for batch in eval_batches:
            out = par.eval_step(state, batch)
            sums = out if sums is None else par.accumulate(sums, out)
        host = par.fetch(sums)
        if curve.add(host["accuracy_sum"] / host["count"]):
            break
    return curve.row("cnnlab", f"jax {jax.__version__}")


def run_keras(data, batch_size, eval_batch_size, max_epochs, target, seed,
              max_seconds=float("inf"), lr_decay_per_epoch: float = 1.0) -> dict:
    import keras
    from benchmarks.peers import keras_bench

    x_train, y_train, x_test, y_test = data
    model = keras_bench.build_model(specs.get("mnist_cnn"), seed=seed, lr_decay_per_epoch=lr_decay_per_epoch,
                                    steps_per_epoch=len(x_train) // batch_size)
    curve = Curve(target, max_seconds)

    class StopAtTarget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if curve.add(logs["val_accuracy"]):
                self.model.stop_training = True

    model.fit(x_train, y_train, batch_size=batch_size, epochs=max_epochs, verbose=0, shuffle=True,
              validation_data=(x_test, y_test), validation_batch_size=eval_batch_size,
              callbacks=[StopAtTarget()])
    return curve.row("keras", f"keras {keras.__version__}, backend {keras.backend.backend()}")


def run_torch(data, batch_size, eval_batch_size, max_epochs, target, seed,
              max_seconds=float("inf"), lr_decay_per_epoch: float = 1.0) -> dict:
    import torch
    from benchmarks.peers import torch_bench

    x_train, y_train, x_test, y_test = data
    model = torch_bench.build_model(specs.get("mnist_cnn"), seed=seed)
    step = torch_bench.make_train_step(model, compiled=False, lr_decay_per_epoch=lr_decay_per_epoch)
    x_eval = torch.from_numpy(x_test).permute(0, 3, 1, 2)  # NCHW view, channels_last memory
    y_eval = torch.from_numpy(y_test).long()
    steps = len(x_train) // batch_size
    curve = Curve(target, max_seconds)
    for epoch in range(max_epochs):
        order = epoch_order(len(x_train), seed, epoch)
        model.train()
        for i in range(steps):
            idx = order[i * batch_size:(i + 1) * batch_size]
            x = torch.from_numpy(x_train[idx]).permute(0, 3, 1, 2)  # NCHW view, channels_last memory
            step(x, torch.from_numpy(y_train[idx]).long())
        step.end_epoch()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(x_test), eval_batch_size):
                logits = model(x_eval[i:i + eval_batch_size])
                correct += int((logits.argmax(1) == y_eval[i:i + eval_batch_size]).sum())
        if curve.add(correct / len(x_test)):
            break
    return curve.row("torch", f"torch {torch.__version__} eager channels_last, "
                              f"{torch.get_num_threads()} threads")


RUNNERS = {"cnnlab": run_cnnlab, "keras": run_keras, "torch": run_torch}


def run_framework(framework: str, data_path: str, batch_size: int, eval_batch_size: int,
                  max_epochs: int, target: float, seed: int, max_seconds: float = float("inf"),
                  lr_decay_per_epoch: float = 1.0) -> dict:
    """Loads MNIST and trains `framework` to the target in this process."""
    if framework not in RUNNERS:
        raise ValueError(f"unknown framework {framework!r}; choose from {FRAMEWORKS}.")
    if framework == "cnnlab":
        import cnnlab  # noqa: F401  (XLA flags before jax)
    data = load_mnist(data_path)
    if len(data[2]) % eval_batch_size:
        raise ValueError(f"eval_batch_size={eval_batch_size} must divide the {len(data[2])} test images.")
    return RUNNERS[framework](data, batch_size, eval_batch_size, max_epochs, target, seed, max_seconds,
                              lr_decay_per_epoch)


def table(rows) -> str:
    """Markdown: seconds and epochs to the target per framework, and the cnnlab speed-up."""
    done = {(r["framework"], r.get("seed")): r for r in rows if r.get("reached")}
    lines = ["| framework | seed | reached | seconds to target | epochs | s/epoch | best test accuracy "
             "| peer seconds / cnnlab seconds | note |", "|" + "---|" * 9]
    for r in rows:
        if "curve" not in r:
            lines.append(f"| {r['framework']} | {r.get('seed', '')} | {r.get('status')} | | | | | | "
                         f"{r.get('note', '')} |")
            continue
        speed = ""
        mine = done.get(("cnnlab", r.get("seed")))
        if r.get("reached") and mine and r["framework"] != "cnnlab":
            speed = f"{r['seconds'] / mine['seconds']:.2f}"
        per_epoch = r["curve"][-1]["seconds"] / len(r["curve"]) if r["curve"] else None
        lines.append(
            f"| {r['framework']} | {r.get('seed', '')} | {'yes' if r['reached'] else 'no'} | "
            f"{'' if r['seconds'] is None else format(r['seconds'], '.1f')} | "
            f"{r['epochs'] or ''} | {'' if per_epoch is None else format(per_epoch, '.1f')} | "
            f"{'' if r['best_accuracy'] is None else format(r['best_accuracy'], '.4f')} | {speed} | "
            f"{r['note']} |")
    return "\n".join(lines)


def summary(rows) -> str:
    """One line per framework: seeds that reached the target and their median seconds."""
    lines = []
    for framework in dict.fromkeys(r["framework"] for r in rows):
        mine = [r for r in rows if r["framework"] == framework and "curve" in r]
        if not mine:
            continue
        times = [r["seconds"] for r in mine if r.get("reached")]
        median = f"median {np.median(times):.1f} s" if times else "no time"
        epochs = [r["epochs"] for r in mine if r.get("reached")]
        lines.append(f"- {framework}: reached in {len(times)} of {len(mine)} seeds, {median}"
                     + (f" (epochs {', '.join(map(str, epochs))})" if epochs else "") + ".")
    return "\n".join(lines)


def write_outputs(rows, load_before: float, readme: str = "") -> str:
    """Writes time_to_accuracy.json/.md into --out (and the README section); returns the Markdown."""
    load_after = os.getloadavg()[0]
    markdown = (f"- Machine: {measure.cpu_description()}; load average (1 min) {load_before:.2f} "
                f"before and {load_after:.2f} after (other processes share these cores).\n"
                f"- Target {100 * FLAGS.target:.1f}% test accuracy, batch {FLAGS.batch_size}, Adam 1e-3 "
                f"x {FLAGS.lr_decay_per_epoch:g} per epoch, "
                f"at most {FLAGS.max_epochs} epochs or the epoch that passes {FLAGS.max_minutes:g} "
                f"min, seeds {', '.join(map(str, seeds()))}.\n{summary(rows)}\n\n{table(rows)}\n")
    report.write_results(FLAGS.out, "time_to_accuracy",
                         {"rows": rows, "load_before": load_before, "load_after": load_after}, markdown, readme)
    return markdown


def seeds() -> list[int]:
    """--seeds when given, else [--seed]."""
    try:
        return [int(v) for v in FLAGS.seeds] if FLAGS.seeds else [FLAGS.seed]
    except ValueError:
        raise app.UsageError(f"--seeds must be integers, got {FLAGS.seeds}.") from None


def main(argv):
    del argv
    data_path = os.path.join(REPO_ROOT, FLAGS.data)
    args = (data_path, FLAGS.batch_size, FLAGS.eval_batch_size, FLAGS.max_epochs, FLAGS.target,
            FLAGS.seed, 60.0 * FLAGS.max_minutes, FLAGS.lr_decay_per_epoch)
    if FLAGS.run_one:
        row = run_framework(FLAGS.run_one, *args)
        sys.stdout.write(measure.RESULT_PREFIX + json.dumps(row) + "\n")
        return
    unknown = sorted(set(FLAGS.frameworks) - set(FRAMEWORKS))
    if unknown:
        raise app.UsageError(f"--frameworks has unknown {unknown}; choose from {FRAMEWORKS}.")
    if not os.path.isfile(data_path):
        raise app.UsageError(f"{data_path} not found: pass --data=<Keras-layout mnist.npz>.")
    load_before, rows = os.getloadavg()[0], []
    keras_home = tempfile.mkdtemp(prefix="cnnlab_tta_keras_")
    for seed, framework in ((seed, f) for seed in seeds() for f in FLAGS.frameworks):
        if framework != "cnnlab" and not peers.available(framework):
            rows.append({"framework": framework, "seed": seed, "status": "not installed",
                         "note": f"pip install -e '.[bench]' to add {framework}"})
            continue
        env = dict(os.environ, KERAS_BACKEND="jax", KERAS_HOME=keras_home, PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "benchmarks.time_to_accuracy", f"--run_one={framework}",
               f"--data={data_path}", f"--batch_size={FLAGS.batch_size}",
               f"--eval_batch_size={FLAGS.eval_batch_size}", f"--max_epochs={FLAGS.max_epochs}",
               f"--target={FLAGS.target}", f"--seed={seed}", f"--max_minutes={FLAGS.max_minutes}",
               f"--lr_decay_per_epoch={FLAGS.lr_decay_per_epoch}"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
        lines = [l for l in out.stdout.splitlines() if l.startswith(measure.RESULT_PREFIX)]
        if lines:
            row = json.loads(lines[-1][len(measure.RESULT_PREFIX):])
        else:
            reason = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
            row = {"framework": framework, "status": "failed", "note": reason.replace("|", "/")}
        row["seed"] = seed
        rows.append(row)
        write_outputs(rows, load_before)  # partial results
        print(f"{framework} seed {seed}: " + (f"{row['seconds']:.1f} s, {row['epochs']} epochs" if row.get("reached")
                                  else f"not reached ({row.get('status') or row.get('best_accuracy')})"),
              flush=True)
    markdown = write_outputs(rows, load_before, FLAGS.readme)
    print("\n" + markdown)


if __name__ == "__main__":
    app.run(main)
