"""Training throughput of cnnlab against Keras 3 and PyTorch on the same models, in one run.

    python -m benchmarks.train_throughput                      # everything
    python -m benchmarks.train_throughput --models=mnist_cnn --steps=20 --peers=torch

Every (model, system) cell runs in its own subprocess (`benchmarks.worker`),
one after another, so frameworks never share threads and each cell reports
its own compile time and peak memory. Writes `<out>/throughput.json` and
`<out>/throughput.md`, and with `--readme` rewrites the results section of
`benchmarks/README.md`. This process itself imports neither jax nor a peer.
"""
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from benchmarks import measure, peers, report, specs

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(specs.MODELS), "Benchmark models.")
flags.DEFINE_list("batch_sizes", [], "One batch size per model in --models (default: each model's).")
flags.DEFINE_integer("steps", 0, "Timed steps per repeat (0: each model's default).")
flags.DEFINE_integer("repeats", 3, "Timed repeats per cell (median and min-max are reported).")
flags.DEFINE_list("peers", ["keras", "torch"], "Peer frameworks to run (keras, torch).")
flags.DEFINE_bool("torch_compile", True, "Also run PyTorch with torch.compile.")
flags.DEFINE_bool("bf16", True, "Also run cnnlab in mixed precision (bfloat16 compute).")
flags.DEFINE_bool("flags_ablation", True,
                  "Also run cnnlab with CNNLAB_DEFAULT_XLA_FLAGS=0 (XLA's own CPU defaults).")
flags.DEFINE_bool("xla_conv", True,
                  "Also run cnnlab with CNNLAB_CONV_BACKEND=xla (XLA's convolutions instead of oneDNN's).")
flags.DEFINE_string("out", "benchmarks/results", "Folder for throughput.json and throughput.md.")
flags.DEFINE_string("readme", "", "If set, rewrite the throughput section of this README.")
flags.DEFINE_bool("input_pipeline", True,
                  "Also measure the cnnlab.data loader against the step it feeds (needs --shared_data).")
flags.DEFINE_integer("pipeline_steps", 20, "Batches timed per input-pipeline measurement.")
flags.DEFINE_string("shared_data", "../shared/data",
                    "Folder with mnist.npz and cifar10_jpg.tar.gz (relative to the repo root).")
flags.DEFINE_integer("worker_timeout", 1200, "Seconds one cell may take before it is failed.")


