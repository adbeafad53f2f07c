"""Stacked conditional GAN: stage shapes, the conditioning-augmentation KL, frozen stage I, learning, conditioning."""
import runpy
from pathlib import Path

import cnnlab  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import test_generative_gan as gan_tests
import pytest

from cnnlab.generative import stacked_gan as sg

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "generative" / "stacked_gan.py"
pytestmark = pytest.mark.xdist_group("test_generative_stacked_gan")  # one worker trains the module fixture once


def tiny_config(stage1_steps=40, stage2_steps=2):
    c = runpy.run_path(str(CONFIG))["get_config"]()
    c.model.update(dict(num_classes=2, noise_dim=4, cond_dim=3, s1_g_features=(16, 8), s1_d_features=(8, 16),
                        s2_features=8, s2_res_blocks=1, s2_d_features=(8, 16)))
    c.g_optim.lr = c.d_optim.lr = 2e-3
    c.train.update(dict(stage1_steps=stage1_steps, stage2_steps=stage2_steps, batch_size=16, log_every=10))
    return c


def two_class_images(n=64):
    """The DCGAN tests' two-square images, in RGB."""
    return gan_tests.two_class_images(n, channels=3)


@pytest.fixture(scope="module")
def trained():
    """Stage I trained 40 steps on 8x8 versions of the images, then stage II 2 steps at 16x16 (compiled once)."""
    images, labels = two_class_images()
    c = tiny_config()
    gen1, state1, history1 = sg.train_stage1(c, images, labels, jax.random.key(0))
    gen2, state2, history2 = sg.train_stage2(c, images, labels, state1, jax.random.key(3))
    return dict(config=c, state1=state1, history1=history1, gen2=gen2, state2=state2, history2=history2)


def test_kl_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mu, log_sigma = rng.normal(size=(5, 7)), rng.normal(0, 0.5, size=(5, 7))
    var = np.exp(2 * log_sigma)
    expected = 0.5 * np.sum(mu ** 2 + var - 1 - np.log(var), axis=1)  # KL(N(mu, var) || N(0, 1)), summed
    np.testing.assert_allclose(sg.kl_to_standard_normal(jnp.asarray(mu), jnp.asarray(log_sigma)), expected,
                               rtol=1e-5)
    ca = sg.CondAugment(num_classes=3, cond_dim=4)
    labels, eps = jnp.array([0, 2]), jnp.zeros((2, 4))
    v = ca.init(jax.random.key(0), labels, eps)
    c, kl = ca.apply(v, labels, eps)  # eps = 0: c is the class mean; sigma starts at 1, so KL = |mu|^2 / 2
    table = np.asarray(v["params"]["mu"]["embedding"])
    np.testing.assert_allclose(c, table[[0, 2]], rtol=1e-6)
    np.testing.assert_allclose(kl, 0.5 * np.sum(table[[0, 2]] ** 2, axis=1), rtol=1e-5)


def test_stage_shapes_and_the_condition_changes_the_output(trained):
    gen = trained["gen2"]
    z = jax.random.normal(jax.random.key(1), (1, gen.latent_dim))
    x1, x2 = sg.sample_stages(gen, trained["state2"], jnp.repeat(z, 2, 0), np.array([0, 1]))  # one code, 2 classes
    assert x1.shape == (2, 8, 8, 3) and x2.shape == (2, 16, 16, 3)
    assert x2.min() >= 0.0 and x2.max() <= 1.0
    # Both stages draw the two classes differently (a generator that ignored the label would give exactly 0).
    assert float(np.mean(np.abs(x1[0] - x1[1]))) > 1e-3
    assert float(np.mean(np.abs(x2[0] - x2[1]))) > 1e-3


