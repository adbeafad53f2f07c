"""Neural image analogies: exact patch matching, patch voting, and a synthetic analogy A' = g(A)."""
import os
import subprocess
import sys

import cnnlab  # noqa: F401
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.generative import analogy as an
from cnnlab.generative.style_transfer import FeatureNet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _brute_force_nn(query, key, patch):
    """Cosine nearest neighbour of normalised zero-padded patches, one pair at a time, in float64."""
    def patches(f):
        f = f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-8)
        h, w, _ = f.shape
        r = patch // 2
        p = np.pad(f, ((r, r), (r, r), (0, 0)))
        out = np.stack([p[i:i + patch, j:j + patch].ravel() for i in range(h) for j in range(w)])
        return out / (np.linalg.norm(out, axis=-1, keepdims=True) + 1e-8)
    qp, kp = patches(query.astype(np.float64)), patches(key.astype(np.float64))
    best = np.empty(len(qp), np.int64)
    for i, q in enumerate(qp):
        dist = [np.sum((q - k) ** 2) for k in kp]  # L2 of unit vectors: the same order as cosine
        best[i] = int(np.argmin(dist))
    return best.reshape(query.shape[:2])


@pytest.mark.parametrize("patch", [1, 3, 5])
def test_match_patches_equals_brute_force_nearest_neighbour(patch):
    rng = np.random.default_rng(patch)
    query = rng.normal(size=(6, 7, 4)).astype(np.float32)
    key = rng.normal(size=(5, 9, 4)).astype(np.float32)
    got = np.asarray(an.match_patches(query, key[None], patch, block=16))  # blocks of 16 query rows
    assert got.shape == (6, 7) and got.dtype == np.int32
    np.testing.assert_array_equal(got, _brute_force_nn(query, key, patch))


def test_matching_an_image_to_itself_finds_every_position():
    f = np.random.default_rng(0).normal(size=(8, 8, 5)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(an.match_patches(f, f, 3)), np.arange(64).reshape(8, 8))


def test_extract_patches_and_vote():
    f = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    p = np.asarray(an.extract_patches(f, 3))
    assert p.shape == (6, 18)
    np.testing.assert_array_equal(p[4].reshape(3, 3, 2)[:2], f)  # the patch at (1, 1): row 2 is padding
    np.testing.assert_array_equal(p[4].reshape(3, 3, 2)[2], 0)
    feats = np.random.default_rng(1).normal(size=(6, 6, 3)).astype(np.float32)
    identity = np.arange(36).reshape(6, 6)
    np.testing.assert_allclose(an.vote(feats, identity, 3)[1:-1, 1:-1], feats[1:-1, 1:-1], rtol=1e-6)
    shifted = np.asarray(an.vote(feats, np.full((4, 5), 7), 1))  # every query matched to (1, 1)
    np.testing.assert_array_equal(shifted, np.broadcast_to(feats[1, 1], (4, 5, 3)))
    cells = np.arange(16).reshape(4, 4)  # every cell matched to itself: the pixel field is the identity
    np.testing.assert_array_equal(an.upsample_matches(cells, (4, 4), (8, 8), (8, 8)), np.arange(64).reshape(8, 8))
    up = np.asarray(an.upsample_matches(np.full((2, 2), 5), (4, 4), (4, 4), (8, 8)))  # all to key cell (1, 1)
    np.testing.assert_array_equal(up // 8, np.repeat([[2], [3], [2], [3]], 4, axis=1))  # its pixels 2..3
    np.testing.assert_array_equal(up % 8, np.repeat([[2, 3, 2, 3]], 4, axis=0))
    with pytest.raises(ValueError, match="odd"):
        an.extract_patches(f, 2)
    with pytest.raises(ValueError, match="same channels"):
        an.match_patches(f, feats, 1)


class TinyNet(nn.Module):
    """A small random conv net: conv1 (H), conv2 (H/2), conv3 (H/4)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Conv(32, (3, 3), name="conv1")(x))
        x = nn.relu(nn.Conv(64, (3, 3), strides=2, name="conv2")(x))
        return nn.relu(nn.Conv(64, (3, 3), strides=2, name="conv3")(x))


def _smooth_colours(seed, size, cells=6):
    """A smooth random colour image (size, size, 3) in [0, 1]: bicubic upsampling of cells x cells noise."""
    from PIL import Image
    low = np.random.default_rng(seed).integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(low).resize((size, size), Image.BICUBIC), np.float32) / 255.0


def test_synthetic_colour_analogy_approaches_g_of_b():
    """A' = g(A) for a pixel-wise colour map g (channel rotation + inversion): B' moves towards g(B)."""
    g = lambda x: 1.0 - x[..., [2, 0, 1]]
    a, b = _smooth_colours(1, 48), _smooth_colours(2, 32)
    model = TinyNet()
    net = FeatureNet(model, jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 3))), preprocess="tf",
                     analogy_layers=("conv1", "conv2"), analogy_content_layer="conv3", name="tiny")
    # init='b': the feature optimisation alone has to carry B towards g(B)
    b_prime, history, targets = an.analogy(net, a, g(a), b, steps=40, lr=0.05, content_weight=0.1, init="b")
    errors = an.reference_errors(b_prime, b, g(b))
    error, baseline = errors["error/b_prime_vs_reference"], errors["error/identity_b_vs_reference"]
    warped = an.warp(g(a), targets, "conv1", b.shape[:2])  # the pixel warp of A' by the conv1 matches
    warp_error = an.reference_errors(warped, b, g(b))["error/b_prime_vs_reference"]
    print(f"synthetic analogy: |B' - g(B)| = {error:.4f} (warp of A' alone {warp_error:.4f}), "
          f"identity baseline |B - g(B)| = {baseline:.4f}")
    assert baseline > 0.2  # g moves colours a lot
    assert error < 0.45 * baseline, errors  # measured 0.074 vs 0.262
    assert warp_error < 0.45 * baseline
    assert history[-1]["analogy"] < 0.2 * history[0]["analogy"]
    assert b_prime.shape == b.shape and float(b_prime.min()) >= 0 and float(b_prime.max()) <= 1
    assert targets["matches"]["conv1"].shape == (32, 32) and targets["analogy"]["conv2"].shape == (1, 16, 16, 64)
    with pytest.raises(ValueError, match="same shape"):
        an.analogy(net, a, g(a)[:40], b, steps=1)
    with pytest.raises(ValueError, match="RGB image"):
        an.analogy(net, a, g(a), b[..., :2], steps=1)


def test_script_names_the_missing_image_flag(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "generative.py"), "--model=analogy",
         f"--config={os.path.join(REPO, 'configs', 'generative', 'analogy.py')}", f"--outdir={tmp_path / 'out'}",
         "--config.a=sample:chelsea", f"--config.a_prime={tmp_path / 'missing.png'}", "--config.b=sample:coffee"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--config.a_prime" in result.stderr and "missing.png" in result.stderr, result.stderr[-2000:]
