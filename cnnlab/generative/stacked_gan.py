"""Stacked class-conditional GAN (StackGAN, Zhang et al., 2017) with class labels as the condition.

StackGAN conditions on text embeddings; none exist offline, so here the
condition is the class label. Conditioning augmentation (CA) keeps the
StackGAN form: a learned embedding of the label gives (mu, log_sigma) of a
Gaussian, the generator reads c = mu + sigma * eps (reparameterisation), and
``KL(N(mu, sigma^2) || N(0, I))`` is added to the generator loss.

- Stage I (``StageIGenerator``): CA, then the DCGAN generator of
  ``cnnlab.generative.gan`` on [noise, c], drawing at half resolution
  (H/2, W/2). Its discriminator is the DCGAN projection discriminator.
- Stage II (``StageIIGenerator``): encodes stage I's image to (H/4, W/4),
  concatenates its own CA sample c tiled over space, runs residual blocks and
  upsamples twice to (H, W). Its discriminator is a deeper projection
  discriminator at full resolution.
- ``StackedGenerator`` holds both: the frozen stage I (inference BatchNorm,
  ``stop_gradient`` on its image, and ``optim.freeze`` on ``stage1/`` so its
  parameters get exactly zero updates) and the trainable stage II.

Both stages train with the same compiled two-optimizer step,
``gan.make_gan_step(..., kl_weight=...)``: the generators return
``(images, kl)``. The latent code of each generator carries its own
randomness explicitly: stage I reads z = [noise (noise_dim), eps1
(cond_dim)], the stacked generator z = [noise, eps1, eps2 (cond_dim)], all
drawn N(0, I) by the step. ``run`` trains stage I then stage II on an
image-folder split (CIFAR-10 JPEGs by default), writes the pictures and
scores both stages (classifier agreement, sharpness, feature statistics).
"""
import logging
import os
import time
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnlab.generative import gan
from cnnlab.generative import train as gtrain
from cnnlab.models.layers import Conv, ConvTranspose

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Model


def kl_to_standard_normal(mu, log_sigma):
    """KL(N(mu, diag(sigma^2)) || N(0, I)) per row: (B, D), (B, D) -> (B,), in nats."""
    return 0.5 * jnp.sum(jnp.square(mu) + jnp.exp(2.0 * log_sigma) - 1.0 - 2.0 * log_sigma, axis=-1)


def check_halvable(image_shape: Sequence[int], times: int, what: str) -> tuple:
    """(H, W, C) whose H and W halve ``times`` times; an error that says how to fix it otherwise."""
    if len(image_shape) != 3:
        raise ValueError(f"{what}: image_shape must be (H, W, C); got {tuple(image_shape)}.")
    h, w, c = (int(s) for s in image_shape)
    if h % 2 ** times or w % 2 ** times or h < 2 ** times or w < 2 ** times:
        raise ValueError(f"{what}: image height and width {h}x{w} must be divisible by {2 ** times}; "
                         f"resize the images (data.image_size) to a multiple of {2 ** times}.")
    return h, w, c


class CondAugment(nn.Module):
    """Conditioning augmentation: label -> learned (mu, log_sigma) -> c = mu + sigma * eps.

    ``__call__(labels (B,) int, eps (B, cond_dim))`` returns
    (c (B, cond_dim), kl (B,)). log_sigma starts at 0 (sigma = 1).
    """
    num_classes: int
    cond_dim: int = 32

    @nn.compact
    def __call__(self, labels, eps):
        labels = gan.check_labels(labels, self.num_classes, eps.shape[0])
        mu = nn.Embed(self.num_classes, self.cond_dim, name="mu")(labels)
        log_sigma = nn.Embed(self.num_classes, self.cond_dim, embedding_init=nn.initializers.zeros,
                             name="log_sigma")(labels)
        return mu + jnp.exp(log_sigma) * eps, kl_to_standard_normal(mu, log_sigma)


def _check_latent(z, expected: int, layout: str):
    if z.ndim != 2 or z.shape[-1] != expected:
        raise ValueError(f"the latent code must be (B, {expected}) = {layout}; got {tuple(z.shape)}.")


