"""On-device augmentation: exact references for flips, rot90, ramps, crops, blur and statistics."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from cnnlab.data import augment

KEY = jax.random.PRNGKey(0)


def _images(b=8, h=12, w=12, c=3, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(0, 1, (b, h, w, c)).astype(np.float32))


FULL = dict(rotation_range=20, width_shift_range=0.1, height_shift_range=2.0, shear_range=10, zoom_range=0.2,
            horizontal_flip=True, vertical_flip=True, fill_mode="reflect", crop_padding=2, brightness=0.1,
            contrast=0.2, tint=0.05, blur_sigma=1.0)


def test_full_pipeline_keeps_shape_is_deterministic_and_jits():
    images = _images()
    fn = augment.build(FULL)  # a jitted function
    out = fn(images, KEY)
    assert out.shape == images.shape and out.dtype == jnp.float32
    np.testing.assert_array_equal(out, fn(images, KEY))
    assert not np.allclose(out, fn(images, jax.random.PRNGKey(1)))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    # The ops also trace inside a caller's jit (a train step), with the same result as eager calls.
    step = jax.jit(lambda x, k: augment.random_brightness(augment.random_flip(x, k), k, delta=0.1))
    eager = augment.random_brightness(augment.random_flip(images, KEY), KEY, delta=0.1)
    np.testing.assert_allclose(step(images, KEY), eager, atol=1e-6)


def test_zero_ranges_give_identity():
    images = _images()
    assert augment.build(None) is augment.identity
    assert augment.build({}) is augment.identity
    zero = dict(rotation_range=0, width_shift_range=0.0, zoom_range=0.0, horizontal_flip=False, crop_padding=0,
                brightness=0.0, blur_sigma=0)
    assert augment.build(zero) is augment.identity
    np.testing.assert_allclose(augment.random_affine(images, KEY), images, atol=1e-6)
    with pytest.raises(ValueError, match="unknown augment fields"):
        augment.build({"rotation": 10})


def test_flips_are_exact_flips():
    images = _images(b=32)
    out = np.asarray(augment.random_flip(images, KEY, horizontal=True))
    flipped = [np.array_equal(o, x[:, ::-1]) for o, x in zip(out, np.asarray(images))]
    kept = [np.array_equal(o, x) for o, x in zip(out, np.asarray(images))]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    out = np.asarray(augment.random_flip(images, KEY, horizontal=False, vertical=True))
    assert all(np.array_equal(o, x[::-1]) or np.array_equal(o, x) for o, x in zip(out, np.asarray(images)))


def test_rotation_by_90_degrees_is_rot90():
    image = _images(b=1, h=9, w=9)[0]
    ccw = augment.warp(image, augment.affine_matrix(9, 9, angle=90.0))
    np.testing.assert_allclose(ccw, np.rot90(np.asarray(image), k=1), atol=1e-5)
    cw = augment.warp(image, augment.affine_matrix(9, 9, angle=-90.0))
    np.testing.assert_allclose(cw, np.rot90(np.asarray(image), k=-1), atol=1e-5)


def test_shift_zoom_and_shear_move_a_ramp_as_the_matrix_says():
    h = w = 11
    rows = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None, None], (h, w, 1))
    cols = np.broadcast_to(np.arange(w, dtype=np.float32)[None, :, None], (h, w, 1))
    centre = (h - 1) / 2
    shifted = augment.warp(jnp.asarray(rows), augment.affine_matrix(h, w, shift=(2.0, 0.0)))
    np.testing.assert_allclose(shifted[:-2, :, 0], rows[2:, :, 0], atol=1e-5)
    np.testing.assert_allclose(shifted[-2:, :, 0], h - 1, atol=1e-5)  # 'nearest' fill repeats the edge
    zoomed = augment.warp(jnp.asarray(rows), augment.affine_matrix(h, w, zoom=(0.5, 1.0)))
    np.testing.assert_allclose(zoomed[:, 3, 0], centre + 0.5 * (np.arange(h) - centre), atol=1e-5)
    angle = 20.0
    sheared = augment.warp(jnp.asarray(cols), augment.affine_matrix(h, w, shear=angle))
    expected = centre + np.cos(np.deg2rad(angle)) * (np.arange(w) - centre)
    np.testing.assert_allclose(sheared[5, :, 0], expected, atol=1e-4)


@pytest.mark.parametrize("mode,scipy_mode", [("nearest", "nearest"), ("constant", "grid-constant"),
                                             ("reflect", "reflect"), ("wrap", "grid-wrap"), ("mirror", "mirror")])
def test_sampler_matches_scipy_map_coordinates(mode, scipy_mode):
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 1, (7, 9, 2)).astype(np.float32)
    rows = rng.uniform(-12, 18, (5, 6)).astype(np.float32)
    cols = rng.uniform(-12, 20, (5, 6)).astype(np.float32)
    for interpolation, order in (("bilinear", 1), ("nearest", 0)):
        ours = augment.sample(jnp.asarray(image), jnp.asarray(rows), jnp.asarray(cols), fill_mode=mode, cval=0.3,
                              interpolation=interpolation)
        reference = np.stack([scipy.ndimage.map_coordinates(image[..., c], [rows, cols], order=order,
                                                            mode=scipy_mode, cval=0.3) for c in range(2)], -1)
        np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_fill_modes_for_rotation():
    ones = jnp.ones((1, 16, 16, 1))
    corners = lambda x: np.asarray(x)[0, [0, 0, -1, -1], [0, -1, 0, -1], 0]  # noqa: E731
    constant = augment.random_affine(ones, KEY, rotation_range=45, fill_mode="constant", cval=0.25)
    assert np.all(corners(constant) < 1.0) and np.all(corners(constant) >= 0.25)
    np.testing.assert_allclose(augment.random_affine(ones, KEY, rotation_range=45, fill_mode="nearest"), 1.0)
    with pytest.raises(ValueError, match="fill_mode"):
        augment.build({"rotation_range": 5, "fill_mode": "edge"})


def test_random_crop_is_a_window_of_the_padded_image():
    images = _images(b=24, h=8, w=8, c=1)
    out = np.asarray(augment.random_crop(images, KEY, padding=2))
    padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = []
    for o, p in zip(out, padded):
        found = [(dy, dx) for dy in range(5) for dx in range(5) if np.array_equal(o, p[dy:dy + 8, dx:dx + 8])]
        assert found
        offsets.append(found[0])
    assert len(set(offsets)) > 5


def test_photometric_ops():
    images = _images(b=16) * 0.4 + 0.3  # in [0.3, 0.7]: no clipping
    diff = np.asarray(augment.random_brightness(images, KEY, delta=0.2) - images)
    per_image = diff.reshape(16, -1)
    np.testing.assert_allclose(per_image, np.broadcast_to(per_image[:, :1], per_image.shape), atol=1e-5)
    assert np.abs(per_image).max() <= 0.2 and per_image[:, 0].std() > 0.02
    out = np.asarray(augment.random_contrast(images, KEY, factor=0.3))
    centred = np.asarray(images) - np.asarray(images).mean(axis=(1, 2), keepdims=True)
    scale = (centred * (out - (np.asarray(images) - centred))).sum(axis=(1, 2, 3)) / (centred**2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out, centred * scale[:, None, None, None] + (np.asarray(images) - centred), atol=1e-5)
    assert np.all((scale >= 0.7) & (scale <= 1.3)) and scale.std() > 0.05
    tint = np.asarray(augment.random_tint(images, KEY, delta=0.1) - images)
    np.testing.assert_allclose(tint, np.broadcast_to(tint[:, :1, :1, :], tint.shape), atol=1e-5)
    assert not np.allclose(tint[:, 0, 0, 0], tint[:, 0, 0, 1])


def test_blur_matches_scipy_gaussian_filter():
    image = _images(b=1, h=16, w=16, c=2)[0]
    sigma, radius = 1.3, 4
    ours = augment.gaussian_blur(image, sigma, radius)
    reference = np.stack([scipy.ndimage.gaussian_filter(np.asarray(image[..., c]), sigma, mode="reflect",
                                                        truncate=radius / sigma) for c in range(2)], -1)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    blurred = augment.random_blur(_images(b=8), KEY, sigma=2.0)
    assert float(blurred.std()) < float(_images(b=8).std())


def test_featurewise_stats_and_normalizer():
    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, (10, 5, 5, 3), dtype=np.uint8)
    mean, std = augment.featurewise_stats(array)
    np.testing.assert_allclose(mean, (array / 255.0).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(std, (array / 255.0).std(axis=(0, 1, 2)), rtol=1e-5)
    normalizer = augment.build_normalizer({"featurewise_center": True, "featurewise_std_normalization": True},
                                          stats=(mean, std))
    z = np.asarray(normalizer(jnp.asarray(array / 255.0, jnp.float32)))
    np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 1, 2)), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="statistics"):
        augment.build_normalizer({"featurewise_center": True})

    import cnnlab.data as data

    ds = data.build(dict(name="shapes", storage="memory", num_validation=10, num_threads=0), "validation", 4,
                    train=False, seed=0)  # 3 batches, the last padded: padding must not count
    from cnnlab.data import shapes

    expected = augment.featurewise_stats(shapes.generate(10, seed=0, split="validation")["image"])
    np.testing.assert_allclose(augment.featurewise_stats(ds), expected, rtol=1e-5)


def test_fields_table_and_parse():
    names = [name for name, _, _ in augment.FIELDS]
    assert len(names) == len(set(names)) == 25
    assert all(isinstance(comment, str) and comment for _, _, comment in augment.FIELDS)
    new = {"rand_augment_ops": 0, "rand_augment_magnitude": 9, "mixup_alpha": 0.0, "cutmix_alpha": 0.0,
           "mix_prob": 1.0, "mix_switch_prob": 0.5}
    assert {k: augment.DEFAULTS[k] for k in new} == new
    assert set(augment.RANDOM_FIELDS + augment.MIX_FIELDS + augment.NORMALIZE_FIELDS) == set(names)
    defaults = augment.parse(None)
    assert defaults == augment.parse({}) == augment.AugmentSettings()
    assert {name: getattr(defaults, name) for name in names} == augment.DEFAULTS
    import ml_collections

    cfg = ml_collections.ConfigDict({"zoom_range": [0.8, 1.2], "fill_mode": None, "mix_prob": 0.0, "mean": [0.5] * 3,
                                     "crop_padding": 4.0, "rand_augment_ops": 2})
    settings = augment.parse(cfg)
    assert settings.zoom_range == (0.8, 1.2) and settings.fill_mode == "nearest"  # None: the default
    assert settings.mix_prob == 0.0 and settings.mean == (0.5, 0.5, 0.5)  # 0 is a value, not "unset"
    assert settings.crop_padding == 4 and isinstance(settings.crop_padding, int)
    assert augment.parse(settings) is settings and hash(settings) == hash(augment.parse(cfg))  # static under jit
    unknown = r"unknown augment fields \['rotation'\] in config.data.augment: known are .*'rand_augment_ops'"
    with pytest.raises(ValueError, match=unknown):
        augment.parse({"rotation": 10})
    for bad, match in (({"mix_prob": 1.5}, r"mix_prob must be in \[0.0, 1.0\]"),
                       ({"rand_augment_magnitude": 31}, r"rand_augment_magnitude must be in \[0, 30\]"),
                       ({"rand_augment_ops": 1.5}, "rand_augment_ops must be a whole number"),
                       ({"cutmix_alpha": -1}, "cutmix_alpha must be >= 0"),
                       ({"interpolation": "cubic"}, "interpolation must be one of"),
                       ({"zoom_range": (1.2, 0.8)}, "zoom_range"),
                       ({"brightness": "a lot"}, "brightness must be a number")):
        with pytest.raises(ValueError, match="config.data.augment." + match):
            augment.parse(bad)


def test_build_takes_settings_and_adds_rand_augment_after_the_crop():
    from cnnlab.data import randaugment

    images = _images(b=4, h=16, w=16)
    cfg = {"rand_augment_ops": 2, "rand_augment_magnitude": 5, "cval": 0.5, "mixup_alpha": 0.2,
           "featurewise_center": True, "mean": [0.5, 0.5, 0.5]}  # mix and normalisation fields are not build's
    fn = augment.build(augment.parse(cfg))
    expected = randaugment.rand_augment(images, jax.random.split(KEY, 1)[0], num_ops=2, magnitude=5, fill=0.5)
    np.testing.assert_array_equal(fn(images, KEY), expected)
    assert not np.allclose(expected, images)
    assert augment.build({"rand_augment_ops": 0, "mixup_alpha": 1.0, "featurewise_center": True}) is augment.identity
    z = augment.build_normalizer(augment.parse(cfg))(images)
    np.testing.assert_allclose(z, images - 0.5, atol=1e-7)
