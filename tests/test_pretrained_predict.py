"""scripts/predict.py and cnnlab.pretrained.predict: refuses to run without weights, predicts with them."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import cnnlab  # noqa: F401
import jax

from cnnlab import pretrained
from cnnlab.pretrained import predict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_helpers import script, script_env  # noqa: E402


def random_file(model_name, path, side, include_top=True, seed=0):
    """A Keras-layout weights file of random weights, written by cnnlab's exporter."""
    model = pretrained.keras_model(model_name, include_top=include_top)
    shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x),
                            jax.ShapeDtypeStruct((1, side, side, 3), np.float32))
    rng = np.random.default_rng(seed)
    variables = jax.tree.map(lambda s: rng.normal(0.0, 0.02, s.shape).astype(np.float32), dict(shapes))
    if "batch_stats" in variables:
        variables["batch_stats"] = jax.tree.map(lambda s: np.abs(s) + 1.0, variables["batch_stats"])
    return pretrained.write_keras_h5(variables, str(path), model_name)


@pytest.fixture
def image_file(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path)
    return str(path)


def test_script_without_weights_says_how_to_get_them(image_file):
    result = subprocess.run(script("predict.py") + ["--model=resnet50", f"--image={image_file}"],
                            env=script_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5" in result.stderr
    assert "~/.keras/models/" in result.stderr and "ResNet50(weights='imagenet')" in result.stderr
    assert "random weights" in result.stderr
    assert result.stdout == ""


def test_script_predicts_with_a_weights_file(tmp_path, image_file):
    weights = random_file("resnet50", tmp_path / "resnet50.h5", 224)
    out = tmp_path / "bars.png"
    result = subprocess.run(
        script("predict.py") + ["--model=resnet50", f"--weights={weights}", f"--image={image_file}",
                                "--top=3", f"--out={out}"],
        env=script_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert len(lines) == 3
    probs = [float(line.split()[-1]) for line in lines]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    wnids = {wnid for wnid, _ in pretrained.imagenet_classes()}
    assert all(line.split()[-2] in wnids for line in lines)
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size[0] > 300


def test_notop_file_and_missing_image_are_refused(tmp_path):
    notop = random_file("vgg11", tmp_path / "vgg11_notop.h5", 224, include_top=False)
    with pytest.raises(ValueError, match="not the \\*_notop.h5 one"):
        predict.pretrained_classifier("vgg11", notop)
    with pytest.raises(FileNotFoundError, match="no image at"):
        predict.load_image(str(tmp_path / "none.jpg"), 224)


def test_load_image_resizes_like_keras(image_file):
    image = predict.load_image(image_file, 64)
    assert image.shape == (64, 64, 3) and image.dtype == np.float32
    with Image.open(image_file) as pil:
        expected = np.asarray(pil.convert("RGB").resize((64, 64), Image.NEAREST), np.float32) / 255.0
    np.testing.assert_array_equal(image, expected)
    assert predict.input_size("xception") == 299 and predict.input_size("vgg16") == 224