def test_errors_say_what_to_fix():
    with pytest.raises(ValueError, match="divisible by 4"):
        sg.StackedGenerator((30, 30, 3), num_classes=2).init(jax.random.key(0), jnp.zeros((2, 128)),
                                                             jnp.array([0, 1]))
    gen = sg.StageIGenerator((16, 16, 3), num_classes=2, noise_dim=4, cond_dim=3, features=(8, 4))
    with pytest.raises(ValueError, match="class-conditional"):
        gen.init(jax.random.key(0), jnp.zeros((2, 7)))
    with pytest.raises(ValueError, match=r"\(B, 7\) = \[noise"):
        gen.init(jax.random.key(0), jnp.zeros((2, 5)), jnp.array([0, 1]))
    images, _ = two_class_images(16)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        sg.train_stage1(tiny_config(1), images, np.full(16, 5), jax.random.key(0))


def test_stage1_discriminator_learns(trained):
    history = trained["history1"]
    gap = history["d_real"] - history["d_fake"]  # window means of D(real) - D(fake)
    assert np.all(np.isfinite(history["d_loss"])) and np.all(np.isfinite(history["g_loss"]))
    assert gap[-1] > gap[0] + 0.1, gap
    assert history["d_loss"][-1] < np.log(4.0) - 0.1, history["d_loss"]  # below chance, 2 log 2
    kl_weight = float(trained["config"].train.kl_weight)
    np.testing.assert_allclose(history["g_loss"], history["g_adv"] + kl_weight * history["kl"], rtol=1e-4)


def test_stage2_training_leaves_stage1_bit_identical(trained):
    state1, state2 = trained["state1"], trained["state2"]
    assert int(state2.step) == 2 and np.all(np.isfinite(trained["history2"]["g_loss"]))
    before = jax.tree.leaves({"p": state1.g_params, "s": state1.g_stats})
    after = jax.tree.leaves({"p": state2.g_params["stage1"], "s": state2.g_stats["stage1"]})
    assert len(before) == len(after) > 0
    for a, b in zip(before, after):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    # ... while stage II did train: its output bias starts at zero and Adam moves it.
    assert np.abs(np.asarray(state2.g_params["stage2"]["to_image"]["bias"])).max() > 0


def test_measures_against_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    b = rng.normal(size=(4000, 3)) * 2.0 + np.array([1.0, 0.0, 0.0])
    # Frechet distance of N(0, I) and N((1, 0, 0), 4I): |dmu|^2 + tr(I + 4I - 2 * 2I) = 1 + 3.
    assert abs(sg.frechet_distance(a, b) - 4.0) < 0.3
    assert abs(sg.frechet_distance(a, a)) < 1e-9
    # A checkerboard holds only the highest frequency; its 2x-downsampled-then-upsampled version none of it.
    board = np.indices((16, 16)).sum(0) % 2
    images = np.repeat(board[None, :, :, None], 3, axis=-1).astype(np.float32)
    assert sg.high_frequency_fraction(images)[0] > 0.99
    np.testing.assert_allclose(sg.laplacian_variance(images), 16.0, rtol=1e-6)  # Laplacian is +-4 everywhere
    flat = sg.upsample(sg.downsample(images), (16, 16))
    assert sg.high_frequency_fraction(flat)[0] < 1e-6 and sg.laplacian_variance(flat)[0] < 1e-9


def test_a_subsample_of_a_class_sorted_folder_mixes_the_classes(tmp_path):
    """load_split's first half (the measures' real images) and second half (their reference)
    each hold every class, although an image folder lists its files class by class."""
    import ml_collections
    from PIL import Image
    colours = {"a": (250, 0, 0), "b": (0, 250, 0), "c": (0, 0, 250)}
    for name, colour in colours.items():
        (tmp_path / "test" / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (8, 8), colour).save(tmp_path / "test" / name / f"{i}.png")
    cfg = ml_collections.ConfigDict(dict(name="image_folder", root=str(tmp_path), image_size=(8, 8), num_threads=0))
    images, labels, names = sg.load_split(cfg, "test", 12)
    assert names == ("a", "b", "c") and images.shape == (12, 8, 8, 3)
    assert set(labels[:6]) == set(labels[6:]) == {0, 1, 2}
    np.testing.assert_allclose(images[:, 0, 0, :].argmax(-1), labels)  # each image keeps its label
    again, labels_again, _ = sg.load_split(cfg, "test", 12)
    np.testing.assert_array_equal(labels_again, labels)  # a fixed draw
