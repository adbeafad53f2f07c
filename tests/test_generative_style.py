"""Neural style transfer: Gram matrix against numpy, and optimisation lowers the losses (random VGG16)."""
import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.generative import style_transfer as st


def test_gram_matrix_matches_numpy():
    f = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    want = np.stack([fb.reshape(12, 5).T @ fb.reshape(12, 5) / 12 for fb in f])
    np.testing.assert_allclose(st.gram_matrix(f), want, rtol=1e-5, atol=1e-6)


def test_stylize_lowers_style_and_total_loss():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    content = np.stack([yy, xx, 0.5 * np.ones_like(xx)], -1).astype(np.float32)  # smooth ramps
    style = np.zeros((32, 32, 3), np.float32)
    style[::4] = rng.uniform(size=(8, 32, 3))  # coloured stripes
    model, variables = st.vgg16_features(None, jax.random.key(0), (32, 32))
    image, history = st.stylize(model, variables, content, style, steps=25, lr=0.05,
                                style_layers=("block1_conv1", "block2_conv1", "block3_conv1"),
                                content_layer="block3_conv2", style_weight=10.0, tv_weight=0.01)
    assert image.shape == (32, 32, 3) and float(image.min()) >= 0 and float(image.max()) <= 1
    assert history[0]["content"] == pytest.approx(0.0, abs=1e-6)  # starts from the content image
    assert history[-1]["style"] < 0.5 * history[0]["style"], (history[0], history[-1])
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    with pytest.raises(ValueError, match="RGB images"):
        st.stylize(model, variables, content[..., :1], style, steps=1)


def test_vgg16_features_load_a_keras_weights_file(tmp_path):
    """--config.weights: a Keras VGG16 notop .h5 replaces the random initialisation, layer by layer."""
    from cnnlab.pretrained import write_keras_h5
    model, source = st.vgg16_features(None, jax.random.key(1), (32, 32))
    path = write_keras_h5(source, str(tmp_path / "vgg16_notop.h5"), "vgg16")
    _, loaded = st.vgg16_features(path, jax.random.key(2), (32, 32))
    _, fresh = st.vgg16_features(None, jax.random.key(2), (32, 32))
    kernel = lambda v: np.asarray(v["params"]["block3_conv2"]["kernel"])
    np.testing.assert_array_equal(kernel(loaded), kernel(source))
    assert not np.array_equal(kernel(fresh), kernel(source))
    x = jnp.asarray(np.random.default_rng(0).random((1, 32, 32, 3), np.float32))
    np.testing.assert_allclose(np.asarray(model.apply(loaded, x)), np.asarray(model.apply(source, x)), rtol=1e-6)
