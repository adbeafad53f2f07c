"""Variational autoencoder: Gaussian encoder q(z|x), Bernoulli decoder p(x|z), N(0, I) prior.

The negative ELBO per image is reconstruction (-log p(x|z), summed BCE over
pixels, in nats) plus KL(q(z|x) || N(0, I)); both are reported separately.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from cnnlab.generative.autoencoder import ConvDecoder, ConvEncoder, check_image_shape, reconstruction_loss


class VAE(nn.Module):
    """``__call__(x, key)`` returns (pixel logits, mean, log-variance), all per image."""
    image_shape: Sequence[int] = (28, 28, 1)
    features: Sequence[int] = (32, 64)
    latent_dim: int = 2

    def setup(self):
        check_image_shape(self.image_shape, len(self.features))
        self.encoder = ConvEncoder(tuple(self.features), 2 * self.latent_dim)
        self.decoder = ConvDecoder(tuple(self.image_shape), tuple(reversed(self.features)))

    def encode(self, x):  # (B, H, W, C) -> mean, logvar (B, latent_dim) each
        h = self.encoder(x)
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z):  # (B, latent_dim) -> (B, H, W, C) logits
        return self.decoder(z)

    def __call__(self, x, key):
        mean, logvar = self.encode(x)
        z = reparameterize(key, mean, logvar)
        return self.decode(z), mean, logvar


def reparameterize(key, mean, logvar):
    """z = mean + sigma * eps, eps ~ N(0, I): a sample differentiable in mean and logvar."""
    return mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape, mean.dtype)


def kl_to_standard_normal(mean, logvar):
    """KL(N(mean, exp(logvar)) || N(0, I)) per example, (B,)."""
    return 0.5 * jnp.sum(jnp.exp(logvar) + jnp.square(mean) - 1.0 - logvar, axis=-1)


def elbo_terms(model: VAE, params, images, key):
    """Per-image reconstruction (nats) and KL terms, (B,) each; -ELBO = their sum."""
    logits, mean, logvar = model.apply({"params": params}, images, key)
    return reconstruction_loss(logits, images, "bce"), kl_to_standard_normal(mean, logvar)


def vae_loss(model: VAE, params, images, key, kl_weight: float = 1.0):
    """(mean negative ELBO, aux with 'recon', 'kl', 'loss') for one batch."""
    recon, kl = elbo_terms(model, params, images, key)
    loss = jnp.mean(recon + kl_weight * kl)
    return loss, {"loss": loss, "recon": jnp.mean(recon), "kl": jnp.mean(kl)}


def sample_prior(model: VAE, params, key, n: int):
    """n images decoded from z ~ N(0, I): intensities in [0, 1], (n, H, W, C)."""
    z = jax.random.normal(key, (n, model.latent_dim))
    return jax.nn.sigmoid(model.apply({"params": params}, z, method=VAE.decode))


def interpolate(model: VAE, params, image_a, image_b, steps: int = 8):
    """Decodes ``steps`` points on the line between the posterior means of two images.

    image_a, image_b: (H, W, C). Returns (steps, H, W, C) in [0, 1].
    """
    if steps < 2:
        raise ValueError(f"interpolation needs steps >= 2; got {steps}.")
    mean, _ = model.apply({"params": params}, jnp.stack([image_a, image_b]), method=VAE.encode)
    t = jnp.linspace(0.0, 1.0, steps)[:, None]  # (steps, 1)
    z = (1.0 - t) * mean[0] + t * mean[1]  # (steps, latent)
    return jax.nn.sigmoid(model.apply({"params": params}, z, method=VAE.decode))


def latent_grid(model: VAE, params, n: int = 10, span: float = 2.0):
    """For a 2-d latent: decodes an n x n grid over [-span, span]^2, (n*n, H, W, C) row-major."""
    if model.latent_dim != 2:
        raise ValueError(f"latent_grid needs latent_dim=2; this VAE has {model.latent_dim}.")
    ticks = jnp.linspace(-span, span, n)
    z = jnp.stack(jnp.meshgrid(ticks, -ticks, indexing="xy"), -1).reshape(-1, 2)  # top row: z2 = +span
    return jax.nn.sigmoid(model.apply({"params": params}, z, method=VAE.decode))
