"""Runs one benchmark cell in its own process and prints its result row as JSON.

`python -m benchmarks.worker --system=torch_eager --model=mnist_cnn --batch_size=64
--steps=20 --repeats=3` prints one line `BENCH_RESULT {...}`. One process per
cell keeps frameworks from fighting over threads, gives each cell its own
peak-memory figure, and lets a cell run with different XLA flags (the
caller sets the environment: `KERAS_BACKEND`, `CNNLAB_DEFAULT_XLA_FLAGS`).
"""
import json
import sys

from absl import app, flags

from benchmarks import measure, specs

FLAGS = flags.FLAGS
flags.DEFINE_enum("system", "cnnlab", list(specs.SYSTEMS), "What to measure.")
flags.DEFINE_string("model", "mnist_cnn", "Benchmark model name (benchmarks.specs.MODELS).")
flags.DEFINE_integer("batch_size", 0, "Batch size; 0 = the model's default.")
flags.DEFINE_integer("steps", 0, "Timed steps per repeat; 0 = the model's default.")
flags.DEFINE_integer("repeats", 3, "Timed repeats.")
flags.DEFINE_string("case", "mnist_npz", "Input-pipeline case (system=input_pipeline).")
flags.DEFINE_string("shared_data", "../shared/data", "Folder of the shared real data sets.")


def run_cell(system: str, model: str, batch_size: int, steps: int, repeats: int,
             case: str = "mnist_npz", shared_data: str = "../shared/data") -> dict:
    """Measures one (system, model) cell in this process and returns its row."""
    if system == "input_pipeline":
        from benchmarks import input_pipeline
        return input_pipeline.measure_pipeline(case, shared_data, steps or 20, batch_size)
    if system.startswith("matmul"):
        from benchmarks import matmul_rate
        row = matmul_rate.measure_matmul()
        row["system"] = specs.display_name(system)
        return row
    spec = specs.get(model)
    batch_size = batch_size or spec.batch_size
    steps = steps or spec.steps
    display = specs.display_name(system)
    if system.startswith("cnnlab"):
        from benchmarks import cnnlab_bench
        dtype = "bfloat16" if system == "cnnlab_bf16" else "float32"
        return cnnlab_bench.measure_cnnlab(spec, batch_size, steps, repeats, dtype, display)
    if system == "keras":
        from benchmarks.peers import keras_bench
        return keras_bench.measure_keras(spec, batch_size, steps, repeats)
    from benchmarks.peers import torch_bench
    return torch_bench.measure_torch(spec, batch_size, steps, repeats,
                                     compiled=system == "torch_compile")


def main(argv):
    del argv
    row = run_cell(FLAGS.system, FLAGS.model, FLAGS.batch_size, FLAGS.steps, FLAGS.repeats,
                   FLAGS.case, FLAGS.shared_data)
    sys.stdout.write(measure.RESULT_PREFIX + json.dumps(row) + "\n")


if __name__ == "__main__":
    app.run(main)
