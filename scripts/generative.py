"""Train and picture the models beyond classifiers (cnnlab.generative) on MNIST-like npz data.

python scripts/generative.py --model=autoencoder --config=configs/generative/autoencoder.py --outdir=runs/ae
python scripts/generative.py --model=vae --config=configs/generative/vae.py --outdir=runs/vae
python scripts/generative.py --model=dcgan --config=configs/generative/dcgan.py --outdir=runs/dcgan \
    --classifier_workdir=runs/mnist_cnn
python scripts/generative.py --model=siamese --config=configs/generative/siamese.py --outdir=runs/siamese
python scripts/generative.py --model=style --config=configs/generative/style.py --outdir=runs/style \
    --config.content=photo.jpg --config.style=painting.jpg [--config.weights=vgg16_weights.h5]

Writes PNG pictures and metrics.json into --outdir and prints the metrics.
"""
import json
import os
import time

from absl import flags
from ml_collections import config_flags

import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
import jax
import numpy as np

from cnnlab import cli
from cnnlab.data.npz import load_arrays
from cnnlab.generative import train as gtrain
from cnnlab.viz.grids import image_grid

MODELS = ("autoencoder", "vae", "dcgan", "siamese", "style")
_MODEL = flags.DEFINE_enum("model", None, MODELS, "Which model to train.")
_CONFIG = config_flags.DEFINE_config_file("config", None, "configs/generative/<model>.py", lock_config=True)
_OUTDIR = flags.DEFINE_string("outdir", None, "Folder for PNGs and metrics.json.")
_CLASSIFIER = flags.DEFINE_string(
    "classifier_workdir", None, "dcgan: a cnnlab MNIST classifier run (scripts/train.py) that scores the samples.")
flags.mark_flags_as_required(["model", "outdir"])


def load_mnist(config):
    """(x_train, y_train, x_test, y_test): float32 images in [0, 1], optionally truncated."""
    arrays = load_arrays(config.data.path)
    n_train = int(config.data.max_train) or len(arrays["x_train"])
    n_test = int(config.data.max_test) or len(arrays["x_test"])
    return (gtrain.check_images(arrays["x_train"][:n_train]), arrays["y_train"][:n_train],
            gtrain.check_images(arrays["x_test"][:n_test]), arrays["y_test"][:n_test])


def run_autoencoder(config, data, key, outdir):
    from cnnlab.generative import autoencoder as ae
    x_train, _, x_test, _ = data
    model, params, history = gtrain.train_autoencoder(config, x_train, key)
    noise = float(config.model.noise_std)
    metrics = {f"test/{k}": v for k, v in gtrain.evaluate_autoencoder(model, params, x_test, key, noise).items()}
    shown = x_test[:16]
    inputs = np.asarray(ae.add_noise(jax.random.key(1), shown, noise)) if noise > 0 else shown
    rows = [inputs, np.asarray(ae.reconstruct(model, params, inputs))]
    if noise > 0:
        rows.insert(0, shown)
    paths = [image_grid(np.concatenate(rows), 16, os.path.join(outdir, "reconstructions.png"), scale=2)]
    emb = np.asarray(ae.embed(model, params, x_test[:2000]))
    metrics["embedding/knn_accuracy"] = knn_accuracy(emb, data[3][:2000])
    return history, metrics, paths


