"""RandAugment on device: every op against PIL (what torchvision runs on PIL images), the magnitude
table against torchvision's, Equalize against a port of PIL's algorithm, and the random choice."""
import collections
import functools
import operator

import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from cnnlab.data import randaugment as ra

H, W = 16, 24  # non-square, so a swapped height and width shows
FILL = 128  # grey fill of the geometric ops (torchvision's fill; 0 in RandAugment's default)
U8 = np.random.default_rng(0).integers(10, 241, (H, W, 3), dtype=np.uint8)  # AutoContrast has work to do
apply_op = jax.jit(functools.partial(ra.apply_op, fill=FILL / 255.0))  # one compile: op and magnitude traced


def _pil_reference(name: str, m: float, pil: Image.Image) -> Image.Image:
    """What torchvision's _apply_op does to a PIL image (nearest resampling, grey fill)."""
    fill = (FILL,) * len(pil.getbands())
    affine = lambda data: pil.transform(pil.size, Image.AFFINE, data, Image.NEAREST, fillcolor=fill)  # noqa: E731
    return {
        "Identity": lambda: pil,
        "ShearX": lambda: affine((1, m, 0, 0, 1, 0)),  # F.affine(shear=[degrees(atan(m)), 0], center=[0, 0])
        "ShearY": lambda: affine((1, 0, 0, m, 1, 0)),
        "TranslateX": lambda: affine((1, 0, -m, 0, 1, 0)),  # F.affine(translate=[int(m), 0])
        "TranslateY": lambda: affine((1, 0, 0, 0, 1, -m)),
        "Rotate": lambda: pil.rotate(m, Image.NEAREST, fillcolor=fill),
        "Brightness": lambda: ImageEnhance.Brightness(pil).enhance(1 + m),
        "Color": lambda: ImageEnhance.Color(pil).enhance(1 + m),
        "Contrast": lambda: ImageEnhance.Contrast(pil).enhance(1 + m),
        "Sharpness": lambda: ImageEnhance.Sharpness(pil).enhance(1 + m),
        "Posterize": lambda: ImageOps.posterize(pil, int(m)),
        "Solarize": lambda: ImageOps.solarize(pil, m * 255),
        "AutoContrast": lambda: ImageOps.autocontrast(pil),
        "Equalize": lambda: ImageOps.equalize(pil),
    }[name]()


def test_magnitude_table_is_torchvisions():
    table = dict(zip(ra.OPS, ra.op_magnitudes(9, 31, 331, 331)))
    expected = {"Identity": 0, "ShearX": 0.09, "ShearY": 0.09, "TranslateX": 45, "TranslateY": 45, "Rotate": 9,
                "Brightness": 0.27, "Color": 0.27, "Contrast": 0.27, "Sharpness": 0.27, "Posterize": 7,
                "Solarize": 0.7, "AutoContrast": 0, "Equalize": 0}
    np.testing.assert_allclose([table[k] for k in ra.OPS], [expected[k] for k in ra.OPS], atol=1e-6)
    top = dict(zip(ra.OPS, ra.op_magnitudes(30, 31, 32, 48)))  # the top of every range
    assert top["TranslateX"] == 21 and top["TranslateY"] == 14  # int(150/331 * 48), int(150/331 * 32)
    np.testing.assert_allclose([top["ShearX"], top["Rotate"], top["Color"], top["Posterize"], top["Solarize"]],
                               [0.3, 30.0, 0.9, 4, 0.0], atol=1e-6)
    bottom = dict(zip(ra.OPS, ra.op_magnitudes(0, 31, 32, 32)))
    assert bottom["Posterize"] == 8 and bottom["Solarize"] == 1.0 and bottom["Rotate"] == 0.0
    # Posterize bits: 8 - round(bin / ((bins - 1) / 4)), torch.round rounds half to even.
    assert [ra.op_magnitudes(b, 9, 8, 8)[ra.op_index("Posterize")] for b in range(9)] == [8, 8, 7, 6, 6, 6, 5, 4, 4]
    assert [ra.op_magnitudes(b, 31, 8, 8)[ra.op_index("Posterize")] for b in (4, 11, 15, 26)] == [7, 7, 6, 5]
    for bad in (dict(magnitude=31), dict(magnitude=-1), dict(num_ops=-1), dict(num_magnitude_bins=1, magnitude=0)):
        with pytest.raises(ValueError, match="RandAugment"):
            ra.rand_augment(jnp.zeros((1, 8, 8, 3)), jax.random.PRNGKey(0), **{"num_ops": 1, **bad})


CASES = [(name, bin_, sign) for name in ra.OPS for bin_ in (9, 27)
         for sign in ((1, -1) if name in ra.SIGNED else (1,))]


@pytest.mark.parametrize("name,bin_,sign", CASES, ids=[f"{n}-{b}-{'neg' if s < 0 else 'pos'}" for n, b, s in CASES])
def test_op_matches_pil(name, bin_, sign):
    m = sign * float(ra.op_magnitudes(bin_, 31, H, W)[ra.op_index(name)])
    x = jnp.asarray(U8 / 255.0, jnp.float32)
    ours = np.asarray(apply_op(x, ra.op_index(name), m)) * 255.0
    reference = np.asarray(_pil_reference(name, m, Image.fromarray(U8)), np.float64)
    assert ours.shape == reference.shape
    if name in ("Identity",) + ra.GEOMETRIC + ("Posterize", "Solarize", "Equalize"):
        np.testing.assert_allclose(ours, reference, atol=1e-3)  # the same uint8 levels, pixel for pixel
    elif name == "AutoContrast":  # PIL truncates the stretched levels
        assert np.abs(ours - reference).max() <= 1.0 + 1e-3 and np.abs(ours - reference).mean() < 0.6
    else:  # enhance blends: PIL truncates and rounds the grey image / mean to uint8
        difference = np.abs(ours - reference)
        assert difference.max() <= 1.5 and difference.mean() < 0.6, (difference.max(), difference.mean())
    if name != "Identity":
        assert (np.abs(ours - U8) > 0.5).mean() > 0.25  # the op changed a good part of the image


