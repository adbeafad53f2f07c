"""Convolutional autoencoder: shapes, loss against numpy, short training lowers the loss."""
import runpy
from pathlib import Path

import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import shapes
from cnnlab.generative import autoencoder as ae
from cnnlab.generative import train as gtrain


CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generative" / "autoencoder.py"


def tiny_images(n=64, size=16):
    images, _ = shapes_images(n, size)
    return images


def shapes_images(n, size):
    data = shapes.generate(n, seed=0, image_size=(size, size))
    images = np.asarray(data["image"], np.float32).mean(axis=-1, keepdims=True) / 255.0  # grey (N, H, W, 1)
    return images, np.asarray(data["label"])


def test_shapes_and_embedding():
    model = ae.ConvAutoencoder((16, 16, 1), (8, 16), 5)
    params = model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 1)))["params"]
    logits, z = model.apply({"params": params}, jnp.zeros((3, 16, 16, 1)))
    assert logits.shape == (3, 16, 16, 1) and z.shape == (3, 5)
    assert ae.embed(model, params, jnp.zeros((2, 16, 16, 1))).shape == (2, 5)


def test_bad_image_size_raises():
    model = ae.ConvAutoencoder((15, 16, 1), (8, 16), 5)
    with pytest.raises(ValueError, match="divisible by 4"):
        model.init(jax.random.key(0), jnp.zeros((1, 15, 16, 1)))


def test_reconstruction_loss_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 3, 1)).astype(np.float32)
    target = rng.uniform(size=(2, 3, 3, 1)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    bce = -(target * np.log(p) + (1 - target) * np.log(1 - p)).reshape(2, -1).sum(1)
    np.testing.assert_allclose(ae.reconstruction_loss(logits, target, "bce"), bce, rtol=1e-5)
    mse = ((p - target) ** 2).reshape(2, -1).sum(1)
    np.testing.assert_allclose(ae.reconstruction_loss(logits, target, "mse"), mse, rtol=1e-5)
    with pytest.raises(ValueError, match="choose one of"):
        ae.reconstruction_loss(logits, target, "l1")


@pytest.mark.parametrize("noise_std", [0.0, 0.3])
def test_short_training_lowers_loss(noise_std):
    images = tiny_images()
    c = runpy.run_path(str(CONFIG))["get_config"]()
    c.model.features, c.model.latent_dim, c.model.noise_std = (8, 16), 8, noise_std
    c.optim.lr, c.optim.schedule = 1e-2, "constant"
    c.train.steps, c.train.batch_size, c.train.log_every = 50, 32, 10
    key = jax.random.key(0)
    model0 = ae.ConvAutoencoder((16, 16, 1), (8, 16), 8)
    params0 = model0.init(jax.random.split(key)[0], jnp.zeros((1, 16, 16, 1)))["params"]
    before = gtrain.evaluate_autoencoder(model0, params0, images, key, noise_std)
    model, params, history = gtrain.train_autoencoder(c, images, key)
    after = gtrain.evaluate_autoencoder(model, params, images, key, noise_std)
    # BCE against grey targets has an entropy floor, so the pixel MSE shows the progress.
    assert history["loss"][-1] < history["loss"][0]
    assert history["mse"][-1] < 0.7 * history["mse"][0], history
    assert after["mse"] < 0.65 * before["mse"], (before, after)
