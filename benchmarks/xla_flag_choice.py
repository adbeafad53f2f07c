"""Which XLA CPU flags should `import cnnlab` set? Each candidate measured on this machine.

python -m benchmarks.xla_flag_choice [--models=...] [--repeats=3] [--out=benchmarks/results]

Every (model, flag set) cell is cnnlab's real train step in its own process (flags must be
in ``XLA_FLAGS`` before jax starts), with ``CNNLAB_DEFAULT_XLA_FLAGS=0`` so that exactly the
candidate's flags apply; each flag set also measures the dense float32 matmul rate. Cells
run model by model, the flag sets side by side, so that load drifts hit all of them alike.
"""
import json
import os
import subprocess
import sys
import time

from absl import app, flags

from benchmarks import measure, specs

YNN = "--xla_cpu_experimental_ynn_fusion_type="
FLAG_SETS = {
    "XLA defaults": "",
    "convolutions off YNNPACK": YNN + "-individual_convolution",
    "convolutions and dots off YNNPACK": YNN + "-individual_convolution,-individual_dot",
}
_MODELS = flags.DEFINE_list("models", list(specs.MODELS), "Benchmark models.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed repeats per cell.")
_OUT = flags.DEFINE_string("out", "benchmarks/results", "Folder for xla_flag_choice.json/.md.")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(system: str, model: str, xla_flags: str, repeats: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=xla_flags, CNNLAB_DEFAULT_XLA_FLAGS="0", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "benchmarks.worker", f"--system={system}", f"--model={model}",
           f"--repeats={repeats}"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=1200)
    for line in out.stdout.splitlines():
        if line.startswith(measure.RESULT_PREFIX):
            return json.loads(line[len(measure.RESULT_PREFIX):])
    raise RuntimeError(f"{system} {model} with {xla_flags!r} failed: {out.stderr[-1500:]}")


def markdown(result) -> str:
    names = list(FLAG_SETS)
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines.append("| float32 matmul 2048, GFLOP/s | " + " | ".join(
        f"{result['matmul'][n]:.0f}" for n in names) + " |")
    for model, cells in result["models"].items():
        best = max(cells[n] for n in names)
        lines.append(f"| {model}, images/s | " + " | ".join(
            f"{'**' if cells[n] == best else ''}{cells[n]:.1f}{'**' if cells[n] == best else ''}"
            for n in names) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    load_before = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    result = {"machine": measure.cpu_description(), "started": started, "load_before": load_before,
              "flag_sets": FLAG_SETS, "matmul": {}, "models": {}}
    for name, xla_flags in FLAG_SETS.items():
        result["matmul"][name] = run("matmul", "-", xla_flags, 1)["gflops"]
    for model in _MODELS.value:
        result["models"][model] = {}
        for name, xla_flags in FLAG_SETS.items():
            row = run("cnnlab", model, xla_flags, _REPEATS.value)
            result["models"][model][name] = row["images_per_s"]
            print(model, name, f"{row['images_per_s']:.1f} images/s", flush=True)
    result["load_after"] = os.getloadavg()[0]
    text = (f"Machine: {result['machine']}; started {started}; load average {load_before:.2f} before, "
            f"{result['load_after']:.2f} after.\n\n{markdown(result)}\n")
    os.makedirs(_OUT.value, exist_ok=True)
    with open(os.path.join(_OUT.value, "xla_flag_choice.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(_OUT.value, "xla_flag_choice.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    app.run(main)
