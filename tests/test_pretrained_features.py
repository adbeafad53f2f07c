"""The bottleneck recipe end to end: pretrain, load the run's checkpoint, cache features, fit a head.

A small simple_cnn is trained on one draw of the shapes dataset by the real
training loop (``cnnlab.train.run``); its run directory is loaded into an
include_top=False backbone with ``load_weights`` (orbax path), bottleneck
features of another draw are cached to .npz and a dense head trained on them
must clearly beat the same recipe on a randomly initialised backbone.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import cnnlab  # noqa: F401
import jax

from cnnlab import models, pretrained
from cnnlab.pretrained import features

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_helpers import script, script_env, tiny_config  # noqa: E402

pytestmark = pytest.mark.xdist_group("test_pretrained_features")  # one worker builds the module fixtures once

SIDE = 24
WIDTHS = (16, 32)
DATA = {"name": "shapes", "storage": "memory", "variant": "classify", "num_classes": 3,
        "image_size": (SIDE, SIDE), "num_train": 240, "num_validation": 120, "num_test": 8, "data_seed": 0}


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    from cnnlab.train import loop

    workdir = str(tmp_path_factory.mktemp("pretrain"))
    c = tiny_config(epochs=10, batch_size=32, eval_batch_size=64)
    c.data.image_size = (SIDE, SIDE)
    c.data.num_train = 640
    c.data.data_seed = 1  # other images than the bottleneck data below
    c.model.widths = WIDTHS
    c.optim.lr = 3e-3
    loop.run(c, workdir)
    return workdir


def backbone_and_variables():
    model = models.create("simple_cnn", include_top=False, pooling="max", widths=WIDTHS)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), np.zeros((1, SIDE, SIDE, 3), np.float32))
    return model, variables


def bottleneck_accuracy(model, variables, folder):
    train = features.cache_bottleneck_features(model, variables, DATA, "train", str(folder / "train.npz"),
                                               batch_size=120)
    val = features.cache_bottleneck_features(model, variables, DATA, "validation", str(folder / "val.npz"),
                                             batch_size=120)
    cached = features.load_bottleneck(str(folder / "train.npz"))
    np.testing.assert_array_equal(cached["features"], train["features"])
    assert list(cached["class_names"]) == ["circle", "square", "triangle"]
    assert train["features"].shape == (240, WIDTHS[-1]) and val["features"].shape == (120, WIDTHS[-1])
    head, params, history = features.train_dense_head(train["features"], train["labels"], 3,
                                                      hidden=64, epochs=30, lr=3e-3)
    return features.head_accuracy(head, params, val["features"], val["labels"]), history


def test_bottleneck_recipe_beats_random_backbone(pretrained_run, tmp_path):
    model, random_variables = backbone_and_variables()
    loaded = pretrained.load_weights(random_variables, pretrained_run, "simple_cnn")
    first = jax.tree.leaves(loaded["params"])[0]
    assert not np.allclose(np.asarray(first), np.asarray(jax.tree.leaves(random_variables["params"])[0]))
    (tmp_path / "pre").mkdir()
    (tmp_path / "rand").mkdir()
    accuracy, history = bottleneck_accuracy(model, loaded, tmp_path / "pre")
    random_accuracy, _ = bottleneck_accuracy(model, random_variables, tmp_path / "rand")
    print(f"bottleneck head accuracy: pretrained backbone {accuracy:.3f}, random backbone "
          f"{random_accuracy:.3f}; loss {history[0]:.3f} -> {history[-1]:.3f}")
    # Measured here: 0.550 vs 0.308 (chance 0.33), loss 1.74 -> 0.86; the tiny backbone
    # pretrains to ~0.53 in 10 short epochs on these noisy-background shapes.
    assert history[-1] < 0.65 * history[0]
    assert accuracy >= 0.47, accuracy
    assert accuracy > random_accuracy + 0.15, (accuracy, random_accuracy)


def test_embed_pools_feature_maps_and_matches_cache():
    model = models.create("simple_cnn", include_top=False, pooling=None, widths=WIDTHS)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), np.zeros((1, SIDE, SIDE, 3), np.float32))
    images = np.random.default_rng(0).uniform(size=(5, SIDE, SIDE, 3)).astype(np.float32)
    out = features.embed(model, variables, images, batch_size=2)
    maps = np.asarray(model.apply(variables, images))  # (5, h, w, C)
    np.testing.assert_allclose(out, maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_head_and_cache_errors(tmp_path):
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        features.train_dense_head(np.zeros((4, 3)), np.array([0, 1, 2, 3]), 3)
    with pytest.raises(FileNotFoundError, match="cache_bottleneck_features"):
        features.load_bottleneck(str(tmp_path / "none.npz"))
    model, variables = backbone_and_variables()
    with pytest.raises(ValueError, match=".npz"):
        features.cache_bottleneck_features(model, variables, DATA, "train", str(tmp_path / "f.txt"))


def test_extract_features_script(pretrained_run, tmp_path):
    out = tmp_path / "val.npz"
    args = ["--model=simple_cnn", f"--weights={pretrained_run}", "--pooling=max", "--data=shapes",
            "--data_option=storage=memory", "--data_option=num_train=8", "--data_option=num_validation=20",
            "--data_option=num_test=8", f"--image_size={SIDE}", "--split=validation", "--batch_size=8",
            f"--out={out}"]
    widths = f"--model_option=widths={WIDTHS}"
    result = subprocess.run(script("extract_features.py") + args + [widths], env=script_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    cached = features.load_bottleneck(str(out))
    assert cached["features"].shape == (20, WIDTHS[-1]) and cached["labels"].shape == (20,)
    missing = subprocess.run(script("extract_features.py") + args[:1] + ["--weights=/nonexistent.h5"] + args[2:],
                             env=script_env(), capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "--weights=random" in missing.stderr
