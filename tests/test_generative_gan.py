"""DCGAN: losses against numpy, shapes, and a short training that moves samples onto the data."""
import runpy
from pathlib import Path

import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def two_class_images(n=64, channels=1):
    """Class 0: bright square top-left; class 1: bright square bottom-right (16x16, slight noise)."""
    rng = np.random.default_rng(1)
    labels = np.arange(n) % 2
    images = np.full((n, 16, 16, channels), 0.05, np.float32)
    images[labels == 0, 1:8, 1:8] = 0.95
    images[labels == 1, 8:15, 8:15] = 0.95
    return np.clip(images + rng.normal(0, 0.02, images.shape), 0, 1).astype(np.float32), labels


def test_conditional_gan_draws_the_requested_class():
    images, labels = two_class_images()
    c = runpy.run_path(str(CONFIG.with_name("dcgan_conditional.py")))["get_config"]()
    c.model.num_classes = 2
    c.model.latent_dim, c.model.g_features, c.model.d_features = 8, (16, 8), (8, 16)
    c.g_optim.lr = c.d_optim.lr = 2e-3
    c.train.steps, c.train.batch_size, c.train.log_every = 150, 16, 50
    z = jax.random.normal(jax.random.key(3), (16, 8))
    gen, state, _, snaps = gtrain.train_gan(c, images, jax.random.key(0), fixed_z=z, snapshot_every=150,
                                            labels=labels)
    asked = np.arange(16) % 2  # the default fixed labels cycle through the classes
    samples = snaps[-1][1]
    means = [images[labels == k].mean(0) for k in (0, 1)]
    dist = np.array([[np.mean(np.abs(s - m)) for m in means] for s in samples])  # (16, 2)
    assert np.mean(dist.argmin(1) == asked) >= 0.9, dist
    same_z = np.asarray(gan.generate(gen, state, jnp.repeat(z[:1], 2, 0), jnp.array([0, 1])))
    assert same_z[0, 1:8, 1:8].mean() > same_z[1, 1:8, 1:8].mean()  # one code, two classes


def test_conditional_gan_needs_labels():
    images, _ = two_class_images(16)
    c = runpy.run_path(str(CONFIG.with_name("dcgan_conditional.py")))["get_config"]()
    c.model.latent_dim, c.model.g_features, c.model.d_features = 8, (16, 8), (8, 16)
    c.train.steps, c.train.batch_size = 1, 8
    with pytest.raises(ValueError, match="one integer label per image"):
        gtrain.train_gan(c, images, jax.random.key(0))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        gtrain.train_gan(c, images, jax.random.key(0), labels=np.full(16, 12))
    gen = gan.Generator((16, 16, 1), (16, 8), num_classes=10)
    with pytest.raises(ValueError, match="class-conditional"):
        gen.init(jax.random.key(0), jnp.zeros((2, 8)))
