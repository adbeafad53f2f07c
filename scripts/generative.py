"""Train and picture the models beyond classifiers (cnnlab.generative) on MNIST-like npz data.

python scripts/generative.py --model=autoencoder --config=configs/generative/autoencoder.py --outdir=runs/ae
python scripts/generative.py --model=vae --config=configs/generative/vae.py --outdir=runs/vae
python scripts/generative.py --model=dcgan --config=configs/generative/dcgan.py --outdir=runs/dcgan \
    --classifier_workdir=runs/mnist_cnn
python scripts/generative.py --model=siamese --config=configs/generative/siamese.py --outdir=runs/siamese
python scripts/generative.py --model=style --config=configs/generative/style.py --outdir=runs/style \
    --config.content=photo.jpg --config.style=painting.jpg [--config.network=vgg16 --config.weights=vgg16.h5]
python scripts/generative.py --model=analogy --config=configs/generative/analogy.py --outdir=runs/analogy \
    --config.a=a.png --config.a_prime=ap.png --config.b=b.png [--config.reference=true_bp.png]

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
from cnnlab.generative import stacked_gan
from cnnlab.generative import train as gtrain
from cnnlab.ops.images import save_png
from cnnlab.viz.grids import image_grid

MODELS = ("autoencoder", "vae", "dcgan", "siamese", "style", "stacked_gan", "analogy")
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


def load_rgb(path, size, flag):
    """An image (file or ``sample:<name>``) as float32 (size, size, 3) in [0, 1], centre-cropped square.

    ``flag`` names the config field in the error for a missing or unset path.
    """
    from PIL import Image
    from cnnlab.ops.images import SAMPLE_PREFIX, image_from_source
    if not path:
        raise ValueError(f"--config.{flag} is required: pass an image file or sample:<name>.")
    if not str(path).startswith(SAMPLE_PREFIX) and not os.path.isfile(path):
        raise FileNotFoundError(f"--config.{flag}: image {path!r} does not exist.")
    rgb = image_from_source(path)  # (H, W, 3) float32 in [0, 1]
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(np.round(rgb[top:top + side, left:left + side] * 255).astype(np.uint8))
    return np.asarray(square.resize((size, size), Image.BICUBIC), np.float32) / 255.0


def check_steps(config):
    if int(config.steps) < 1:
        raise ValueError(f"--config.steps must be >= 1; got {config.steps}.")


def feature_net(config, key):
    from cnnlab.generative import style_transfer as st
    size = int(config.image_size)
    return st.feature_net(config.network, config.weights or None, key, (size, size))


def run_style(config, data, key, outdir):
    from cnnlab.generative import style_transfer as st
    del data
    check_steps(config)
    size = int(config.image_size)
    content, style = load_rgb(config.content, size, "content"), load_rgb(config.style, size, "style")
    net = feature_net(config, key)
    image, history = st.stylize(net, content, style, steps=int(config.steps), lr=float(config.lr) or None,
                                content_layer=config.content_layer or None,
                                style_layers=tuple(config.style_layers) or None,
                                content_weight=float(config.content_weight), style_weight=float(config.style_weight),
                                tv_weight=float(config.tv_weight), init=config.init, key=key)
    paths = [image_grid(np.stack([content, style, np.asarray(image)]), 3,
                        os.path.join(outdir, "style_transfer.png"), scale=2),
             save_png(os.path.join(outdir, "stylized.png"), np.asarray(image))]
    metrics = {"network": net.name, "weights": net.weights,
               **{f"first/{k}": float(v) for k, v in history[0].items()},
               **{f"final/{k}": float(v) for k, v in history[-1].items()}}
    history = gtrain.summarize(history, max(int(config.steps) // 10, 1))
    return history, metrics, paths


def run_analogy(config, data, key, outdir):
    from cnnlab.generative import analogy as an
    del data
    check_steps(config)
    size = int(config.image_size)
    a, a_prime, b = (load_rgb(config[f], size, f) for f in ("a", "a_prime", "b"))
    reference = load_rgb(config.reference, size, "reference") if config.reference else None
    net = feature_net(config, key)
    image, history, targets = an.analogy(net, a, a_prime, b, layers=tuple(config.layers) or None,
                                         content_layer=config.content_layer or None, patch=int(config.patch),
                                         steps=int(config.steps), rounds=int(config.rounds),
                                         lr=float(config.lr) or None,
                                         analogy_weight=float(config.analogy_weight),
                                         content_weight=float(config.content_weight),
                                         tv_weight=float(config.tv_weight), init=config.init, key=key)
    image = np.asarray(image)
    shown = [a, a_prime, b, image] + ([reference] if reference is not None else [])
    paths = [image_grid(np.stack(shown), len(shown), os.path.join(outdir, "analogy.png"), scale=2),
             save_png(os.path.join(outdir, "b_prime.png"), image)]
    metrics = {"network": net.name, "weights": net.weights,
               **{f"first/{k}": float(v) for k, v in history[0].items()},
               **{f"final/{k}": float(v) for k, v in history[-1].items()}}
    if reference is not None:
        metrics.update(an.reference_errors(image, b, reference))
        finest = next(iter(targets["matches"]))  # A' warped by the (last) matches alone, no optimisation
        warped = an.warp(a_prime, targets, finest, b.shape[:2], int(config.patch))
        metrics["error/warp_only_vs_reference"] = an.reference_errors(warped, b, reference)["error/b_prime_vs_reference"]
    history = gtrain.summarize(history, max(int(config.steps) // 10, 1))
    return history, metrics, paths


RUNNERS = {"autoencoder": run_autoencoder, "vae": run_vae, "dcgan": run_dcgan, "siamese": run_siamese,
           "style": run_style, "analogy": run_analogy,
           "stacked_gan": lambda config, data, key, outdir: stacked_gan.run(config, key, outdir, _CLASSIFIER.value)}
IMAGE_MODELS = ("style", "analogy", "stacked_gan")  # read image files, not MNIST


def main(argv):
    del argv
    config = _CONFIG.value
    if config is None:
        raise ValueError(f"--config is required: pass --config=configs/generative/{_MODEL.value}.py.")
    outdir = _OUTDIR.value
    os.makedirs(outdir, exist_ok=True)
    data = None if _MODEL.value in IMAGE_MODELS else load_mnist(config)
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