def worker_env(system: str, keras_home: str) -> dict:
    """The environment of one cell's subprocess."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    if system == "keras":
        env["KERAS_BACKEND"] = "jax"
        env["KERAS_HOME"] = keras_home
    if system.endswith(specs.NOFLAGS_SUFFIX):
        env["CNNLAB_DEFAULT_XLA_FLAGS"] = "0"
    if system == specs.XLA_CONV_SYSTEM:
        env["CNNLAB_CONV_BACKEND"] = "xla"
    return env


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_worker(system: str, model: str, batch_size: int, steps: int, repeats: int,
               keras_home: str, timeout: int, extra=()) -> dict:
    """Runs one cell in a subprocess and returns its row (a 'failed' row on error)."""
    cmd = [sys.executable, "-m", "benchmarks.worker", f"--system={system}", f"--model={model}",
           f"--batch_size={batch_size}", f"--steps={steps}", f"--repeats={repeats}", *extra]
    display = specs.display_name(system)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env=worker_env(system, keras_home),
                             cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return measure.missing_row(model, display, batch_size, "failed", f"timed out after {timeout} s")
    for line in out.stdout.splitlines():
        if line.startswith(measure.RESULT_PREFIX):
            return json.loads(line[len(measure.RESULT_PREFIX):])
    reason = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return measure.missing_row(model, display, batch_size, "failed", reason.replace("|", "/"))


def systems_for(peer_list, torch_compile: bool, bf16: bool, ablation: bool, xla_conv: bool = True):
    """(system key, required peer or None) in run order."""
    out = [("cnnlab", None)]
    if xla_conv:
        out.append((specs.XLA_CONV_SYSTEM, None))
    if bf16:
        out.append(("cnnlab_bf16", None))
    if ablation:
        out.append(("cnnlab_noflags", None))
    if "keras" in peer_list:
        out.append(("keras", "keras"))
    if "torch" in peer_list:
        out.append(("torch_eager", "torch"))
        if torch_compile:
            out.append(("torch_compile", "torch"))
    return out


def batch_sizes(models, given) -> dict:
    if not given:
        return {m: specs.get(m).batch_size for m in models}
    if len(given) != len(models):
        raise app.UsageError(f"--batch_sizes needs one value per model ({len(models)}), got {given}.")
    return {m: int(b) for m, b in zip(models, given)}


def machine_section(matmul_rows, load_before, load_after, started, seconds) -> str:
    """The Markdown paragraph describing the machine and the run."""
    rates = ", ".join(f"{r['gflops']:.0f} GFLOP/s ({r['system']})" for r in matmul_rows
                      if r.get("gflops"))
    return "\n".join([
        f"- Machine: {matmul_rows[0].get('machine', measure.cpu_description())}, "
        f"Linux {platform.release()}, Python {platform.python_version()}.",
        f"- Dense float32 matmul rate measured in this run: {rates}; the best is the yardstick.",
        f"- Run started {started}, took {seconds / 60:.1f} min; load average (1 min) "
        f"{load_before:.2f} before and {load_after:.2f} after "
        f"(other processes share these cores, so rates under load are lower bounds).",
    ])


def write_outputs(rows, pipeline_rows, matmul_rows, started, load_before, t0, readme="") -> str:
    """Writes throughput.json/.md into --out (and the README section); returns the Markdown."""
    matmul_gflops = max((r.get("gflops") or 0.0) for r in matmul_rows) or None
    report.add_derived(rows, matmul_gflops)
    load_after = os.getloadavg()[0]
    machine = machine_section(matmul_rows, load_before, load_after, started, time.time() - t0)
    ratios = report.ratio_summary(rows)
    ratio_text = ", ".join(f"{m} {v:.2f}" for m, v in ratios.items())
    markdown = (f"{machine}\n\ncnnlab / best peer (float32): {ratio_text or 'n/a'}\n\n"
                f"{report.throughput_table(rows)}\n")
    if pipeline_rows:
        markdown += "\nInput pipeline (images/s):\n\n" + report.pipeline_table(pipeline_rows) + "\n"
    report.write_results(FLAGS.out, "throughput",
                         {"started": started, "load_before": load_before, "load_after": load_after,
                          "matmul": matmul_rows, "matmul_gflops": matmul_gflops, "rows": rows,
                          "input_pipeline": pipeline_rows, "ratios": ratios}, markdown, readme)
    return markdown


def main(argv):
    del argv
    for m in FLAGS.models:
        specs.get(m)
    unknown = sorted(set(FLAGS.peers) - set(peers.FRAMEWORK_MODULES))
    if unknown:
        raise app.UsageError(f"--peers has unknown {unknown}; choose from keras, torch.")
    sizes = batch_sizes(FLAGS.models, FLAGS.batch_sizes)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    t0, load_before = time.time(), os.getloadavg()[0]
    keras_home = tempfile.mkdtemp(prefix="cnnlab_bench_keras_")

    matmul_rows = []
    for system in ("matmul", "matmul_noflags"):
        row = run_worker(system, "-", 0, 0, 0, keras_home, FLAGS.worker_timeout)
        matmul_rows.append(row)
        print(f"{row['system']}: {row.get('gflops') or 0:.0f} GFLOP/s", flush=True)

    rows = []
    for model in FLAGS.models:
        for system, needs in systems_for(FLAGS.peers, FLAGS.torch_compile, FLAGS.bf16,
                                         FLAGS.flags_ablation, FLAGS.xla_conv):
            display = specs.display_name(system)
            if needs and not peers.available(needs):
                row = measure.missing_row(model, display, sizes[model], "not installed",
                                          f"pip install -e '.[bench]' to add {needs}")
            else:
                row = run_worker(system, model, sizes[model], FLAGS.steps, FLAGS.repeats,
                                 keras_home, FLAGS.worker_timeout)
            rows.append(row)
            write_outputs(rows, [], matmul_rows, started, load_before, t0)  # partial results
            rate = row.get("images_per_s")
            print(f"{model:15s} {display:22s} " +
                  (f"{rate:9.1f} images/s" if rate else f"{row['status']}: {row.get('note')}"),
                  flush=True)

    pipeline_rows = []
    if FLAGS.input_pipeline:
        shared = os.path.join(REPO_ROOT, FLAGS.shared_data)
        for case in specs.PIPELINE_CASES:
            if not os.path.isdir(shared):
                row = {"case": case, "status": "skipped", "note": f"{shared} not found"}
            else:
                row = run_worker("input_pipeline", "-", 0, FLAGS.pipeline_steps, 1, keras_home,
                                 FLAGS.worker_timeout, (f"--case={case}", f"--shared_data={shared}"))
                row.setdefault("case", case)
            pipeline_rows.append(row)
            print(f"input pipeline {case}: " + (
                f"loader {row['loader_images_per_s']:.0f}, step {row['step_images_per_s']:.0f}, "
                f"fed {row['fed_images_per_s']:.0f} images/s" if row.get("status") == "ok"
                else f"{row.get('status')}: {row.get('note')}"), flush=True)

    markdown = write_outputs(rows, pipeline_rows, matmul_rows, started, load_before, t0,
                             FLAGS.readme)
    print("\n" + markdown)


if __name__ == "__main__":
    app.run(main)
