"""Filter and activation grids, and named layer outputs of a Linen model (cnnlab.viz.activations)."""
import cnnlab  # noqa: F401  (sets XLA flags before jax starts)
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.viz.activations import (activation_grid, all_intermediates, filter_grid,
                                    layer_activations, match_layer)

pytestmark = pytest.mark.xdist_group("test_viz_activations")  # one worker builds the module fixtures once


def test_filter_grid_rgb_kernel_gives_colour_tiles():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 3, 5)).astype(np.float32)  # (kh, kw, c_in, c_out)
    grid = filter_grid(kernel, padding=1)
    assert grid.shape == (2 * 3 + 1, 3 * 3 + 2, 3)  # 5 filters: 3 columns, 2 rows
    normed = (kernel - kernel.min()) / (kernel.max() - kernel.min())
    np.testing.assert_allclose(grid[0:3, 0:3], normed[..., 0], atol=1e-6)
    np.testing.assert_allclose(grid[4:7, 4:7], normed[..., 4], atol=1e-6)
    assert grid.shape == filter_grid(kernel, max_filters=5).shape
    assert filter_grid(kernel, max_filters=2).shape == (3, 7, 3)


def test_filter_grid_other_channels_are_grey_filter_major():
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(2, 2, 2, 3)).astype(np.float32)  # 3 filters x 2 channels = 6 tiles
    grid = filter_grid(kernel, padding=1)
    assert grid.shape == (2 * 2 + 1, 3 * 2 + 2)
    normed = (kernel - kernel.min()) / (kernel.max() - kernel.min())
    np.testing.assert_allclose(grid[0:2, 0:2], normed[:, :, 0, 0], atol=1e-6)  # tile 0: filter 0, ch 0
    np.testing.assert_allclose(grid[0:2, 3:5], normed[:, :, 1, 0], atol=1e-6)  # tile 1: filter 0, ch 1
    np.testing.assert_allclose(grid[0:2, 6:8], normed[:, :, 0, 1], atol=1e-6)  # tile 2: filter 1, ch 0
    np.testing.assert_allclose(grid[3:5, 6:8], normed[:, :, 1, 2], atol=1e-6)  # tile 5: filter 2, ch 1
    mnist_like = filter_grid(rng.normal(size=(5, 5, 1, 32)))
    assert mnist_like.shape == (6 * 5 + 5, 6 * 5 + 5)  # 32 tiles: 6 columns, 6 rows
    with pytest.raises(ValueError, match="kh, kw, c_in, c_out"):
        filter_grid(np.zeros((3, 3, 16)))


def test_activation_grid_tiles_channels():
    rng = np.random.default_rng(2)
    fmap = rng.normal(size=(4, 5, 6)).astype(np.float32)  # (H, W, C)
    grid = activation_grid(fmap, padding=1)
    assert grid.shape == (2 * 4 + 1, 3 * 5 + 2)
    normed = (fmap - fmap.min()) / (fmap.max() - fmap.min())
    np.testing.assert_allclose(grid[5:9, 6:11], normed[:, :, 4], atol=1e-6)
    np.testing.assert_array_equal(activation_grid(fmap[None]), grid)
    assert activation_grid(fmap, max_channels=4).shape == (2 * 4 + 1, 2 * 5 + 1)
    with pytest.raises(ValueError, match="single example"):
        activation_grid(np.zeros((2, 4, 5, 6)))