def knn_accuracy(embeddings, labels) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy of embeddings (how well they separate classes)."""
    d = ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[np.argmin(d, axis=1)] == labels))


def run_vae(config, data, key, outdir):
    from cnnlab.generative import vae
    x_train, _, x_test, _ = data
    model, params, history = gtrain.train_vae(config, x_train, key)
    metrics = {f"test/{k}": v for k, v in gtrain.evaluate_vae(model, params, x_test, key).items()}
    paths = [image_grid(np.asarray(vae.sample_prior(model, params, jax.random.key(7), 64)), 8,
                        os.path.join(outdir, "prior_samples.png"), scale=2)]
    rows = [np.asarray(vae.interpolate(model, params, x_test[i], x_test[i + 1], 10)) for i in range(0, 12, 2)]
    paths.append(image_grid(np.concatenate(rows), 10, os.path.join(outdir, "interpolation.png"), scale=2))
    if model.latent_dim == 2:
        paths.append(image_grid(np.asarray(vae.latent_grid(model, params, 15)), 15,
                                os.path.join(outdir, "latent_grid.png")))
    return history, metrics, paths


def classifier_confidence(workdir):
    """``fn(images in [0, 1]) -> (mean max-probability, predicted labels)`` of a cnnlab classifier run."""
    from cnnlab.generative import gan
    from cnnlab.train import loop
    _, model, _, state, _ = loop.restore_for_inference(workdir)
    variables = state.variables()
    logits_fn = jax.jit(lambda x: model.apply(variables, x, train=False))

    def fn(images):
        logits = logits_fn(images)
        return float(gan.mean_max_probability(logits)), np.asarray(logits.argmax(-1))
    return fn


def run_dcgan(config, data, key, outdir):
    from cnnlab.generative import gan
    x_train, y_train, x_test = data[0], data[1], data[2]
    n = int(config.train.num_samples)
    num_classes = int(config.model.get("num_classes", 0))
    fixed_z = jax.random.normal(jax.random.key(1234), (n, int(config.model.latent_dim)))
    gen, state, history, snaps = gtrain.train_gan(config, x_train, key, fixed_z=fixed_z,
                                                  snapshot_every=int(config.train.snapshot_every),
                                                  labels=y_train)
    nrow = num_classes or int(np.ceil(np.sqrt(n)))  # conditional: snapshot labels cycle 0, 1, 2, ... per row
    paths = [image_grid(snaps[-1][1], nrow, os.path.join(outdir, "samples.png"), scale=2)]
    for step, images in snaps:
        image_grid(images, nrow, os.path.join(outdir, f"samples_step{step:06d}.png"))
    progression = np.concatenate([images[:10] for _, images in snaps])  # one row per snapshot
    paths.append(image_grid(progression, 10, os.path.join(outdir, "fixed_noise_progression.png"), scale=2))
    metrics = {"snapshot_steps": [s for s, _ in snaps]}
    if _CLASSIFIER.value:
        score = classifier_confidence(_CLASSIFIER.value)
        z = jax.random.normal(jax.random.key(99), (1000, fixed_z.shape[1]))
        asked = np.arange(1000) % num_classes if num_classes else None
        many = np.asarray(gan.generate(gen, state, z, asked))
        metrics["classifier/mean_max_prob_final_1000"], labels = score(many)
        metrics["classifier/predicted_label_counts"] = np.bincount(labels, minlength=10).tolist()
        if num_classes:  # does the classifier read the digit the generator was asked for?
            metrics["classifier/agrees_with_requested_label"] = float(np.mean(labels == asked))
        metrics["classifier/mean_max_prob_by_snapshot"] = [score(images)[0] for _, images in snaps]
        metrics["classifier/mean_max_prob_real_test"] = score(x_test[:1000])[0]
    return history, metrics, paths


def run_siamese(config, data, key, outdir):
    from cnnlab.generative import siamese
    x_train, y_train, x_test, y_test = data
    held = np.asarray(config.data.holdout_classes)
    keep = ~np.isin(y_train, held)
    if keep.all() or not keep.any():
        raise ValueError(f"data.holdout_classes={tuple(held)} must name some but not all training classes.")
    model, params, history = gtrain.train_siamese(config, x_train[keep], y_train[keep], key)
    test_held = np.isin(y_test, held)
    n_eval = int(config.data.eval_examples)
    metrics = {}
    for name, mask in (("heldout", test_held), ("seen", ~test_held)):
        m = gtrain.evaluate_siamese(model, params, x_test[mask][:n_eval], y_test[mask][:n_eval],
                                    jax.random.key(5), int(config.train.num_pairs))
        metrics.update({f"{name}/{k}": v for k, v in m.items()})
    # Retrieval picture: held-out queries (first column) and their 8 nearest neighbours.
    xs = x_test[test_held][:n_eval]
    emb = gtrain.batched_apply(jax.jit(lambda b: {"e": model.apply({"params": params}, b)}), xs)["e"]
    d = ((emb[:12, None] - emb[None]) ** 2).sum(-1)
    d[np.arange(12), np.arange(12)] = np.inf
    nearest = np.argsort(d, axis=1)[:, :8]
    tiles = np.concatenate([np.concatenate([xs[i:i + 1], xs[nearest[i]]]) for i in range(12)])
    paths = [image_grid(tiles, 9, os.path.join(outdir, "retrieval_heldout.png"), scale=2)]
    return history, metrics, paths


def load_rgb(path, size):
    """An RGB image file as float32 (size, size, 3) in [0, 1]."""
    from PIL import Image
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path!r} does not exist; pass --config.content/--config.style paths.")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), np.float32) / 255.0


def run_style(config, data, key, outdir):
    from cnnlab.generative import style_transfer as st
    del data
    size = int(config.image_size)
    content, style = load_rgb(config.content, size), load_rgb(config.style, size)
    model, variables = st.vgg16_features(config.weights or None, key, (size, size))
    image, history = st.stylize(model, variables, content, style, steps=int(config.steps), lr=float(config.lr),
                                content_layer=config.content_layer, style_layers=tuple(config.style_layers),
                                content_weight=float(config.content_weight), style_weight=float(config.style_weight),
                                tv_weight=float(config.tv_weight), init=config.init, key=key)
    paths = [image_grid(np.stack([content, style, np.asarray(image)]), 3,
                        os.path.join(outdir, "style_transfer.png"), scale=2)]
    history = gtrain.summarize(history, max(int(config.steps) // 10, 1))
    metrics = {"weights": config.weights or "random"}
    return history, metrics, paths


RUNNERS = {"autoencoder": run_autoencoder, "vae": run_vae, "dcgan": run_dcgan, "siamese": run_siamese,
           "style": run_style}


def main(argv):
    del argv
    config = _CONFIG.value
    if config is None:
        raise ValueError(f"--config is required: pass --config=configs/generative/{_MODEL.value}.py.")
    outdir = _OUTDIR.value
    os.makedirs(outdir, exist_ok=True)
    data = None if _MODEL.value == "style" else load_mnist(config)
    start = time.time()
    history, metrics, paths = RUNNERS[_MODEL.value](config, data, jax.random.key(int(config.train.seed)), outdir)
    metrics["train_seconds"] = round(time.time() - start, 1)
    metrics["history"] = {k: np.asarray(v).tolist() for k, v in history.items()}
    with open(os.path.join(outdir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    for k, v in metrics.items():
        if k != "history":
            print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    last = {k: float(np.asarray(v)[-1]) for k, v in history.items() if k != "step"}
    first = {k: float(np.asarray(v)[0]) for k, v in history.items() if k != "step"}
    print("train first window:", first, "last window:", last)
    print("pictures:", *paths)


if __name__ == "__main__":
    cli.main(main)
