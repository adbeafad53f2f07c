"""FCN heads: shapes at odd sizes, bilinear upsampling, the transposed-conv kernel layout."""
import cnnlab  # noqa: F401  (XLA flags first)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import models
from cnnlab.models import fcn
from cnnlab.train.optim import freeze_labels, param_paths

TINY_VGG = dict(backbone="vgg16", backbone_width=0.125, fc_units=16, dropout_rate=0.0)


def _init_shapes(model, shape):
    """(params shapes, output shape) by abstract evaluation: no compile, no compute."""
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
    out, variables = jax.eval_shape(lambda v: model.init_with_output(rngs, v, train=False), x)
    return variables, out


def reference_bilinear(x, out_hw, factor, delta):
    """Slow numpy bilinear upsampling: output j reads u = (j + delta) / factor, edge-clamped."""
    x = np.asarray(x, np.float64)
    b, h, w, c = x.shape

    def taps(n_out, n_in):
        rows = np.zeros((n_out, n_in))
        for j in range(n_out):
            u = min(max((j + delta) / factor, 0.0), n_in - 1.0)
            lo = int(np.floor(u))
            hi = min(lo + 1, n_in - 1)
            rows[j, lo] += 1 - (u - lo)
            rows[j, hi] += u - lo
        return rows

    ry, rx = taps(out_hw[0], h), taps(out_hw[1], w)
    return np.einsum("yi,xj,bijc->byxc", ry, rx, x)


def reference_conv_transpose(x, kernel, stride):
    """Slow scatter definition of Keras Conv2DTranspose (padding='valid'); kernel (kh, kw, out, in)."""
    b, h, w, _ = x.shape
    kh, kw, c_out, _ = kernel.shape
    out = np.zeros((b, (h - 1) * stride + kh, (w - 1) * stride + kw, c_out))
    for i in range(h):
        for j in range(w):
            out[:, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum(
                "bc,xyoc->bxyo", x[:, i, j], kernel)
    return out


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
@pytest.mark.parametrize("backbone", [TINY_VGG, dict(backbone="resnet18"),
                                      dict(TINY_VGG, upsample="resize")])
def test_output_shape_equals_input_shape_at_odd_sizes(name, backbone):
    model = models.create(name, num_classes=5, **backbone)
    for shape in [(2, 67, 45, 3), (1, 95, 33, 3), (1, 64, 64, 1)]:
        _, out = _init_shapes(model, shape)
        assert out.shape == shape[:3] + (5,)
        assert out.dtype == jnp.float32


def test_fcn8s_runs_at_odd_size_and_skips_start_at_zero():
    model = models.create("fcn8s", num_classes=3, backbone_batch_norm=True, **TINY_VGG)
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 67, 45, 3)), jnp.float32)
    # rbg keys: XLA:CPU compiles threefry-based initialisers of a whole VGG very slowly.
    logits, variables = jax.jit(model.init_with_output)({"params": jax.random.key(0, impl="rbg")}, x)
    assert logits.shape == (2, 67, 45, 3)
    # Score layers are zero-initialised (paper): the untrained net predicts exactly 0.
    assert float(jnp.abs(logits).max()) == 0.0
    names = set(variables["params"])
    assert {"backbone", "fc6", "fc7", "score_fr", "score_pool4", "score_pool3",
            "upscore2", "upscore_pool4", "upscore8"} <= names
    assert variables["params"]["upscore8"]["kernel"].shape == (16, 16, 3, 3)  # 2f, Keras layout
    assert variables["params"]["upscore2"]["kernel"].shape == (4, 4, 3, 3)


@pytest.mark.parametrize("in_hw,factor,out_hw,delta", [
    ((5, 6), 2, (10, 12), -0.5),    # VGG-aligned x2 to an exact multiple
    ((4, 5), 8, (32, 40), -3.5),    # VGG-aligned x8
    ((2, 3), 32, (67, 95), -15.5),  # x32 to odd sizes past the last cell centre
    ((3, 4), 2, (7, 9), -0.5),      # pool4 -> pool3 sizes of an odd input
    ((5, 6), 2, (9, 11), 0.0),      # ResNet alignment (odd kernel 2f-1)
    ((2, 3), 16, (40, 33), 0.0),
])
@pytest.mark.parametrize("mode", ["transpose", "resize"])
def test_bilinear_init_reproduces_bilinear_upsampling(in_hw, factor, out_hw, delta, mode):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2,) + in_hw + (3,)), jnp.float32)
    layer = fcn.Upsample(factor, delta, mode)
    y, variables = jax.jit(lambda k, x: layer.init_with_output(k, x, out_hw))(jax.random.key(0), x)
    y = np.asarray(y)
    expected = reference_bilinear(x, out_hw, factor, delta)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=2e-5)
    if mode == "transpose":
        k = variables["params"]["kernel"].shape[0]
        assert k == (2 * factor if delta == (1 - factor) / 2 else 2 * factor - 1)


def test_transpose_upsampling_matches_jax_image_resize_on_exact_multiples():
    x = jnp.asarray(np.random.default_rng(2).normal(size=(1, 6, 5, 2)), jnp.float32)
    for factor in (2, 8, 32):
        layer = fcn.Upsample(factor, (1 - factor) / 2)
        out_hw = (6 * factor, 5 * factor)
        y, _ = jax.jit(lambda k, x: layer.init_with_output(k, x, out_hw))(jax.random.key(0), x)
        resized = jax.image.resize(x, (1,) + out_hw + (2,), "bilinear")
        m = factor  # compare on the interior, away from the border rows
        np.testing.assert_allclose(np.asarray(y)[:, m:-m, m:-m], np.asarray(resized)[:, m:-m, m:-m], atol=2e-5)
        np.testing.assert_allclose(np.asarray(y), np.asarray(resized), atol=2e-5)  # edges clamp alike


