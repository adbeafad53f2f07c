"""Neural image analogies: A is to A' as B is to B' (Hertzmann et al. 2001, done with CNN features
as in a simplified "deep image analogy", Liao et al. 2017).

Given A, A' (same size) and B, B' is optimised so that

- at each analogy layer l its features match A''s at the positions where B's
  features match A's: every k x k patch of B's (channel-normalised) feature
  map finds its nearest A patch by cosine similarity (exact, one matmul per
  block of queries), and the target ``T_l`` is A''s feature map read at the
  matched positions, averaged over the k x k overlapping patches that cover
  each position (patch voting, as in patch-based synthesis);
- its features at a deeper content layer stay close to B's (B's structure);
- optionally its total variation is small.

B' starts (``init='warp'``, the default) from A' warped pixel by pixel
through the finest layer's matches, upsampled to the image (deep image
analogy's reconstruction), or from B itself (``init='b'``). With
``rounds > 1`` the matches are recomputed on B and the current B' together
against A and A' (deep image analogy's matching on the input and the latent
output), and B' is optimised again.

The features come from a ``cnnlab.generative.style_transfer.FeatureNet``
(the ImageNet EfficientNet-Lite0, VGG16 from a Keras .h5, or any tapped
Flax model). Images are RGB floats in [0, 1] (H, W, 3).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.generative.style_transfer import (
    FeatureNet, adam_image_step, check_rgb, relative_error, run_steps, tap, total_variation,
)


def _grid(feats, name):
    """(1, h, w, C) or (h, w, C) -> (h, w, C)."""
    feats = jnp.asarray(feats)
    if feats.ndim == 4 and feats.shape[0] == 1:
        feats = feats[0]
    if feats.ndim != 3:
        raise ValueError(f"{name} must be a feature map (h, w, C) or (1, h, w, C); got shape {feats.shape}.")
    return feats


def _check_patch(patch):
    if int(patch) != patch or patch < 1 or patch % 2 == 0:
        raise ValueError(f"patch must be an odd size >= 1 so that a patch has a centre; got {patch}.")
    return int(patch)


def extract_patches(feats, patch: int):
    """(h, w, C) -> (h * w, patch * patch * C): the zero-padded k x k patch centred at every position.

    Rows follow the flattened grid (row-major); a row lists the patch's
    positions row by row, each with its C channels.
    """
    return _extract_patches(_grid(feats, "feats"), _check_patch(patch))


@functools.partial(jax.jit, static_argnums=1)
def _extract_patches(feats, patch: int):
    h, w, c = feats.shape
    r = patch // 2
    padded = jnp.pad(feats, ((r, r), (r, r), (0, 0)))
    shifts = [padded[dy:dy + h, dx:dx + w] for dy in range(patch) for dx in range(patch)]  # k*k of (h, w, C)
    return jnp.stack(shifts, axis=2).reshape(h * w, patch * patch * c)


def normalise(feats, eps: float = 1e-8):
    """Each position's feature vector scaled to unit L2 norm over the channels (last axis)."""
    return feats / (jnp.linalg.norm(feats, axis=-1, keepdims=True) + eps)


def match_patches(query_feats, key_feats, patch: int = 3, *, block: int = 2048):
    """Nearest key patch of every query patch: int32 (hq, wq) indices into the key's flattened (hk * wk) grid.

    query_feats (hq, wq, C), key_feats (hk, wk, C) (a leading batch axis of 1
    is allowed). Features are normalised per position, patches per patch,
    and the neighbour maximises the cosine similarity (equivalently
    minimises the L2 distance of the normalised patches); computed exactly,
    ``block`` query rows per matmul. Ties go to the lowest key index.
    """
    q, k = _grid(query_feats, "query_feats"), _grid(key_feats, "key_feats")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"query and key features need the same channels; got {q.shape} and {k.shape}.")
    patch = _check_patch(patch)
    qp, kp = _unit_patches(q, patch), _unit_patches(k, patch)  # (hq*wq, k*k*C), (hk*wk, k*k*C)
    out = [_best(qp[i:i + block], kp) for i in range(0, qp.shape[0], block)]
    return jnp.concatenate(out).reshape(q.shape[:2])


@functools.partial(jax.jit, static_argnums=1)
def _unit_patches(feats, patch: int):
    return normalise(_extract_patches(normalise(feats), patch))


@jax.jit
def _best(queries, keys):
    return jnp.argmax(queries @ keys.T, axis=1).astype(jnp.int32)


