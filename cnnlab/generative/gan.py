"""DCGAN: transposed-conv generator with BatchNorm, strided-conv LeakyReLU discriminator.

The generator maps z ~ N(0, I) (B, latent_dim) to tanh images (B, H, W, C) in
[-1, 1]; real images in [0, 1] are rescaled to [-1, 1] before the
discriminator. One compiled step updates the discriminator and then the
generator (against the updated discriminator) with two optax optimizers;
the generator uses the non-saturating loss -log D(G(z)).

With ``num_classes`` > 0 both networks are class-conditional (Mirza &
Osindero, 2014): the generator reads z concatenated with the one-hot label,
and the discriminator adds a projection term <embed(y), features> to its
logit (Miyato & Koyama, 2018); fakes are drawn for uniformly random labels.

A generator may also return ``(images, kl)``, a scalar regulariser of its
own (the conditioning augmentation of cnnlab.generative.stacked_gan):
``make_gan_step(..., kl_weight=w)`` adds ``w * kl`` to the generator loss.
"""
from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from cnnlab.generative.autoencoder import check_image_shape
from cnnlab.models.layers import Conv, ConvTranspose


class Generator(nn.Module):
    """Dense -> (H/4, W/4, F0) -> stride-2 transposed convs with BatchNorm/ReLU -> tanh."""
    image_shape: Sequence[int] = (28, 28, 1)
    features: Sequence[int] = (128, 64)
    num_classes: int = 0  # > 0: conditional on an integer label per sample

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):  # z (B, latent), labels (B,) int
        h, w, c = check_image_shape(self.image_shape, len(self.features))
        if self.num_classes:
            z = jnp.concatenate([z, jax.nn.one_hot(check_labels(labels, self.num_classes, z.shape[0]),
                                                   self.num_classes, dtype=z.dtype)], axis=-1)
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
    num_classes: int = 0  # > 0: projection discriminator conditioned on the label

    @nn.compact
    def __call__(self, x, labels=None):  # x (B, H, W, C) in [-1, 1], labels (B,) int
        for i, feat in enumerate(self.features):
            x = nn.leaky_relu(Conv(feat, (4, 4), strides=(2, 2), padding="SAME", name=f"conv{i + 1}")(x), 0.2)
        feats = x.reshape(x.shape[0], -1)  # (B, F)
        logit = nn.Dense(1, name="logit")(feats)[:, 0]  # (B,)
        if self.num_classes:
            labels = check_labels(labels, self.num_classes, x.shape[0])
            logit = logit + jnp.sum(nn.Embed(self.num_classes, feats.shape[-1], name="label_embed")(labels) * feats,
                                    axis=-1)
        return logit


def check_labels(labels, num_classes: int, batch: int):
    """The (B,) integer labels a conditional network needs; a clear error when they are missing."""
    if labels is None:
        raise ValueError(f"this GAN is class-conditional (num_classes={num_classes}): pass labels (B,) "
                         f"in [0, {num_classes}) with the images or latent codes.")
    labels = jnp.asarray(labels)
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {labels.shape}.")
    return labels


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


def split_output(out):
    """(images, kl) of a generator's output: DCGAN's images alone give kl None, else the pair."""
    if isinstance(out, tuple):
        if len(out) != 2:
            raise ValueError(f"a generator returns images or (images, kl); got a tuple of {len(out)}.")
        return out
    return out, None


def init_gan(gen: Generator, disc: Discriminator, g_tx, d_tx, key, latent_dim: int) -> GANState:
    """Fresh parameters and optimizer states for both networks."""
    k_g, k_d = jax.random.split(key)
    labels = jnp.zeros((2,), jnp.int32) if gen.num_classes else None
    g_vars = gen.init(k_g, jnp.zeros((2, latent_dim)), labels, train=False)
    d_params = disc.init(k_d, jnp.zeros((2,) + tuple(gen.image_shape)), labels)["params"]
    return GANState(step=jnp.zeros((), jnp.int32), g_params=g_vars["params"], g_stats=g_vars["batch_stats"],
                    d_params=d_params, g_opt=g_tx.init(g_vars["params"]), d_opt=d_tx.init(d_params))