def _pil_equalize_port(channel: np.ndarray) -> np.ndarray:
    """PIL's ImageOps.equalize on one uint8 channel, line for line (its lut values clip to 255)."""
    h = np.bincount(channel.ravel(), minlength=256).tolist()
    histo = [count for count in h if count]
    if len(histo) <= 1:
        return channel
    step = (functools.reduce(operator.add, histo) - histo[-1]) // 255
    if not step:
        return channel
    lut, n = [], step // 2
    for i in range(256):
        lut.append(n // step)
        n = n + h[i]
    return np.clip(np.asarray(lut), 0, 255)[channel].astype(np.uint8)


def test_equalize_matches_pils_algorithm():
    rng = np.random.default_rng(3)
    images = {
        "uniform": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "low contrast": rng.integers(100, 121, (H, W, 3), dtype=np.uint8),
        "skewed": np.minimum(rng.exponential(20.0, (H, W, 3)), 255).astype(np.uint8),
        "two levels": np.where(rng.uniform(size=(H, W, 3)) < 0.3, 40, 200).astype(np.uint8),
        "constant": np.full((H, W, 3), 77, np.uint8),
        "few pixels (step 0)": rng.integers(0, 256, (4, 4, 3), dtype=np.uint8),
        "grey": rng.integers(0, 256, (H, W, 1), dtype=np.uint8),
    }
    equalize = jax.jit(ra.equalize)
    for what, image in images.items():
        ours = np.asarray(equalize(jnp.asarray(image / 255.0, jnp.float32))) * 255.0
        port = np.stack([_pil_equalize_port(image[..., c]) for c in range(image.shape[-1])], -1)
        pil = ImageOps.equalize(Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image))
        np.testing.assert_allclose(port, np.asarray(pil).reshape(image.shape), err_msg=what)  # the port is PIL's
        np.testing.assert_allclose(ours, port, atol=1e-3, err_msg=what)
    assert np.unique(np.asarray(equalize(jnp.asarray(images["skewed"] / 255.0, jnp.float32)))).size > 20
    # A channel equalisation cannot change is returned as it came (not quantised).
    odd = jnp.full((H, W, 1), 0.3001)
    np.testing.assert_array_equal(equalize(odd), odd)


def test_rand_augment_draws_one_op_per_slot_uniformly_and_is_deterministic():
    rng = np.random.default_rng(5)
    images = jnp.asarray(rng.integers(26, 231, (112, H, W, 3)) / 255.0, jnp.float32)  # inside (0.1, 0.9)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(ra.rand_augment(images, key, num_ops=0), images)  # N = 0: identity
    out = ra.rand_augment(images, key, num_ops=1, magnitude=9)
    assert out.shape == images.shape and out.dtype == images.dtype
    np.testing.assert_array_equal(out, ra.rand_augment(images, key, num_ops=1, magnitude=9))
    assert not np.allclose(out, ra.rand_augment(images, jax.random.PRNGKey(1), num_ops=1, magnitude=9))

    # With N = 1 every image is exactly one op at +-magnitude 9 (as torchvision's fill=0).
    table = ra.op_magnitudes(9, 31, H, W)
    candidates = [(i, s) for i, name in enumerate(ra.OPS) for s in ((1, -1) if name in ra.SIGNED else (1,))]
    ops = jnp.asarray([i for i, _ in candidates])
    magnitudes = jnp.asarray([s * table[i] for i, s in candidates], jnp.float32)
    every = jax.jit(jax.vmap(jax.vmap(ra.apply_op, (None, 0, 0)), (0, None, None)))(images, ops, magnitudes)
    distance = np.abs(np.asarray(every) - np.asarray(out)[:, None]).reshape(len(images), len(candidates), -1).max(-1)
    best = distance.argmin(1)
    np.testing.assert_allclose(distance[np.arange(len(images)), best], 0.0, atol=1e-6)
    assert (np.sort(distance, 1)[:, 1] > 1e-3).all()  # and no other candidate is that image
    drawn = collections.Counter(ra.OPS[candidates[b][0]] for b in best)
    assert set(drawn) == set(ra.OPS) and max(drawn.values()) <= 20  # 112 draws of 14 ops: 8 expected each
    signs = [candidates[b][1] for b in best if ra.OPS[candidates[b][0]] in ra.SIGNED]
    assert 0.3 < np.mean(np.asarray(signs) < 0) < 0.7

    grey = ra.rand_augment(images[:8, :, :, :1], key, num_ops=2, magnitude=27)  # N = 2, one channel
    assert grey.shape == (8, H, W, 1) and float(grey.min()) >= 0.0 and float(grey.max()) <= 1.0
    assert not np.allclose(grey, out[:8, :, :, :1])
    with pytest.raises(ValueError, match="1 or 3 channels"):
        ra.rand_augment(jnp.zeros((2, 8, 8, 4)), key, num_ops=1)
