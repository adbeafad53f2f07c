"""Convolutional autoencoder: strided-conv encoder, transposed-conv decoder.

The encoder maps an image (B, H, W, C) to a latent vector (B, latent_dim)
that serves as an embedding; the decoder maps it back to pixel logits
(B, H, W, C) (sigmoid gives intensities in [0, 1]). The denoising variant
trains on noisy inputs against the clean targets.
"""
from typing import Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn
import optax

from cnnlab.models.layers import Conv, ConvTranspose

RECONSTRUCTION_LOSSES = ("bce", "mse")


def check_image_shape(image_shape: Sequence[int], num_downsamples: int) -> tuple[int, int, int]:
    """(H, W, C) validated: H and W must halve cleanly ``num_downsamples`` times."""
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (H, W, C); got {tuple(image_shape)}.")
    h, w, c = (int(s) for s in image_shape)
    f = 2 ** num_downsamples
    if h % f or w % f:
        raise ValueError(f"image height and width {h}x{w} must be divisible by {f} "
                         f"(2 ** number of encoder stages {num_downsamples}); resize the images or "
                         f"use fewer stages in model.features.")
    return h, w, c


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions (one per entry of ``features``), then Dense(out_dim)."""
    features: Sequence[int] = (32, 64)
    out_dim: int = 16

    @nn.compact
    def __call__(self, x):  # (B, H, W, C)
        for i, f in enumerate(self.features):
            x = nn.relu(Conv(f, (3, 3), strides=(2, 2), padding="SAME", name=f"conv{i + 1}")(x))
        x = x.reshape(x.shape[0], -1)  # (B, H/2^n * W/2^n * F)
        return nn.Dense(self.out_dim, name="latent")(x)  # (B, out_dim)


class ConvDecoder(nn.Module):
    """Dense to a (H/2^n, W/2^n, F) map, stride-2 transposed convs, 3x3 conv to C logits."""
    image_shape: Sequence[int] = (28, 28, 1)
    features: Sequence[int] = (64, 32)

    @nn.compact
    def __call__(self, z):  # (B, latent)
        h, w, c = check_image_shape(self.image_shape, len(self.features))
        f = 2 ** len(self.features)
        x = nn.relu(nn.Dense((h // f) * (w // f) * self.features[0], name="project")(z))
        x = x.reshape(z.shape[0], h // f, w // f, self.features[0])
        for i, feat in enumerate(self.features):
            x = nn.relu(ConvTranspose(feat, (3, 3), strides=(2, 2), padding="SAME", name=f"deconv{i + 1}")(x))
        return Conv(c, (3, 3), padding="SAME", name="logits")(x)  # (B, H, W, C)


class ConvAutoencoder(nn.Module):
    """Encoder + mirrored decoder; ``__call__`` returns (pixel logits, latent)."""
    image_shape: Sequence[int] = (28, 28, 1)
    features: Sequence[int] = (32, 64)
    latent_dim: int = 16

    def setup(self):
        check_image_shape(self.image_shape, len(self.features))
        self.encoder = ConvEncoder(tuple(self.features), self.latent_dim)
        self.decoder = ConvDecoder(tuple(self.image_shape), tuple(reversed(self.features)))

    def encode(self, x):  # (B, H, W, C) -> (B, latent_dim)
        return self.encoder(x)

    def decode(self, z):  # (B, latent_dim) -> (B, H, W, C) logits
        return self.decoder(z)

    def __call__(self, x):
        z = self.encode(x)
        return self.decode(z), z


def reconstruction_loss(logits, target, kind: str = "bce"):
    """Per-example reconstruction loss summed over pixels: (B,).

    'bce': binary cross-entropy of sigmoid(logits) against targets in [0, 1];
    'mse': squared error of sigmoid(logits).
    """
    if kind not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"reconstruction loss {kind!r} is not known; choose one of {RECONSTRUCTION_LOSSES}.")
    if kind == "bce":
        per_pixel = optax.sigmoid_binary_cross_entropy(logits, target)
    else:
        per_pixel = jnp.square(jax.nn.sigmoid(logits) - target)
    return per_pixel.reshape(per_pixel.shape[0], -1).sum(axis=1)


def pixel_mse(logits, target):
    """Mean squared error per pixel of sigmoid(logits) against the targets (scalar)."""
    return jnp.mean(jnp.square(jax.nn.sigmoid(logits) - target))


def add_noise(key, images, std: float):
    """Gaussian pixel noise, clipped to [0, 1]: the denoising autoencoder's input."""
    return jnp.clip(images + std * jax.random.normal(key, images.shape, images.dtype), 0.0, 1.0)


def autoencoder_loss(model: ConvAutoencoder, params, images, key, *, noise_std: float = 0.0,
                     kind: str = "bce"):
    """(mean loss, aux) for one batch; noise_std > 0 trains the denoising variant."""
    inputs = add_noise(key, images, noise_std) if noise_std > 0 else images
    logits, _ = model.apply({"params": params}, inputs)
    loss = jnp.mean(reconstruction_loss(logits, images, kind))
    return loss, {"loss": loss, "mse": pixel_mse(logits, images)}


def embed(model: ConvAutoencoder, params, images):
    """Latent features (B, latent_dim) of images, usable as an embedding."""
    return model.apply({"params": params}, images, method=ConvAutoencoder.encode)


def reconstruct(model: ConvAutoencoder, params, images):
    """Reconstructed intensities in [0, 1], (B, H, W, C)."""
    logits, _ = model.apply({"params": params}, images)
    return jax.nn.sigmoid(logits)
