"""Small in-memory training loops for the generative and metric-learning models.

These models do not fit the classification loop of ``cnnlab.train`` (two
optimizers for the GAN, pair sampling for the Siamese net, no labels for
the autoencoders), so each gets a compiled step here built from
``cnnlab.train.optim.make_optimizer``. Everything is a pure function of the
inputs and an explicit PRNG key; images live in host memory as float32 in
[0, 1], (N, H, W, C).
"""
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnnlab.train.optim import make_optimizer


def check_images(images, name: str = "images") -> np.ndarray:
    """float32 (N, H, W, C) in [0, 1]; uint8 is scaled by 1/255."""
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"{name} must be (N, H, W, C); got shape {arr.shape}.")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return arr.astype(np.float32)


def random_indices(key, n: int, batch_size: int) -> np.ndarray:
    """``batch_size`` distinct random indices below ``n`` (one key -> one batch)."""
    if batch_size > n:
        raise ValueError(f"batch_size={batch_size} exceeds the {n} training images.")
    return np.asarray(jax.random.choice(key, n, (batch_size,), replace=False))


def random_batch(key, images: np.ndarray, batch_size: int) -> np.ndarray:
    """``batch_size`` distinct random rows of ``images`` (one key -> one batch)."""
    return images[random_indices(key, len(images), batch_size)]


def fit(loss_fn: Callable, params, optim_config, batch_fn: Callable, key, steps: int,
        log_every: int = 50):
    """Minimises ``loss_fn(params, batch, key) -> (loss, aux dict)`` for ``steps`` steps.

    ``batch_fn(key) -> batch`` draws each batch on the host. Returns
    (params, history) where history maps each aux name to an array of its
    means over windows of ``log_every`` steps (history['step'] = window ends).
    """
    if steps < 1:
        raise ValueError(f"train.steps must be >= 1; got {steps}.")
    tx = make_optimizer(optim_config, params, steps)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, batch, key):
        (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, key)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, aux

    auxes = []
    for i in range(steps):
        k_batch, k_step = jax.random.split(jax.random.fold_in(key, i))
        params, opt_state, aux = step(params, opt_state, batch_fn(k_batch), k_step)
        auxes.append(aux)
    return params, summarize(auxes, log_every)


def summarize(auxes, log_every: int) -> dict:
    """Window means of a list of per-step aux dicts (see ``fit``)."""
    stacked = jax.device_get(jax.tree.map(lambda *xs: jnp.stack(xs), *auxes))
    n = len(auxes)
    ends = list(range(log_every, n + 1, log_every)) or [n]
    if ends[-1] != n:
        ends.append(n)
    starts = [0] + ends[:-1]
    history = {k: np.array([np.mean(v[s:e]) for s, e in zip(starts, ends)]) for k, v in stacked.items()}
    history["step"] = np.array(ends)
    return history


