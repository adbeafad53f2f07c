"""Preprocessing modes of pretrained models against hand-computed numbers."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import preprocess

# One pixel, RGB = (255, 128, 0) in 0..255, i.e. (1, 128/255, 0) as the pipeline gives it.
PIXEL_255 = np.array([[[[255.0, 128.0, 0.0]]]], np.float32)
PIXEL_01 = PIXEL_255 / 255.0


def test_caffe_mode_is_bgr_minus_imagenet_means():
    expected = [0.0 - 103.939, 128.0 - 116.779, 255.0 - 123.68]  # B, G, R
    np.testing.assert_allclose(preprocess.preprocess(PIXEL_01, "caffe")[0, 0, 0], expected, atol=1e-3)
    np.testing.assert_allclose(preprocess.preprocess(PIXEL_255, "caffe", input_range=255)[0, 0, 0], expected,
                               atol=1e-3)


def test_tf_mode_scales_to_minus_one_one():
    np.testing.assert_allclose(preprocess.preprocess(PIXEL_01, "tf")[0, 0, 0], [1.0, 128 / 127.5 - 1, -1.0],
                               atol=1e-6)


def test_torch_mode_normalises_with_imagenet_mean_and_std():
    expected = [(1.0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0.0 - 0.406) / 0.225]
    # (2.2489, 0.2052, -1.8044) by hand
    np.testing.assert_allclose(expected, [2.24891, 0.20518, -1.80444], atol=1e-4)
    np.testing.assert_allclose(preprocess.preprocess(PIXEL_01, "torch")[0, 0, 0], expected, atol=1e-5)
    np.testing.assert_allclose(preprocess.preprocess(PIXEL_255, "torch", input_range=255)[0, 0, 0], expected,
                               atol=1e-5)


def test_works_on_jax_arrays_and_uint8_and_rejects_bad_input():
    out = preprocess.preprocess(jnp.asarray(PIXEL_01), "tf")
    assert isinstance(out, type(jnp.zeros(1))) and out.dtype == jnp.float32
    raw = PIXEL_255.astype(np.uint8)
    np.testing.assert_allclose(preprocess.preprocess(raw, "none", input_range=255), PIXEL_255)
    with pytest.raises(ValueError, match="mode"):
        preprocess.preprocess(PIXEL_01, "keras")
    with pytest.raises(ValueError, match="RGB"):
        preprocess.preprocess(np.zeros((1, 2, 2, 1), np.float32), "caffe")
    assert preprocess.mode_for("VGG16") == "caffe" and preprocess.mode_for("xception") == "tf"
    assert preprocess.mode_for("densenet121") == "torch" and preprocess.mode_for("EfficientNetB0") == "none"


def test_resize_on_device():
    images = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    small = preprocess.resize(images, (2, 2), antialias=True)
    assert small.shape == (2, 2, 2, 3)
    # Halving with antialiasing: a triangle kernel twice as wide, centred at input coordinate 0.5 (and
    # 2.5); the edge weights (0.75, 0.75, 0.25 after dropping the outside pixel) renormalise to a mean
    # coordinate of 1.25 / 1.75 = 5/7 (and 3 - 5/7 = 16/7) on a ramp value = 48 b + 12 row + 3 col + ch.
    coord = np.array([5 / 7, 16 / 7])
    expected = (48 * np.arange(2)[:, None, None, None] + 12 * coord[None, :, None, None]
                + 3 * coord[None, None, :, None] + np.arange(3)[None, None, None, :])
    np.testing.assert_allclose(small, expected, atol=1e-4)
    assert preprocess.resize(images, 8).shape == (2, 8, 8, 3)


def test_matches_keras_preprocess_input_when_keras_is_installed(tmp_path):
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("KERAS_HOME", str(tmp_path))
    try:
        from keras.applications import imagenet_utils
    except Exception as error:  # noqa: BLE001 - keras absent or unusable here
        pytest.skip(f"keras unavailable: {error}")
    images = np.random.default_rng(0).uniform(0, 1, (2, 5, 5, 3)).astype(np.float32)
    for mode in ("caffe", "tf", "torch"):
        reference = np.asarray(imagenet_utils.preprocess_input(images * 255.0, mode=mode))
        np.testing.assert_allclose(preprocess.preprocess(images, mode), reference, rtol=1e-5, atol=1e-4)
