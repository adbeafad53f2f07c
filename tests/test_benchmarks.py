"""The benchmark harness: cnnlab rows from real steps, peer models equal to cnnlab's, reports."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnlab  # noqa: F401  (XLA flags before jax)
from benchmarks import measure, peers, report, specs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(REPO, "..", "shared", "data")

# Trainable parameters of the benchmark models (Keras/torchvision conventions agree here).
PARAMS = {"mnist_cnn": 93_322, "cifar10_cnn": 1_250_858, "resnet18_cifar": 11_173_962,
          "vgg16_64": 39_929_674}


def mnist_cnn_forward_flops():
    """Multiply-adds x 2 of the MNIST convnet's convolutions and dense layers on 28x28x1."""
    conv = [(26 * 26, 32, 3 * 3 * 1), (11 * 11, 64, 3 * 3 * 32), (3 * 3, 64, 3 * 3 * 64)]
    dense = [(576, 64), (64, 10)]
    return 2 * (sum(p * c * k for p, c, k in conv) + sum(i * o for i, o in dense))


def test_cnnlab_two_steps_give_a_well_formed_row():
    from benchmarks import cnnlab_bench
    row = cnnlab_bench.measure_cnnlab(specs.get("mnist_cnn"), batch_size=8, steps=2, repeats=2)
    assert set(measure.ROW_KEYS) <= set(row)
    assert row["status"] == "ok" and row["system"] == "cnnlab" and row["repeats"] == 2
    assert 0 < row["images_per_s_min"] <= row["images_per_s"] <= row["images_per_s_max"]
    # step time and median throughput describe the same median repeat
    assert row["step_ms"] == pytest.approx(1000 * 8 / row["images_per_s"], rel=1e-9)
    assert row["compile_s"] > 0 and row["peak_rss_mb"] > 50 and row["images_per_cpu_s"] > 0
    # XLA's count for a train step: forward + input and kernel gradients ~ 3x the forward,
    # less the first layer's unneeded input gradient, plus elementwise work and Adam.
    ratio = row["flops_per_image"] / mnist_cnn_forward_flops()
    assert 2.8 < ratio < 3.3, ratio
    json.dumps(row)  # the worker prints it as JSON


def test_result_row_statistics():
    row = measure.result_row("m", "s", batch_size=10, steps=4, repeat_seconds=[2.0, 1.0, 4.0],
                             first_step_s=5.5, repeat_cpu_seconds=[4.0, 3.0, 8.0])
    assert row["images_per_s"] == 20.0  # 40 images / median 2 s
    assert (row["images_per_s_min"], row["images_per_s_max"]) == (10.0, 40.0)
    assert row["step_ms"] == 500.0 and row["compile_s"] == 5.0
    assert row["images_per_cpu_s"] == 10.0  # 40 images / median 4 CPU-s
    with pytest.raises(ValueError, match="positive"):
        measure.result_row("m", "s", 10, 4, [], 1.0)


def _row(system, rate, model="m", flops=None):
    row = measure.result_row(model, system, 10, 1, [10.0 / rate], 1.0, flops_per_image=flops)
    return row


def test_ratios_utilisation_and_table():
    rows = [_row("cnnlab", 300.0, flops=2e9), _row("cnnlab bf16", 450.0), _row("keras", 100.0),
            _row("torch eager", 200.0), _row("torch compile", 150.0),
            measure.missing_row("m", "torch compile", 10, "failed", "boom")]
    report.add_derived(rows, matmul_gflops=1200.0)
    assert rows[0]["vs_best_peer"] == pytest.approx(1.5) and rows[0]["best_peer"] == "torch eager"
    assert rows[1]["vs_best_peer"] == pytest.approx(2.25)
    assert rows[2]["flops_per_image"] == 2e9  # peers get cnnlab's XLA count for the same model
    assert rows[0]["matmul_fraction"] == pytest.approx(300 * 2e9 / 1.2e12)
    assert "vs_best_peer" not in rows[3]
    assert report.ratio_summary(rows) == {"m": pytest.approx(1.5)}
    table = report.throughput_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert "| 300.0 |" in table[2] and "1.50 (vs torch eager)" in table[2] and "| 50.0 |" in table[2]
    assert "| failed |" in table[-1]