def batched_apply(fn: Callable, images: np.ndarray, batch_size: int = 500) -> dict:
    """Runs ``fn(batch) -> dict of (B, ...) arrays`` over ``images`` in chunks; concatenates."""
    outs = [jax.device_get(fn(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


# ---------------------------------------------------------------------------
# Autoencoder


def train_autoencoder(config, images, key):
    """(model, params, history) of a ConvAutoencoder trained on ``images``.

    config: ``model.{features, latent_dim, noise_std, loss}``, ``optim.*``,
    ``train.{steps, batch_size, log_every}`` (configs/generative/autoencoder.py).
    """
    from cnnlab.generative import autoencoder as ae
    images = check_images(images)
    model = ae.ConvAutoencoder(tuple(images.shape[1:]), tuple(config.model.features),
                               int(config.model.latent_dim))
    k_init, k_train = jax.random.split(key)
    params = model.init(k_init, jnp.zeros((1,) + images.shape[1:]))["params"]
    noise, kind = float(config.model.noise_std), str(config.model.loss)
    ae.reconstruction_loss(jnp.zeros((1, 1)), jnp.zeros((1, 1)), kind)  # validates the name early

    def loss_fn(params, batch, key):
        return ae.autoencoder_loss(model, params, batch, key, noise_std=noise, kind=kind)

    bs = int(config.train.batch_size)
    params, history = fit(loss_fn, params, config.optim, lambda k: random_batch(k, images, bs), k_train,
                          int(config.train.steps), int(config.train.get("log_every", 50)))
    return model, params, history


def evaluate_autoencoder(model, params, images, key, noise_std: float = 0.0, batch_size: int = 500) -> dict:
    """Mean reconstruction errors on ``images``: pixel MSE and BCE per image (nats).

    With noise_std > 0 the inputs are corrupted and the clean images are the target.
    """
    from cnnlab.generative import autoencoder as ae
    images = check_images(images)

    @jax.jit
    def fn(batch, key):
        inputs = ae.add_noise(key, batch, noise_std) if noise_std > 0 else batch
        logits, _ = model.apply({"params": params}, inputs)
        err = jnp.square(jax.nn.sigmoid(logits) - batch).reshape(batch.shape[0], -1).mean(axis=1)
        return {"mse": err, "bce": ae.reconstruction_loss(logits, batch, "bce")}

    chunks = iter(range(10 ** 9))  # a fresh noise key per chunk
    out = batched_apply(lambda b: fn(b, jax.random.fold_in(key, next(chunks))), images, batch_size)
    return {"mse": float(out["mse"].mean()), "bce": float(out["bce"].mean())}


# ---------------------------------------------------------------------------
# Variational autoencoder


def train_vae(config, images, key):
    """(model, params, history) of a VAE trained on ``images`` (configs/generative/vae.py)."""
    from cnnlab.generative import vae
    images = check_images(images)
    model = vae.VAE(tuple(images.shape[1:]), tuple(config.model.features), int(config.model.latent_dim))
    k_init, k_z, k_train = jax.random.split(key, 3)
    params = model.init(k_init, jnp.zeros((1,) + images.shape[1:]), k_z)["params"]
    kl_weight = float(config.model.get("kl_weight", 1.0))

    def loss_fn(params, batch, key):
        return vae.vae_loss(model, params, batch, key, kl_weight)

    bs = int(config.train.batch_size)
    params, history = fit(loss_fn, params, config.optim, lambda k: random_batch(k, images, bs), k_train,
                          int(config.train.steps), int(config.train.get("log_every", 50)))
    return model, params, history


def evaluate_vae(model, params, images, key, batch_size: int = 500) -> dict:
    """Test-set means per image: reconstruction (nats), KL, -ELBO, and pixel MSE of the posterior mean."""
    from cnnlab.generative import vae
    images = check_images(images)

    @jax.jit
    def fn(batch, key):
        recon, kl = vae.elbo_terms(model, params, batch, key)
        mean, _ = model.apply({"params": params}, batch, method=vae.VAE.encode)
        decoded = jax.nn.sigmoid(model.apply({"params": params}, mean, method=vae.VAE.decode))
        mse = jnp.square(decoded - batch).reshape(batch.shape[0], -1).mean(axis=1)
        return {"recon": recon, "kl": kl, "mse": mse}

    chunks = iter(range(10 ** 9))
    out = batched_apply(lambda b: fn(b, jax.random.fold_in(key, next(chunks))), images, batch_size)
    recon, kl = float(out["recon"].mean()), float(out["kl"].mean())
    return {"recon": recon, "kl": kl, "neg_elbo": recon + kl, "mse": float(out["mse"].mean())}


# ---------------------------------------------------------------------------
# DCGAN


def build_gan(config, image_shape, steps: int):
    """(generator, discriminator, g_tx, d_tx) from ``config.model`` and ``config.g_optim``/``d_optim``."""
    from cnnlab.generative import gan
    num_classes = int(config.model.get("num_classes", 0))
    gen = gan.Generator(tuple(image_shape), tuple(config.model.g_features), num_classes)
    disc = gan.Discriminator(tuple(config.model.d_features), num_classes)
    shapes = jax.eval_shape(lambda: gan.init_gan(gen, disc, optax.identity(), optax.identity(),
                                                 jax.random.key(0), int(config.model.latent_dim)))
    g_tx = make_optimizer(config.g_optim, shapes.g_params, steps)
    d_tx = make_optimizer(config.d_optim, shapes.d_params, steps)
    return gen, disc, g_tx, d_tx


def train_gan(config, images, key, fixed_z=None, snapshot_every: int = 0, labels=None, fixed_labels=None):
    """Trains a DCGAN on ``images`` (configs/generative/dcgan.py).

    Returns (generator, state, history, snapshots): snapshots is a list of
    (step, images (n, H, W, C) in [0, 1]) generated from ``fixed_z`` at step 0
    and every ``snapshot_every`` steps (empty without fixed_z). A conditional
    GAN (``config.model.num_classes`` > 0) needs the images' integer
    ``labels`` and draws its snapshots for ``fixed_labels``.
    """
    from cnnlab.generative import gan
    images = check_images(images)
    num_classes = int(config.model.get("num_classes", 0))
    if num_classes:
        labels = check_class_labels(labels, len(images), num_classes)
        if fixed_z is not None and fixed_labels is None:
            fixed_labels = np.arange(len(fixed_z)) % num_classes
    steps, bs, latent = int(config.train.steps), int(config.train.batch_size), int(config.model.latent_dim)
    if steps < 1:
        raise ValueError(f"train.steps must be >= 1; got {steps}.")
    gen, disc, g_tx, d_tx = build_gan(config, images.shape[1:], steps)
    k_init, k_train = jax.random.split(key)
    state = gan.init_gan(gen, disc, g_tx, d_tx, k_init, latent)
    step = gan.make_gan_step(gen, disc, g_tx, d_tx, latent, float(config.train.get("label_smoothing", 0.0)))
    sample = jax.jit(lambda state, z, y: gan.generate(gen, state, z, y))
    snapshot = None if fixed_z is None else (lambda state: np.asarray(sample(state, fixed_z, fixed_labels)))
    state, history, snapshots = gan_loop(step, state, images, labels if num_classes else None, k_train, steps, bs,
                                         snapshot, snapshot_every, int(config.train.get("log_every", 50)))
    return gen, state, history, snapshots


def check_class_labels(labels, num_images: int, num_classes: int) -> np.ndarray:
    """int32 (N,) labels of a conditional GAN's N images, each in [0, num_classes)."""
    if labels is None or len(labels) != num_images:
        raise ValueError("a conditional GAN (model.num_classes > 0) needs one integer label per image.")
    labels = np.asarray(labels, np.int32)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); got "
                         f"[{labels.min()}, {labels.max()}]; set model.num_classes to the class count.")
    return labels


def gan_loop(step: Callable, state, images: np.ndarray, labels, key, steps: int, batch_size: int,
             snapshot: Callable = None, snapshot_every: int = 0, log_every: int = 50):
    """Runs a compiled ``gan.make_gan_step`` ``steps`` times on random batches of ``images`` (N, H, W, C).

    ``labels`` (N,) int go with the images to a conditional step (None for an
    unconditional one). Batch ``i`` and its step key come from
    ``fold_in(key, i)``. ``snapshot(state) -> images`` is recorded at step 0
    and every ``snapshot_every`` steps. Returns (state, history, snapshots),
    history as in ``fit``, snapshots a list of (step, images).
    """
    snapshots = [] if snapshot is None else [(0, snapshot(state))]
    auxes = []
    for i in range(steps):
        k_batch, k_step = jax.random.split(jax.random.fold_in(key, i))
        idx = random_indices(k_batch, len(images), batch_size)
        state, aux = step(state, images[idx], k_step, None if labels is None else labels[idx])
        auxes.append(aux)
        if snapshot is not None and snapshot_every and (i + 1) % snapshot_every == 0:
            snapshots.append((i + 1, snapshot(state)))
    return state, summarize(auxes, log_every), snapshots


# ---------------------------------------------------------------------------
# Siamese network


def train_siamese(config, images, labels, key):
    """(model, params, history) of an EmbeddingNet trained on pairs or triplets of ``images``.

    config: ``model.{features, hidden, embed_dim, loss ('contrastive' | 'triplet'), margin}``,
    ``optim.*``, ``train.{steps, batch_size, log_every}`` (configs/generative/siamese.py).
    """
    from cnnlab.generative import siamese
    images = check_images(images)
    kind = str(config.model.loss)
    if kind not in siamese.LOSSES:
        raise ValueError(f"config.model.loss={kind!r} is not known; choose one of {siamese.LOSSES}.")
    index = siamese.class_index(labels)
    model = siamese.EmbeddingNet(tuple(config.model.features), int(config.model.hidden),
                                 int(config.model.embed_dim))
    k_init, k_train = jax.random.split(key)
    params = model.init(k_init, jnp.zeros((1,) + images.shape[1:]))["params"]
    margin, bs = float(config.model.margin), int(config.train.batch_size)

    def batch_fn(key):
        sampler = siamese.sample_pairs if kind == "contrastive" else siamese.sample_triplets
        ids = [np.asarray(i) for i in sampler(key, index, bs)]
        if kind == "contrastive":
            return {"first": images[ids[0]], "second": images[ids[1]], "same": ids[2]}
        return {"anchor": images[ids[0]], "positive": images[ids[1]], "negative": images[ids[2]]}

    def loss_fn(params, batch, key):
        del key
        embed = lambda x: model.apply({"params": params}, x)
        if kind == "contrastive":
            e1, e2 = embed(batch["first"]), embed(batch["second"])
            loss = siamese.contrastive_loss(e1, e2, batch["same"], margin)
            return loss, {"loss": loss}
        a, p, n = embed(batch["anchor"]), embed(batch["positive"]), embed(batch["negative"])
        loss = siamese.triplet_loss(a, p, n, margin)
        return loss, {"loss": loss}

    params, history = fit(loss_fn, params, config.optim, batch_fn, k_train, int(config.train.steps),
                          int(config.train.get("log_every", 50)))
    return model, params, history


def evaluate_siamese(model, params, images, labels, key, num_pairs: int = 10000) -> dict:
    """Verification ROC AUC and leave-one-out 1-NN retrieval accuracy of the embeddings of ``images``."""
    from cnnlab.generative import siamese
    images = check_images(images)
    emb = batched_apply(jax.jit(lambda b: {"e": model.apply({"params": params}, b)}), images)["e"]
    return {"verification_auc": siamese.verification_auc(emb, labels, key, num_pairs),
            "retrieval_accuracy": siamese.retrieval_accuracy(emb, labels)}