class StageIGenerator(nn.Module):
    """CA + DCGAN generator: z (B, noise_dim + cond_dim) = [noise, eps], labels (B,) ->
    (images (B, H, W, C) in [-1, 1], batch-mean KL)."""
    image_shape: Sequence[int] = (16, 16, 3)
    num_classes: int = 10
    noise_dim: int = 64
    cond_dim: int = 32
    features: Sequence[int] = (256, 128)

    @property
    def latent_dim(self) -> int:
        return self.noise_dim + self.cond_dim

    @nn.compact
    def __call__(self, z, labels=None, train: bool = False):
        _check_latent(z, self.latent_dim, f"[noise ({self.noise_dim}), eps ({self.cond_dim})]")
        c, kl = CondAugment(self.num_classes, self.cond_dim, name="cond")(labels, z[:, self.noise_dim:])
        x = gan.Generator(tuple(self.image_shape), tuple(self.features), 0, name="dcgan")(
            jnp.concatenate([z[:, :self.noise_dim], c], axis=-1), train=train)
        return x, jnp.mean(kl)


class ResBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the input, then ReLU (StackGAN's stage II block)."""
    features: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
        h = nn.relu(norm("bn1")(Conv(self.features, (3, 3), use_bias=False, name="conv1")(x)))
        h = norm("bn2")(Conv(self.features, (3, 3), use_bias=False, name="conv2")(h))
        return nn.relu(x + h)


class StageIIGenerator(nn.Module):
    """Refiner: stage I image (B, H/2, W/2, C) in [-1, 1] and condition c (B, D) -> (B, H, W, C) in [-1, 1].

    Encoder conv3x3 (F/2) and stride-2 conv4x4 (F) to (H/4, W/4), joined with
    c tiled over space by a conv3x3, ``res_blocks`` residual blocks, then two
    stride-2 transposed convs (F/2, F/4) and a conv3x3 to the image.
    """
    image_shape: Sequence[int] = (32, 32, 3)
    features: int = 128
    res_blocks: int = 2

    @nn.compact
    def __call__(self, x1, c, train: bool = False):
        h, w, ch = check_halvable(self.image_shape, 2, "stage II")
        if x1.shape[1:] != (h // 2, w // 2, ch):
            raise ValueError(f"stage II refines a stage I image of shape {(h // 2, w // 2, ch)} (half of "
                             f"image_shape {(h, w, ch)}); got {tuple(x1.shape[1:])}.")
        f = int(self.features)
        norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
        x = nn.relu(Conv(f // 2, (3, 3), name="enc1")(x1))
        x = nn.relu(norm("enc2_bn")(Conv(f, (4, 4), strides=(2, 2), use_bias=False, name="enc2")(x)))
        tiled = jnp.broadcast_to(c[:, None, None, :], x.shape[:3] + (c.shape[-1],))
        x = jnp.concatenate([x, tiled], axis=-1)
        x = nn.relu(norm("joint_bn")(Conv(f, (3, 3), use_bias=False, name="joint")(x)))
        for i in range(self.res_blocks):
            x = ResBlock(f, name=f"res{i + 1}")(x, train)
        for i, feat in enumerate((f // 2, f // 4)):
            x = ConvTranspose(feat, (4, 4), strides=(2, 2), padding="SAME", use_bias=False, name=f"up{i + 1}")(x)
            x = nn.relu(norm(f"up{i + 1}_bn")(x))
        return jnp.tanh(Conv(ch, (3, 3), name="to_image")(x))  # (B, H, W, C)


class StackedGenerator(nn.Module):
    """Frozen stage I then stage II: z (B, noise_dim + 2 cond_dim) = [noise, eps1, eps2], labels (B,).

    ``__call__`` returns (stage II images (B, H, W, C) in [-1, 1], stage II's
    batch-mean KL); ``stages`` returns (stage I images (B, H/2, W/2, C),
    stage II images, KL). Stage I always runs in inference mode under
    ``stop_gradient``: stage II's training never changes it.
    """
    image_shape: Sequence[int] = (32, 32, 3)  # full resolution; stage I draws at half
    num_classes: int = 10
    noise_dim: int = 64
    cond_dim: int = 32
    s1_features: Sequence[int] = (256, 128)
    s2_features: int = 128
    s2_res_blocks: int = 2

    @property
    def latent_dim(self) -> int:
        return self.noise_dim + 2 * self.cond_dim

    def setup(self):
        h, w, c = check_halvable(self.image_shape, 2, "stacked GAN")
        self.stage1 = StageIGenerator((h // 2, w // 2, c), self.num_classes, self.noise_dim, self.cond_dim,
                                      tuple(self.s1_features))
        self.stage2_cond = CondAugment(self.num_classes, self.cond_dim)
        self.stage2 = StageIIGenerator(tuple(self.image_shape), self.s2_features, self.s2_res_blocks)

    def stages(self, z, labels=None, train: bool = False):
        _check_latent(z, self.latent_dim,
                      f"[noise ({self.noise_dim}), eps1 ({self.cond_dim}), eps2 ({self.cond_dim})]")
        split = self.noise_dim + self.cond_dim
        x1, _ = self.stage1(z[:, :split], labels, train=False)
        x1 = jax.lax.stop_gradient(x1)
        c, kl = self.stage2_cond(labels, z[:, split:])
        return x1, self.stage2(x1, c, train), jnp.mean(kl)

    def __call__(self, z, labels=None, train: bool = False):
        _, x2, kl = self.stages(z, labels, train)
        return x2, kl


FROZEN_STAGE1 = (r"^stage1/",)  # optim.freeze patterns of stage II training


def build_stage1(config, image_shape):
    """(generator, discriminator) of stage I at half of ``image_shape`` (H, W, C)."""
    m = config.model
    h, w, c = check_halvable(image_shape, 2, "stacked GAN")
    gen = StageIGenerator((h // 2, w // 2, c), int(m.num_classes), int(m.noise_dim), int(m.cond_dim),
                          tuple(m.s1_g_features))
    return gen, gan.Discriminator(tuple(m.s1_d_features), int(m.num_classes))


def build_stage2(config, image_shape):
    """(stacked generator, full-resolution discriminator) for ``image_shape`` (H, W, C)."""
    m = config.model
    gen = StackedGenerator(tuple(int(s) for s in image_shape), int(m.num_classes), int(m.noise_dim),
                           int(m.cond_dim), tuple(m.s1_g_features), int(m.s2_features), int(m.s2_res_blocks))
    return gen, gan.Discriminator(tuple(m.s2_d_features), int(m.num_classes))


def _optimizers(config, gen, disc, steps: int, freeze=()):
    from cnnlab.train.optim import make_optimizer
    shapes = jax.eval_shape(lambda: gan.init_gan(gen, disc, optax.identity(), optax.identity(),
                                                 jax.random.key(0), gen.latent_dim))
    g_optim = config.g_optim.to_dict() if hasattr(config.g_optim, "to_dict") else dict(config.g_optim)
    if freeze:
        g_optim["freeze"] = tuple(g_optim.get("freeze") or ()) + tuple(freeze)
    return make_optimizer(g_optim, shapes.g_params, steps), make_optimizer(config.d_optim, shapes.d_params, steps)


def downsample(images, factor: int = 2) -> np.ndarray:
    """Area (box-filter) downsampling by ``factor``: (N, H, W, C) -> (N, H/f, W/f, C)."""
    n, h, w, c = images.shape
    if h % factor or w % factor:
        raise ValueError(f"images {h}x{w} must be divisible by {factor} to downsample; resize them first.")
    return images.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def upsample(images, size) -> np.ndarray:
    """Bilinear resize of (N, h, w, C) to (N, size[0], size[1], C)."""
    images = jnp.asarray(images)
    return np.asarray(jax.image.resize(images, (images.shape[0], *size, images.shape[-1]), "bilinear"))


def train_stage1(config, images, labels, key):
    """Stage I trained on ``images`` (N, H, W, C) in [0, 1], downsampled by 2.

    Returns (generator, state, history).
    """
    images = gtrain.check_images(images)
    labels = gtrain.check_class_labels(labels, len(images), int(config.model.num_classes))
    gen, disc = build_stage1(config, images.shape[1:])
    steps, bs = int(config.train.stage1_steps), int(config.train.batch_size)
    if steps < 1:
        raise ValueError(f"train.stage1_steps must be >= 1; got {steps}.")
    g_tx, d_tx = _optimizers(config, gen, disc, steps)
    k_init, k_train = jax.random.split(key)
    state = jax.jit(lambda k: gan.init_gan(gen, disc, g_tx, d_tx, k, gen.latent_dim))(k_init)  # one compile
    step = gan.make_gan_step(gen, disc, g_tx, d_tx, gen.latent_dim, float(config.train.label_smoothing),
                             float(config.train.kl_weight))
    state, history, _ = gtrain.gan_loop(step, state, downsample(images), labels, k_train, steps, bs,
                                        log_every=int(config.train.log_every))
    return gen, state, history


def init_stage2(config, image_shape, stage1_state: gan.GANState, key, steps: int):
    """(generator, discriminator, g_tx, d_tx, state) of stage II around a trained stage I.

    The state's generator parameters and BatchNorm statistics under
    ``stage1`` are stage I's; ``g_tx`` gives them exactly zero updates.
    """
    gen, disc = build_stage2(config, image_shape)
    g_tx, d_tx = _optimizers(config, gen, disc, steps, freeze=FROZEN_STAGE1)
    fresh = jax.eval_shape(lambda: gan.init_gan(gen, disc, g_tx, d_tx, key, gen.latent_dim)).g_params["stage1"]
    if jax.tree.structure(fresh) != jax.tree.structure(stage1_state.g_params) or any(
            a.shape != b.shape for a, b in zip(jax.tree.leaves(fresh), jax.tree.leaves(stage1_state.g_params))):
        raise ValueError("the stage I state does not fit this stage II's stage I: train stage I on images of the "
                         f"same resolution ({tuple(image_shape)}) and with the same config.model (noise_dim, "
                         "cond_dim, s1_g_features, num_classes).")

    @jax.jit  # one compile instead of op-by-op initialisation
    def init(key, stage1_params, stage1_stats):
        state = gan.init_gan(gen, disc, g_tx, d_tx, key, gen.latent_dim)
        g_params = {**state.g_params, "stage1": stage1_params}
        return state.replace(g_params=g_params, g_stats={**state.g_stats, "stage1": stage1_stats},
                             g_opt=g_tx.init(g_params))

    return gen, disc, g_tx, d_tx, init(key, stage1_state.g_params, stage1_state.g_stats)


def train_stage2(config, images, labels, stage1_state: gan.GANState, key):
    """Stage II trained on full-resolution ``images`` with stage I frozen. Returns (generator, state, history)."""
    images = gtrain.check_images(images)
    labels = gtrain.check_class_labels(labels, len(images), int(config.model.num_classes))
    steps, bs = int(config.train.stage2_steps), int(config.train.batch_size)
    if steps < 1:
        raise ValueError(f"train.stage2_steps must be >= 1; got {steps}.")
    k_init, k_train = jax.random.split(key)
    gen, disc, g_tx, d_tx, state = init_stage2(config, images.shape[1:], stage1_state, k_init, steps)
    step = gan.make_gan_step(gen, disc, g_tx, d_tx, gen.latent_dim, float(config.train.label_smoothing),
                             float(config.train.kl_weight))
    state, history, _ = gtrain.gan_loop(step, state, images, labels, k_train, steps, bs,
                                        log_every=int(config.train.log_every))
    return gen, state, history


def sample_stages(gen: StackedGenerator, state: gan.GANState, z, labels, batch_size: int = 500):
    """(stage I images (N, H/2, W/2, C), stage II images (N, H, W, C)), both in [0, 1], inference mode."""
    variables = {"params": state.g_params, "batch_stats": state.g_stats}
    fn = jax.jit(lambda z, y: gen.apply(variables, z, y, train=False, method=StackedGenerator.stages)[:2])
    outs = [fn(z[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, len(z), batch_size)]
    x1 = np.concatenate([np.asarray(o[0]) for o in outs])
    x2 = np.concatenate([np.asarray(o[1]) for o in outs])
    return (x1 + 1.0) / 2.0, (x2 + 1.0) / 2.0


# ---------------------------------------------------------------------------
# Measures


def grayscale(images) -> np.ndarray:
    """(N, H, W, C) -> (N, H, W) luma (ITU-R 601 weights for RGB; the channel itself for C = 1)."""
    images = np.asarray(images, np.float64)
    if images.shape[-1] == 1:
        return images[..., 0]
    return images @ np.array([0.299, 0.587, 0.114])


def laplacian_variance(images) -> np.ndarray:
    """Per-image variance of the 4-neighbour Laplacian of the luma (interior pixels), (N,)."""
    g = grayscale(images)
    lap = (g[:, :-2, 1:-1] + g[:, 2:, 1:-1] + g[:, 1:-1, :-2] + g[:, 1:-1, 2:] - 4.0 * g[:, 1:-1, 1:-1])
    return lap.reshape(len(g), -1).var(axis=1)


def high_frequency_fraction(images, cutoff: float = 0.25) -> np.ndarray:
    """Per-image share of the luma's spectral power (mean removed) above ``cutoff`` cycles/pixel, (N,).

    With cutoff 0.25 this is the band a half-resolution image cannot hold
    (its Nyquist frequency), so it measures detail stage II adds.
    """
    g = grayscale(images)
    g = g - g.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(g)) ** 2
    fy = np.fft.fftfreq(g.shape[1])[:, None]
    fx = np.fft.fftfreq(g.shape[2])[None, :]
    high = np.sqrt(fy ** 2 + fx ** 2) > cutoff
    return power[:, high].sum(axis=1) / np.maximum(power.reshape(len(g), -1).sum(axis=1), 1e-12)


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets (N, D), (M, D) (FID's formula)."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)  # eigenvalues of sqrt(A) B sqrt(A) = those of AB
    trace_sqrt = np.sum(np.sqrt(np.clip(cross, 0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)


def classifier_fns(workdir: str, feature_layer: str):
    """(predict, features) of a cnnlab classifier run: images in [0, 1] -> labels (N,), features (N, D)."""
    from cnnlab.models import features
    from cnnlab.train import loop
    if not os.path.isdir(workdir):
        raise FileNotFoundError(f"classifier run {workdir!r} does not exist: train one with scripts/train.py "
                                f"(see configs/generative/stacked_gan.py) and pass its --workdir.")
    _, model, _, state, _ = loop.restore_for_inference(workdir)
    variables = state.variables()
    logits_fn = jax.jit(lambda x: model.apply(variables, x, train=False))

    def predict(images, batch_size: int = 500):
        return np.concatenate([np.asarray(logits_fn(images[i:i + batch_size]).argmax(-1))
                               for i in range(0, len(images), batch_size)])

    def feats(images):
        out = features(model, variables, jnp.asarray(images), feature_layer)[feature_layer]
        return np.asarray(out).reshape(len(images), -1)

    return predict, feats


# ---------------------------------------------------------------------------
# Data and the entry point


def load_split(data_config, split: str, max_examples: int = 0):
    """(images float32 (N, H, W, C) in [0, 1], labels int32 (N,), class names) of a cnnlab.data split.

    ``max_examples`` > 0 decodes only that many, drawn at random with a fixed
    seed and kept in that random order (image folders list their files class
    by class, so any slice of the result holds every class about evenly).
    """
    from cnnlab import data as cdata
    from cnnlab.data.pipeline import Dataset, SplitSource
    source = cdata.open_split(data_config, split)
    if max_examples and max_examples < len(source.records):
        keep = np.random.default_rng(0).permutation(len(source.records))[:max_examples]
        source = SplitSource([source.records[i] for i in keep], source.transform, source.info, source.num_threads)
    images, labels = [], []
    for batch in Dataset(source, 1000, train=False, num_threads=source.num_threads).epoch(0):
        images.append(batch["image"][batch["valid"]])
        labels.append(batch["label"][batch["valid"]])
    return np.concatenate(images), np.concatenate(labels).astype(np.int32), tuple(source.info.class_names)


def class_grid(stage1, stage2, num_classes: int, per_class: int, out_path: str) -> str:
    """One PNG: per class a row of ``per_class`` stage I (upsampled) samples, a blank, then stage II's.

    ``stage1``/``stage2`` (num_classes * per_class, H, W, C), class-major.
    """
    blank = np.ones((1,) + stage2.shape[1:], np.float32)
    rows = [np.concatenate([stage1[k * per_class:(k + 1) * per_class], blank,
                            stage2[k * per_class:(k + 1) * per_class]]) for k in range(num_classes)]
    from cnnlab.viz.grids import image_grid
    return image_grid(np.concatenate(rows), 2 * per_class + 1, out_path, scale=2)


def run(config, key, outdir: str, classifier_workdir: str = None):
    """Trains stage I then stage II, writes the pictures, scores both stages.

    Returns (history, metrics, paths) like the ``run_*`` functions of
    scripts/generative.py: history maps ``stage1/<metric>`` and
    ``stage2/<metric>`` (and their ``/step``) to window means. With
    ``classifier_workdir`` (a cnnlab classifier run on the same classes) the
    metrics include how often it reads the requested class in stage I
    (upsampled bilinearly) and stage II samples, its accuracy on real test
    images, and Fréchet distances of its ``eval.feature_layer`` features.
    """
    os.makedirs(outdir, exist_ok=True)
    x_train, y_train, class_names = load_split(config.data, config.data.train_split,
                                               int(config.train.max_train))
    num_classes = int(config.model.num_classes)
    if len(class_names) != num_classes:
        raise ValueError(f"the data has {len(class_names)} classes {class_names}; set "
                         f"model.num_classes={len(class_names)}.")
    size = x_train.shape[1:3]
    k1, k2, k_eval = jax.random.split(key, 3)
    start = time.time()
    gen1, state1, hist1 = train_stage1(config, x_train, y_train, k1)
    jax.block_until_ready(state1)
    t1 = time.time() - start
    log.info("stage I: %d steps in %.0f s, last window %s", int(config.train.stage1_steps), t1,
             {k: round(float(v[-1]), 3) for k, v in hist1.items()})
    gen2, state2, hist2 = train_stage2(config, x_train, y_train, state1, k2)
    jax.block_until_ready(state2)
    t2 = time.time() - start - t1
    log.info("stage II: %d steps in %.0f s, last window %s", int(config.train.stage2_steps), t2,
             {k: round(float(v[-1]), 3) for k, v in hist2.items()})
    history = {f"stage1/{k}": v for k, v in hist1.items()}
    history.update({f"stage2/{k}": v for k, v in hist2.items()})
    metrics: dict[str, Any] = {
        "stage1/steps": int(config.train.stage1_steps), "stage2/steps": int(config.train.stage2_steps),
        "stage1/train_seconds": round(t1, 1), "stage2/train_seconds": round(t2, 1),
        "stage1/final_kl": float(hist1["kl"][-1]), "stage2/final_kl": float(hist2["kl"][-1]),
        "num_train": len(x_train)}
    del x_train

    # Pictures: the same noise code in each column, one class per row.
    per = int(config.eval.grid_per_class)
    z = jax.random.normal(jax.random.fold_in(k_eval, 0), (per, gen2.latent_dim))
    z = jnp.tile(z, (num_classes, 1))
    asked = np.repeat(np.arange(num_classes), per)
    g1, g2 = sample_stages(gen2, state2, z, asked)
    g1 = upsample(g1, size)
    paths = [class_grid(g1, g2, num_classes, per, os.path.join(outdir, "stacked_gan_stages.png"))]

    # Measures on num_samples samples per stage, requested classes cycling 0, 1, ..., and real test images.
    n = int(config.eval.num_samples)
    asked = np.arange(n) % num_classes
    x1, x2 = sample_stages(gen2, state2, jax.random.normal(jax.random.fold_in(k_eval, 1), (n, gen2.latent_dim)),
                           asked)
    x1_up = upsample(x1, size)
    x_test, y_test, _ = load_split(config.data, config.data.test_split, 2 * int(config.eval.num_real))
    m = int(config.eval.num_real)
    real, y_real, real_b = x_test[:m], y_test[:m], x_test[m:2 * m]
    real_low = upsample(downsample(real), size)  # what half resolution keeps of real images
    sets = {"stage1_upsampled": x1_up, "stage2": x2, "real_test": real, "real_test_half_res": real_low}
    for name, imgs in sets.items():
        metrics[f"sharpness/{name}/laplacian_var"] = float(laplacian_variance(imgs).mean())
        metrics[f"sharpness/{name}/high_freq_fraction"] = float(high_frequency_fraction(imgs).mean())
    if classifier_workdir:
        predict, feats = classifier_fns(classifier_workdir, str(config.eval.feature_layer))
        metrics["classifier/stage1_agreement"] = float(np.mean(predict(x1_up) == asked))
        metrics["classifier/stage2_agreement"] = float(np.mean(predict(x2) == asked))
        metrics["classifier/real_test_accuracy"] = float(np.mean(predict(real) == y_real))
        metrics["classifier/real_test_half_res_accuracy"] = float(np.mean(predict(real_low) == y_real))
        metrics["classifier/stage2_predicted_counts"] = np.bincount(predict(x2), minlength=num_classes).tolist()
        ref = feats(real)
        for name, imgs in (("stage1_upsampled", x1_up), ("stage2", x2), ("real_test_other", real_b),
                           ("real_test_half_res", upsample(downsample(real_b), size))):
            metrics[f"frechet/{name}"] = frechet_distance(feats(imgs), ref)
    return history, metrics, paths