def test_readme_section_is_replaced_or_appended():
    text = "# Title\n\n<!-- t:start -->\nold\n<!-- t:end -->\n\ntail\n"
    new = report.replace_section(text, "t", "new table")
    assert new == "# Title\n\n<!-- t:start -->\nnew table\n<!-- t:end -->\n\ntail\n"
    assert report.replace_section("# Title\n", "u", "x") == "# Title\n\n<!-- u:start -->\nx\n<!-- u:end -->\n"


def test_write_results_writes_json_markdown_and_the_readme_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# B\n\n<!-- tta:start -->\nold\n<!-- tta:end -->\n")
    report.write_results(str(tmp_path / "out"), "tta", {"rows": [1, 2]}, "| new |\n", str(readme))
    assert json.loads((tmp_path / "out" / "tta.json").read_text()) == {"rows": [1, 2]}
    assert (tmp_path / "out" / "tta.md").read_text() == "| new |\n"
    assert readme.read_text() == "# B\n\n<!-- tta:start -->\n| new |\n<!-- tta:end -->\n"


def test_unknown_names_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown benchmark model 'resnet9'"):
        specs.get("resnet9")
    with pytest.raises(ValueError, match="unknown peer"):
        peers.available("mxnet")


def test_cnnlab_models_have_the_expected_parameter_counts():
    import jax
    for name, expected in PARAMS.items():
        spec = specs.get(name)
        shapes = jax.eval_shape(spec.cnnlab_model().init, jax.random.key(0),
                                np.zeros((1,) + spec.image_shape, np.float32))
        assert sum(np.prod(x.shape) for x in jax.tree.leaves(shapes["params"])) == expected, name


@pytest.mark.skipif(not peers.available("torch"), reason="PyTorch not installed (pip install -e '.[bench]')")
def test_torch_peers_match_cnnlab_and_train():
    from benchmarks.peers import torch_bench, torch_models
    for name, expected in PARAMS.items():
        spec = specs.get(name)
        model = torch_models.build(name, spec.image_shape, specs.NUM_CLASSES)
        assert sum(p.numel() for p in model.parameters()) == expected, name
    row = torch_bench.measure_torch(specs.get("mnist_cnn"), batch_size=8, steps=2, repeats=1)
    assert row["status"] == "ok" and row["system"] == "torch eager" and row["images_per_s"] > 0
    x, _ = torch_bench.channels_last_batches(*specs.synthetic_data((5, 6, 3), 4), 2)[1]
    assert tuple(x.shape) == (2, 3, 5, 6) and x.is_contiguous(memory_format=__import__("torch").channels_last)


