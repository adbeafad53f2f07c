"""VAE: KL against the closed form by numpy, reparameterisation, short training lowers -ELBO."""
import runpy
from pathlib import Path

import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.data import shapes
from cnnlab.generative import train as gtrain
from cnnlab.generative import vae

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generative" / "vae.py"


def test_kl_matches_monte_carlo_and_closed_form():
    mean = np.array([[0.5, -1.0]], np.float32)
    logvar = np.array([[0.2, -0.7]], np.float32)
    var = np.exp(logvar.astype(np.float64))
    closed = 0.5 * np.sum(var + mean ** 2 - 1 - np.log(var))
    np.testing.assert_allclose(vae.kl_to_standard_normal(mean, logvar), [closed], rtol=1e-5)
    z = np.asarray(vae.reparameterize(jax.random.key(0), jnp.tile(mean, (200000, 1)),
                                      jnp.tile(logvar, (200000, 1))), np.float64)
    np.testing.assert_allclose(z.mean(0), mean[0], atol=0.01)
    np.testing.assert_allclose(z.var(0), var[0], rtol=0.02)
    log_q = -0.5 * (((z - mean) ** 2) / var + np.log(2 * np.pi * var)).sum(1)
    log_p = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(1)
    assert abs(np.mean(log_q - log_p) - closed) < 0.02


def test_sampling_and_interpolation_shapes():
    model = vae.VAE((16, 16, 1), (8, 16), 2)
    params = model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 1)), jax.random.key(1))["params"]
    assert vae.sample_prior(model, params, jax.random.key(2), 5).shape == (5, 16, 16, 1)
    path = vae.interpolate(model, params, jnp.zeros((16, 16, 1)), jnp.ones((16, 16, 1)), 6)
    assert path.shape == (6, 16, 16, 1)
    assert vae.latent_grid(model, params, 3).shape == (9, 16, 16, 1)
    with pytest.raises(ValueError, match="steps >= 2"):
        vae.interpolate(model, params, jnp.zeros((16, 16, 1)), jnp.ones((16, 16, 1)), 1)


def test_short_training_lowers_negative_elbo():
    data = shapes.generate(64, seed=0, image_size=(16, 16))
    images = data["image"].astype(np.float32).max(axis=-1, keepdims=True) / 255.0  # (64, 16, 16, 1)
    c = runpy.run_path(str(CONFIG))["get_config"]()
    c.model.features, c.model.latent_dim = (8, 16), 4
    c.optim.lr, c.optim.schedule = 1e-2, "constant"
    c.train.steps, c.train.batch_size, c.train.log_every = 50, 32, 10
    key = jax.random.key(0)
    model, params, history = gtrain.train_vae(c, images, key)
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_allclose(history["loss"], history["recon"] + history["kl"], rtol=1e-4)
    after = gtrain.evaluate_vae(model, params, images, key)
    assert after["neg_elbo"] == pytest.approx(after["recon"] + after["kl"])
    params0 = model.init(jax.random.key(5), jnp.zeros((1, 16, 16, 1)), key)["params"]
    before = gtrain.evaluate_vae(model, params0, images, key)
    assert after["neg_elbo"] < before["neg_elbo"] and after["mse"] < 0.5 * before["mse"], (before, after)