class Block(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        return nn.relu(nn.Conv(self.features, (3, 3), name="conv")(x))


class TinyNet(nn.Module):
    """block1_conv1 -> bn -> relu -> two nested blocks -> pooled dense."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(3, (3, 3), padding="SAME", name="block1_conv1")(x)  # (B, H, W, 3)
        x = nn.BatchNorm(use_running_average=not train, name="bn")(x)
        x = nn.relu(x)
        x = Block(4, name="blockA")(x)
        x = Block(4, name="blockB")(x)
        return nn.Dense(2, name="fc1")(x.mean(axis=(1, 2)))


class NoTrainNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3, name="fc1")(x.reshape((x.shape[0], -1)))


def conv_same_reference(x, kernel, bias):
    """Numpy loops: 'SAME' stride-1 cross-correlation, x (H, W, Ci), kernel (kh, kw, Ci, Co)."""
    kh, kw = kernel.shape[:2]
    xp = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:2] + (kernel.shape[3],), dtype=np.float64)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            patch = xp[i:i + kh, j:j + kw, :]
            out[i, j] = np.tensordot(patch, kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    return out


@pytest.fixture(scope="module")
def tiny():
    model = TinyNet()
    images = jax.random.uniform(jax.random.key(0), (2, 6, 6, 2))
    variables = model.init(jax.random.key(1), images)
    return model, variables, np.asarray(images)


def test_layer_activations_equal_manual_forward(tiny):
    model, variables, images = tiny
    out = layer_activations(model, variables, images[0], ["block1_conv1", "bn", "blockB/conv", "fc1"])
    p = variables["params"]["block1_conv1"]
    expected = conv_same_reference(images[0].astype(np.float64), np.asarray(p["kernel"]), np.asarray(p["bias"]))
    assert out["block1_conv1"].shape == (6, 6, 3)  # batch axis removed for one image
    np.testing.assert_allclose(out["block1_conv1"], expected, rtol=1e-5, atol=1e-5)
    # eval mode: running stats (mean 0, var 1) -> bn is x / sqrt(1 + eps) with scale 1, bias 0
    np.testing.assert_allclose(out["bn"], expected / np.sqrt(1.0 + 1e-5), rtol=1e-5, atol=1e-5)
    # nested block: its conv output equals applying that submodule by hand to blockA's output
    block_a = Block(4).apply({"params": variables["params"]["blockA"]},
                             nn.relu(out["bn"][None].astype(np.float32)))
    manual = nn.Conv(4, (3, 3)).apply({"params": variables["params"]["blockB"]["conv"]}, block_a)
    np.testing.assert_allclose(out["blockB/conv"], np.asarray(manual)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["fc1"], np.asarray(model.apply(variables, images[:1]))[0],
                               rtol=1e-6, atol=1e-6)


def test_layer_activations_batch_and_single_name(tiny):
    model, variables, images = tiny
    out = layer_activations(model, variables, images, "block1_conv1")
    assert list(out) == ["block1_conv1"] and out["block1_conv1"].shape == (2, 6, 6, 3)
    single = layer_activations(model, variables, images[1], "block1_conv1")["block1_conv1"]
    np.testing.assert_allclose(out["block1_conv1"][1], single, rtol=1e-6, atol=1e-6)


def test_layer_activations_errors_name_the_choices(tiny):
    model, variables, images = tiny
    with pytest.raises(ValueError, match=r"Unknown layer name 'conv9'.*block1_conv1.*blockA/conv"):
        layer_activations(model, variables, images[0], ["conv9"])
    with pytest.raises(ValueError, match=r"matches several modules: blockA/conv, blockB/conv"):
        layer_activations(model, variables, images[0], ["conv"])
    with pytest.raises(ValueError, match="'params'"):
        layer_activations(model, variables["params"], images[0], ["fc1"])
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        layer_activations(model, variables, images[0, :, :, 0], ["fc1"])


def test_all_intermediates_paths_and_model_without_train_flag(tiny):
    model, variables, images = tiny
    paths = set(all_intermediates(model, variables, images))
    assert paths == {"block1_conv1", "bn", "blockA", "blockA/conv", "blockB", "blockB/conv", "fc1"}
    plain = NoTrainNet()
    v = plain.init(jax.random.key(0), jnp.ones((1, 2, 2, 1)))
    out = layer_activations(plain, v, np.ones((2, 2, 1), np.float32), ["fc1"])["fc1"]
    np.testing.assert_allclose(out, np.ones(4) @ np.asarray(v["params"]["fc1"]["kernel"]), rtol=1e-6)
    assert match_layer("fc1", ["head/fc1", "fc10"]) == "head/fc1"