@pytest.mark.skipif(not peers.available("keras"), reason="Keras not installed (pip install -e '.[bench]')")
def test_keras_peer_matches_cnnlab_and_trains(tmp_path):
    # A subprocess: KERAS_BACKEND must be set before keras is imported.
    code = ("import json; from benchmarks import specs; "
            "from benchmarks.peers import keras_bench, keras_models as k; "
            "counts = [k.build(n, specs.get(n).image_shape, 10).count_params() "
            "for n in ('mnist_cnn', 'cifar10_cnn')]; "
            "row = keras_bench.measure_keras(specs.get('mnist_cnn'), 8, 2, 1); "
            "print(json.dumps([counts, row]))")
    env = dict(os.environ, KERAS_BACKEND="jax", KERAS_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    counts, row = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts == [PARAMS["mnist_cnn"], PARAMS["cifar10_cnn"]]
    assert row["system"] == "keras" and row["status"] == "ok" and row["images_per_s"] > 0
    assert row["repeats"] == 1 and row["steps"] == 2


def test_time_to_accuracy_curve_and_cnnlab_runner():
    from benchmarks import time_to_accuracy as tta
    rng = np.random.default_rng(0)
    data = (rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64).astype(np.int32),
            rng.random((20, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 20).astype(np.int32))
    row = tta.run_cnnlab(data, batch_size=16, eval_batch_size=10, max_epochs=2, target=1.01, seed=0)
    assert not row["reached"] and row["seconds"] is None and len(row["curve"]) == 2
    accs = [p["test_accuracy"] for p in row["curve"]]
    assert all(a in {k / 20 for k in range(21)} for a in accs)  # counts over 20 test images
    assert row["curve"][0]["seconds"] < row["curve"][1]["seconds"]
    curve = tta.Curve(0.5)
    assert not curve.add(0.4) and curve.add(0.6)
    done = curve.row("x", "")
    assert done["reached"] and done["epochs"] == 2 and done["best_accuracy"] == 0.6
    assert sorted(tta.epoch_order(10, 0, 1)) == list(range(10))
    assert list(tta.epoch_order(10, 0, 1)) != list(tta.epoch_order(10, 0, 2))


def test_time_to_accuracy_recipe_decays_the_rate_once_per_epoch():
    from benchmarks import cnnlab_bench
    from cnnlab.train.optim import make_schedule
    schedule = make_schedule(cnnlab_bench.bench_optim(0.7, steps_per_epoch=10), total_steps=100)
    rates = [float(schedule(s)) for s in (0, 9, 10, 25)]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 7e-4, 4.9e-4], rtol=1e-6)
    constant = make_schedule(cnnlab_bench.bench_optim(), total_steps=100)
    assert float(constant(0)) == float(constant(99)) == pytest.approx(1e-3)


def test_time_to_accuracy_table_pairs_each_peer_with_cnnlab_of_the_same_seed():
    from benchmarks import time_to_accuracy as tta

    def row(framework, seed, seconds):
        curve = [{"epoch": 1, "seconds": 10.0, "test_accuracy": 0.99},
                 {"epoch": 2, "seconds": 20.0, "test_accuracy": 0.993 if seconds else 0.991}]
        return {"framework": framework, "seed": seed, "reached": seconds is not None, "seconds": seconds,
                "epochs": 2 if seconds else None, "best_accuracy": 0.993, "curve": curve, "note": ""}

    rows = [row("cnnlab", 0, 10.0), row("torch", 0, 30.0), row("cnnlab", 1, 20.0), row("torch", 1, None),
            row("cnnlab", 2, 40.0), row("torch", 2, 20.0)]
    text = tta.table(rows)
    assert "| torch | 0 | yes | 30.0 | 2 | 10.0 | 0.9930 | 3.00 |" in text
    assert "| torch | 2 | yes | 20.0 | 2 | 10.0 | 0.9930 | 0.50 |" in text
    lines = tta.summary(rows).splitlines()
    assert lines[0] == "- cnnlab: reached in 3 of 3 seeds, median 20.0 s (epochs 2, 2, 2)."
    assert lines[1] == "- torch: reached in 2 of 3 seeds, median 25.0 s (epochs 2, 2)."


@pytest.mark.skipif(not os.path.isfile(os.path.join(SHARED, "mnist.npz")),
                    reason="../shared/data/mnist.npz absent")
def test_input_pipeline_rates_on_real_mnist():
    from benchmarks import input_pipeline
    row = input_pipeline.measure_pipeline("mnist_npz", SHARED, steps=2, batch_size=16)
    for key in ("loader", "augment", "step", "fed"):
        assert row[f"{key}_images_per_s"] > 0, key
    assert row["fed_over_step"] == pytest.approx(row["fed_images_per_s"] / row["step_images_per_s"])
    with pytest.raises(ValueError, match="unknown input-pipeline case"):
        input_pipeline.measure_pipeline("imagenet", SHARED, steps=2)