def vote(feats, nn, patch: int = 3):
    """Target map (hq, wq, C): at p, the mean over offsets d of ``feats[nn[p - d] + d]`` (k x k patch voting).

    feats (hk, wk, C) is the map read (A' features); nn (hq, wq) the flat
    indices ``match_patches`` returned. Neighbours p - d off the query grid
    are clamped to its edge, positions nn + d off the key grid to its edge.
    patch=1 reads ``feats`` at nn itself.
    """
    return _vote(_grid(feats, "feats"), jnp.asarray(nn), _check_patch(patch))


@functools.partial(jax.jit, static_argnums=2)
def _vote(feats, nn, patch: int):
    hk, wk, _ = feats.shape
    hq, wq = nn.shape
    r = patch // 2
    ny, nx = jnp.pad(nn // wk, r, mode="edge"), jnp.pad(nn % wk, r, mode="edge")  # (hq + 2r, wq + 2r)
    total = 0.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            my = ny[r - dy:r - dy + hq, r - dx:r - dx + wq]  # the match of p - d
            mx = nx[r - dy:r - dy + hq, r - dx:r - dx + wq]
            total = total + feats[jnp.clip(my + dy, 0, hk - 1), jnp.clip(mx + dx, 0, wk - 1)]
    return total / (patch * patch)


def upsample_matches(nn, key_grid, query_size, key_size):
    """A feature-grid match field (hq, wq) -> a pixel one (Hq, Wq): flat indices into the (Hk, Wk) image.

    key_grid: (hk, wk), the grid ``nn`` indexes; query_size / key_size: the
    images' (H, W). Each pixel keeps its offset inside its cell, rescaled to
    the key's cell size.
    """
    as_ints = lambda t: tuple(int(v) for v in t)
    return _upsample_matches(jnp.asarray(nn), as_ints(key_grid), as_ints(query_size), as_ints(key_size))


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _upsample_matches(nn, key_grid, query_size, key_size):
    (hq, wq), (hk, wk) = nn.shape, key_grid
    (big_hq, big_wq), (big_hk, big_wk) = query_size, key_size

    def axis(n_small_q, n_big_q, n_small_k, n_big_k):
        i = jnp.arange(n_big_q)
        cell = (i * n_small_q) // n_big_q
        frac = (i + 0.5) * n_small_q / n_big_q - cell  # position inside the cell, in [0, 1)
        return cell, frac, n_big_k / n_small_k

    ci, fy, sy = axis(hq, big_hq, hk, big_hk)
    cj, fx, sx = axis(wq, big_wq, wk, big_wk)
    m = nn[ci[:, None], cj[None, :]]  # (Hq, Wq) matched cells
    y = jnp.clip(jnp.floor((m // wk + fy[:, None]) * sy), 0, big_hk - 1).astype(jnp.int32)
    x = jnp.clip(jnp.floor((m % wk + fx[None, :]) * sx), 0, big_wk - 1).astype(jnp.int32)
    return y * big_wk + x


def analogy_targets(net: FeatureNet, a, a_prime, b, *, b_prime=None, layers=None, content_layer=None,
                    patch: int = 3):
    """Fixed targets of one round: {'analogy': {layer: (1, h, w, C)}, 'content': (1, h, w, C),
    'matches': {layer: (h_b, w_b) indices into A's (h_a, w_a) grid}, 'grids': {layer: (h_a, w_a)}}.

    With ``b_prime`` (a current estimate) B's patches are matched on B and B'
    features together (channel-normalised, concatenated) against A and A',
    otherwise on B against A.
    """
    layers, content_layer = _layers(net, layers, content_layer)
    names = tuple(dict.fromkeys(layers + (content_layer,)))
    fa = tap(net, net.variables, jnp.stack([a, a_prime]), names)  # one pass: [A, A'] as a batch
    fb = tap(net, net.variables, b if b_prime is None else jnp.stack([b, b_prime]), names)
    targets, matches, grids = {}, {}, {}
    for layer in layers:
        query, key, key_prime = fb[layer][0], fa[layer][0], fa[layer][1]
        if b_prime is not None:
            query = jnp.concatenate([normalise(query), normalise(fb[layer][1])], axis=-1)
            key = jnp.concatenate([normalise(key), normalise(key_prime)], axis=-1)
        matches[layer] = match_patches(query, key, patch)
        targets[layer] = vote(key_prime, matches[layer], patch)[None]
        grids[layer] = tuple(key.shape[:2])
    return {"analogy": targets, "content": fb[content_layer][:1], "matches": matches, "grids": grids}


def warp(a_prime, targets, layer, query_size, patch: int = 3):
    """A' read through the match field of ``layer``, upsampled to B's pixels: (H_b, W_b, 3), patch-voted."""
    nn = upsample_matches(targets["matches"][layer], targets["grids"][layer], query_size, np.shape(a_prime)[:2])
    return vote(a_prime, nn, patch)


def analogy_loss(net: FeatureNet, variables, image, targets, *, layers=None, content_layer=None,
                 analogy_weight: float = 1.0, content_weight: float = 0.1, tv_weight: float = 0.0):
    """(total, aux) of B' (H, W, 3): mean relative error to the analogy targets + content + TV."""
    layers, content_layer = _layers(net, layers, content_layer)
    feats = tap(net, variables, image, tuple(dict.fromkeys(layers + (content_layer,))))
    match = sum(relative_error(feats[n], targets["analogy"][n]) for n in layers) / len(layers)
    content = relative_error(feats[content_layer], targets["content"])
    tv = total_variation(image)
    total = analogy_weight * match + content_weight * content + tv_weight * tv
    return total, {"loss": total, "analogy": match, "content": content, "tv": tv}


def _layers(net: FeatureNet, layers, content_layer):
    layers = tuple(layers or net.analogy_layers)
    content_layer = content_layer or net.analogy_content_layer or (layers[-1] if layers else "")
    if not layers:
        raise ValueError(f"feature net {net.name!r} has no default analogy layers; pass layers=(...).")
    return layers, content_layer


INITS = ("b", "warp", "noise")


def analogy(net: FeatureNet, a, a_prime, b, *, layers=None, content_layer=None, patch: int = 3,
            steps: int = 150, rounds: int = 1, lr: float | None = None, analogy_weight: float = 1.0,
            content_weight: float = 0.1, tv_weight: float = 0.0, init: str = "warp", key=None):
    """B' (H_b, W_b, 3) in [0, 1] for the analogy A : A' :: B : B'; returns (B', aux list, last targets).

    a, a_prime: (H, W, 3), the same shape; b: (H_b, W_b, 3). Adam on the
    pixels, one jitted step (like ``style_transfer.stylize``), ``steps`` per
    round (0: B' is the initial image); each round after the first
    re-matches with the current B'. ``lr`` defaults to the net's. init:
    'warp' starts from A' warped by the finest layer's matches (the pixel
    reconstruction of deep image analogy), 'b' from B, 'noise' from uniform
    noise (needs ``key``).
    """
    check_rgb(a=a, a_prime=a_prime, b=b)
    if np.shape(a) != np.shape(a_prime):
        raise ValueError(f"a and a_prime must have the same shape; got {np.shape(a)} and {np.shape(a_prime)}.")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}.")
    if init == "noise" and key is None:
        raise ValueError("init='noise' needs a PRNG key.")
    if int(rounds) < 1:
        raise ValueError(f"rounds must be >= 1; got {rounds}.")
    layers, content_layer = _layers(net, layers, content_layer)
    a, a_prime, b = (jnp.asarray(x, jnp.float32) for x in (a, a_prime, b))
    weights = dict(layers=layers, content_layer=content_layer, analogy_weight=analogy_weight,
                   content_weight=content_weight, tv_weight=tv_weight)
    targets = analogy_targets(net, a, a_prime, b, layers=layers, content_layer=content_layer, patch=patch)
    if init == "b":
        image = b
    elif init == "warp":
        image = warp(a_prime, targets, layers[0], b.shape[:2], patch)
    else:
        image = jax.random.uniform(key, b.shape)
    step, init_opt = adam_image_step(lambda v, t, im: analogy_loss(net, v, im, t, **weights), lr or net.lr)
    history = []
    for r in range(int(rounds)):
        if r:
            targets = analogy_targets(net, a, a_prime, b, b_prime=image, layers=layers,
                                      content_layer=content_layer, patch=patch)
        loss_targets = {"analogy": targets["analogy"], "content": targets["content"]}
        image, aux = run_steps(step, init_opt, net.variables, loss_targets, image, steps)
        history.extend(aux)
    return image, history, targets


def reference_errors(b_prime, b, reference) -> dict:
    """Mean absolute pixel error of B' and of B itself (the identity baseline) to the true B' (H, W, 3)."""
    b_prime, b, reference = (np.asarray(x, np.float32) for x in (b_prime, b, reference))
    if not b_prime.shape == b.shape == reference.shape:
        raise ValueError(f"b_prime, b and reference need one shape; got {b_prime.shape}, {b.shape}, {reference.shape}.")
    return {"error/b_prime_vs_reference": float(np.abs(b_prime - reference).mean()),
            "error/identity_b_vs_reference": float(np.abs(b - reference).mean())}
