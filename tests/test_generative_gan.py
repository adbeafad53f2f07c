"""DCGAN: losses against numpy, shapes, and a short training that moves samples onto the data."""
import runpy
from pathlib import Path

import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.generative import gan
from cnnlab.generative import train as gtrain

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generative" / "dcgan.py"


def test_losses_match_numpy():
    real = np.array([2.0, -1.0, 0.5], np.float32)
    fake = np.array([-3.0, 0.2, 1.0], np.float32)
    sig = lambda v: 1 / (1 + np.exp(-v.astype(np.float64)))
    d = -np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(fake)))
    np.testing.assert_allclose(gan.discriminator_loss(real, fake), d, rtol=1e-5)
    np.testing.assert_allclose(gan.generator_loss(fake), -np.mean(np.log(sig(fake))), rtol=1e-5)
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])
    np.testing.assert_allclose(gan.mean_max_probability(np.log(probs)), 0.55, rtol=1e-5)


def target_images(n=64):
    """Every image is a bright 8x8 square on a dark 16x16 background, with slight noise."""
    rng = np.random.default_rng(0)
    images = np.full((n, 16, 16, 1), 0.05, np.float32)
    images[:, 4:12, 4:12] = 0.95
    return np.clip(images + rng.normal(0, 0.02, images.shape), 0, 1).astype(np.float32)


def test_short_training_moves_samples_to_the_data():
    images = target_images()
    c = runpy.run_path(str(CONFIG))["get_config"]()
    c.model.latent_dim, c.model.g_features, c.model.d_features = 8, (16, 8), (8, 16)
    c.g_optim.lr = c.d_optim.lr = 2e-3
    c.train.steps, c.train.batch_size, c.train.log_every = 80, 16, 20
    z = jax.random.normal(jax.random.key(3), (16, 8))
    gen, state, history, snaps = gtrain.train_gan(c, images, jax.random.key(0), fixed_z=z, snapshot_every=40)
    assert [s for s, _ in snaps] == [0, 40, 80]
    assert snaps[-1][1].shape == (16, 16, 16, 1)
    error = [float(np.mean(np.abs(x - images[:16].mean(0)))) for _, x in snaps]
    assert error[-1] < 0.5 * error[0], error
    assert np.all(np.isfinite(history["d_loss"])) and np.all(np.isfinite(history["g_loss"]))
    assert set(history) >= {"d_loss", "g_loss", "d_real", "d_fake"}