def test_bilinear_filter_is_the_fcn_upsample_filt():
    np.testing.assert_allclose(fcn.bilinear_filter(4)[0], [0.0625, 0.1875, 0.1875, 0.0625])
    np.testing.assert_allclose(fcn.bilinear_filter(4)[1], [0.1875, 0.5625, 0.5625, 0.1875])
    np.testing.assert_allclose(fcn.bilinear_filter(3)[1], [0.5, 1.0, 0.5])
    k = np.asarray(fcn.bilinear_init(None, (4, 4, 3, 3)))
    assert k[:, :, 0, 1].sum() == 0 and k[:, :, 2, 2].sum() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="out == in"):
        fcn.bilinear_init(None, (4, 4, 3, 2))


def test_transpose_kernel_layout_is_keras_and_torch():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    keras_kernel = rng.normal(size=(4, 3, 6, 5)).astype(np.float32)  # Conv2DTranspose (kh, kw, out, in)
    y = np.asarray(fcn.conv_transpose(jnp.asarray(x), jnp.asarray(keras_kernel), 2))
    np.testing.assert_allclose(y, reference_conv_transpose(x, keras_kernel, 2), atol=1e-4)
    # PyTorch ConvTranspose2d weight (in, out, kh, kw): out[i*s+a, j*s+b, o] += x[c] * W[c, o, a, b].
    torch_weight = rng.normal(size=(5, 6, 3, 3)).astype(np.float32)
    expected = np.zeros((2, 7, 9, 6))
    for i in range(3):
        for j in range(4):
            expected[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3] += np.einsum("bc,coxy->bxyo", x[:, i, j], torch_weight)
    kernel = fcn.kernel_from_torch(torch_weight)
    assert kernel.shape == (3, 3, 6, 5)
    np.testing.assert_allclose(np.asarray(fcn.conv_transpose(jnp.asarray(x), jnp.asarray(kernel), 2)),
                               expected, atol=1e-4)
    np.testing.assert_array_equal(fcn.kernel_to_torch(kernel), torch_weight)


def test_dense_to_conv_kernel_turns_fc_into_conv():
    rng = np.random.default_rng(4)
    feature = rng.normal(size=(2, 7, 7, 3)).astype(np.float32)
    dense = rng.normal(size=(7 * 7 * 3, 4)).astype(np.float32)
    expected = feature.reshape(2, -1) @ dense  # Keras Flatten (row-major NHWC) + Dense
    conv = fcn.dense_to_conv_kernel(dense, (7, 7))
    got = jax.lax.conv_general_dilated(jnp.asarray(feature), jnp.asarray(conv), (1, 1), "VALID",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(np.asarray(got)[:, 0, 0], expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="does not flatten"):
        fcn.dense_to_conv_kernel(dense[:-1], (7, 7))


def test_vgg16_backbone_has_the_standalone_vgg_parameter_tree():
    variables, _ = _init_shapes(models.create("fcn8s", num_classes=21), (1, 64, 64, 3))
    vgg_vars, _ = _init_shapes(models.create("vgg16", include_top=False), (1, 64, 64, 3))
    tree = jax.tree.map(lambda a: a.shape, variables["params"]["backbone"])
    assert tree == jax.tree.map(lambda a: a.shape, vgg_vars["params"])
    assert variables["params"]["fc6"]["kernel"].shape == (7, 7, 512, 4096)
    assert variables["params"]["fc7"]["kernel"].shape == (1, 1, 4096, 4096)
    count = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(variables["params"]))
    # VGG16 convs 14,714,688 + fc6 102,764,544 + fc7 16,781,312 + scores 86,037+10,773+5,397
    # + upscore2 7,056 + upscore_pool4 7,056 + upscore8 112,896 (bias-free 21-class kernels).
    assert count == 134_489_759


def test_freeze_regex_selects_the_upsampling_kernels():
    variables, _ = _init_shapes(models.create("fcn8s", num_classes=4, **TINY_VGG), (1, 64, 64, 3))
    labels = jax.tree.leaves(freeze_labels(variables["params"], ["upscore.*"]))
    paths = jax.tree.leaves(param_paths(variables["params"]))
    frozen = sorted(p for p, label in zip(paths, labels) if label == "frozen")
    assert frozen == ["upscore2/kernel", "upscore8/kernel", "upscore_pool4/kernel"]


def test_resnet_backbone_taps_stage_outputs():
    assert fcn.resnet_stage_outputs(50) == ("conv3_block4_out", "conv4_block6_out", "conv5_block3_out")
    variables, out = _init_shapes(models.create("fcn16s", num_classes=3, backbone="resnet50"), (1, 65, 47, 3))
    assert out.shape == (1, 65, 47, 3)
    assert variables["params"]["score_pool4"]["kernel"].shape == (1, 1, 1024, 3)
    assert variables["params"]["upscore16"]["kernel"].shape == (31, 31, 3, 3)  # 2f-1: aligned grids
    assert "batch_stats" in variables


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="backbone"):
        models.create("fcn8s", num_classes=3, backbone="alexnet")
    with pytest.raises(ValueError, match="upsample"):
        models.create("fcn8s", num_classes=3, upsample="nearest")
    with pytest.raises(ValueError, match="fixes"):
        models.create("fcn8s", variant="32s")
    with pytest.raises(ValueError, match="VGG backbones only"):
        models.create("fcn8s", backbone="resnet18", backbone_width=0.5)
    with pytest.raises(ValueError, match="at least 32x32"):
        _init_shapes(models.create("fcn8s", num_classes=3, **TINY_VGG), (1, 31, 64, 3))
