"""DCGAN: transposed-conv generator with BatchNorm, strided-conv LeakyReLU discriminator.

The generator maps z ~ N(0, I) (B, latent_dim) to tanh images (B, H, W, C) in
[-1, 1]; real images in [0, 1] are rescaled to [-1, 1] before the
discriminator. One compiled step updates the discriminator and then the
generator (against the updated discriminator) with two optax optimizers;
the generator uses the non-saturating loss -log D(G(z)).
"""
from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from cnnlab.generative.autoencoder import check_image_shape
from cnnlab.models.layers import ConvTranspose


class Generator(nn.Module):
    """Dense -> (H/4, W/4, F0) -> stride-2 transposed convs with BatchNorm/ReLU -> tanh."""
    image_shape: Sequence[int] = (28, 28, 1)
    features: Sequence[int] = (128, 64)

    @nn.compact
    def __call__(self, z, train: bool = False):  # (B, latent)
        h, w, c = check_image_shape(self.image_shape, len(self.features))
        f = 2 ** len(self.features)
        norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
        x = nn.Dense((h // f) * (w // f) * self.features[0], use_bias=False, name="project")(z)
        x = nn.relu(norm("project_bn")(x)).reshape(z.shape[0], h // f, w // f, self.features[0])
        for i, feat in enumerate(self.features[1:]):
            x = ConvTranspose(feat, (4, 4), strides=(2, 2), padding="SAME", use_bias=False,
                                 name=f"deconv{i + 1}")(x)
            x = nn.relu(norm(f"deconv{i + 1}_bn")(x))
        x = ConvTranspose(c, (4, 4), strides=(2, 2), padding="SAME", name="to_image")(x)
        return jnp.tanh(x)  # (B, H, W, C) in [-1, 1]


class Discriminator(nn.Module):
    """Stride-2 4x4 convs with LeakyReLU(0.2), then one real/fake logit per image."""
    features: Sequence[int] = (64, 128)

    @nn.compact
    def __call__(self, x):  # (B, H, W, C) in [-1, 1]
        for i, feat in enumerate(self.features):
            x = nn.leaky_relu(nn.Conv(feat, (4, 4), strides=(2, 2), padding="SAME", name=f"conv{i + 1}")(x), 0.2)
        return nn.Dense(1, name="logit")(x.reshape(x.shape[0], -1))[:, 0]  # (B,)


@flax.struct.dataclass
class GANState:
    """Both networks' parameters, the generator's BatchNorm statistics and both optimizer states."""
    step: jax.Array
    g_params: Any
    g_stats: Any
    d_params: Any
    g_opt: Any
    d_opt: Any


def discriminator_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
    """-log D(x) - log(1 - D(G(z))), batch means; D = sigmoid(logit).

    ``label_smoothing`` > 0 is one-sided label smoothing (Salimans et al.,
    2016): real images get the target 1 - label_smoothing, fakes keep 0.
    """
    real_target = 1.0 - label_smoothing
    real = real_target * jax.nn.softplus(-real_logits) + (1.0 - real_target) * jax.nn.softplus(real_logits)
    return jnp.mean(real) + jnp.mean(jax.nn.softplus(fake_logits))


def generator_loss(fake_logits):
    """Non-saturating generator loss -log D(G(z)) (batch mean)."""
    return jnp.mean(jax.nn.softplus(-fake_logits))


def init_gan(gen: Generator, disc: Discriminator, g_tx, d_tx, key, latent_dim: int) -> GANState:
    """Fresh parameters and optimizer states for both networks."""
    k_g, k_d = jax.random.split(key)
    g_vars = gen.init(k_g, jnp.zeros((2, latent_dim)), train=False)
    d_params = disc.init(k_d, jnp.zeros((2,) + tuple(gen.image_shape)))["params"]
    return GANState(step=jnp.zeros((), jnp.int32), g_params=g_vars["params"], g_stats=g_vars["batch_stats"],
                    d_params=d_params, g_opt=g_tx.init(g_vars["params"]), d_opt=d_tx.init(d_params))


def make_gan_step(gen: Generator, disc: Discriminator, g_tx, d_tx, latent_dim: int, label_smoothing: float = 0.0):
    """The jitted alternating update ``step(state, real (B, H, W, C) in [0, 1], key) -> (state, metrics)``."""

    def generate(g_params, g_stats, z):
        return gen.apply({"params": g_params, "batch_stats": g_stats}, z, train=True, mutable=["batch_stats"])

    def step(state: GANState, real, key):
        k_d, k_g = jax.random.split(key)
        batch = real.shape[0]
        real = real * 2.0 - 1.0  # (B, H, W, C) in [-1, 1]
        fake, _ = generate(state.g_params, state.g_stats, jax.random.normal(k_d, (batch, latent_dim)))
        fake = jax.lax.stop_gradient(fake)

        def d_loss_fn(d_params):
            real_logits = disc.apply({"params": d_params}, real)
            fake_logits = disc.apply({"params": d_params}, fake)
            loss = discriminator_loss(real_logits, fake_logits, label_smoothing)
            return loss, (jnp.mean(jax.nn.sigmoid(real_logits)), jnp.mean(jax.nn.sigmoid(fake_logits)))

        (d_loss, (d_real, d_fake)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state.d_params)
        d_updates, d_opt = d_tx.update(d_grads, state.d_opt, state.d_params)
        d_params = optax.apply_updates(state.d_params, d_updates)

        def g_loss_fn(g_params):
            fake, new_vars = generate(g_params, state.g_stats, jax.random.normal(k_g, (batch, latent_dim)))
            return generator_loss(disc.apply({"params": d_params}, fake)), new_vars["batch_stats"]

        (g_loss, g_stats), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g_params)
        g_updates, g_opt = g_tx.update(g_grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, g_updates)
        new_state = GANState(step=state.step + 1, g_params=g_params, g_stats=g_stats, d_params=d_params,
                             g_opt=g_opt, d_opt=d_opt)
        return new_state, {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake}

    return jax.jit(step)


def generate(gen: Generator, state: GANState, z):
    """Images in [0, 1], (B, H, W, C), from latent codes z (B, latent_dim) (inference BatchNorm)."""
    x = gen.apply({"params": state.g_params, "batch_stats": state.g_stats}, z, train=False)
    return (x + 1.0) / 2.0


def mean_max_probability(logits) -> jax.Array:
    """Mean over images of a classifier's highest softmax probability: its confidence in the samples."""
    return jnp.mean(jnp.max(jax.nn.softmax(logits, axis=-1), axis=-1))