def make_gan_step(gen: Generator, disc: Discriminator, g_tx, d_tx, latent_dim: int, label_smoothing: float = 0.0,
                  kl_weight: float = 0.0):
    """The jitted alternating update ``step(state, real (B, H, W, C) in [0, 1], key, labels=None)``.

    Returns (state, metrics). ``labels`` (B,) are the real images' classes,
    needed when the networks are conditional. A generator that returns
    ``(images, kl)`` has ``kl_weight * kl`` added to its loss; its metrics then
    also hold ``kl`` and ``g_adv`` (the adversarial part of ``g_loss``).
    """
    if gen.num_classes != disc.num_classes:
        raise ValueError(f"generator and discriminator must agree on num_classes, got {gen.num_classes} "
                         f"and {disc.num_classes}.")

    def generate(g_params, g_stats, z, labels):  # -> (images, kl or None, new batch_stats)
        out, new_vars = gen.apply({"params": g_params, "batch_stats": g_stats}, z, labels, train=True,
                                  mutable=["batch_stats"])
        return (*split_output(out), new_vars["batch_stats"])

    def step(state: GANState, real, key, labels=None):
        k_d, k_g, k_yd, k_yg = jax.random.split(key, 4)
        batch = real.shape[0]
        real = real * 2.0 - 1.0  # (B, H, W, C) in [-1, 1]
        fake_labels = [None, None]
        if gen.num_classes:
            labels = check_labels(labels, gen.num_classes, batch)
            fake_labels = [jax.random.randint(k, (batch,), 0, gen.num_classes) for k in (k_yd, k_yg)]
        fake, _, _ = generate(state.g_params, state.g_stats, jax.random.normal(k_d, (batch, latent_dim)),
                              fake_labels[0])
        fake = jax.lax.stop_gradient(fake)

        def d_loss_fn(d_params):
            real_logits = disc.apply({"params": d_params}, real, labels)
            fake_logits = disc.apply({"params": d_params}, fake, fake_labels[0])
            loss = discriminator_loss(real_logits, fake_logits, label_smoothing)
            return loss, (jnp.mean(jax.nn.sigmoid(real_logits)), jnp.mean(jax.nn.sigmoid(fake_logits)))

        (d_loss, (d_real, d_fake)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state.d_params)
        d_updates, d_opt = d_tx.update(d_grads, state.d_opt, state.d_params)
        d_params = optax.apply_updates(state.d_params, d_updates)

        def g_loss_fn(g_params):
            fake, kl, g_stats = generate(g_params, state.g_stats, jax.random.normal(k_g, (batch, latent_dim)),
                                         fake_labels[1])
            adv = generator_loss(disc.apply({"params": d_params}, fake, fake_labels[1]))
            return (adv if kl is None else adv + kl_weight * kl), (g_stats, kl, adv)

        (g_loss, (g_stats, kl, g_adv)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(state.g_params)
        g_updates, g_opt = g_tx.update(g_grads, state.g_opt, state.g_params)
        g_params = optax.apply_updates(state.g_params, g_updates)
        new_state = GANState(step=state.step + 1, g_params=g_params, g_stats=g_stats, d_params=d_params,
                             g_opt=g_opt, d_opt=d_opt)
        metrics = {"d_loss": d_loss, "g_loss": g_loss, "d_real": d_real, "d_fake": d_fake}
        if kl is not None:
            metrics.update(kl=kl, g_adv=g_adv)
        return new_state, metrics

    return jax.jit(step)


def generate(gen: Generator, state: GANState, z, labels=None):
    """Images in [0, 1], (B, H, W, C), from latent codes z (B, latent_dim) (inference BatchNorm).

    ``labels`` (B,): the classes to draw, for a conditional generator."""
    x, _ = split_output(gen.apply({"params": state.g_params, "batch_stats": state.g_stats}, z, labels, train=False))
    return (x + 1.0) / 2.0


def mean_max_probability(logits) -> jax.Array:
    """Mean over images of a classifier's highest softmax probability: its confidence in the samples."""
    return jnp.mean(jnp.max(jax.nn.softmax(logits, axis=-1), axis=-1))
