"""Keras-style layers against numpy loop references."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.models import layers


def np_separable_conv(x, depthwise, pointwise, bias, stride, pad):
    """Depthwise (kh, kw, C, m) then pointwise (1, 1, C*m, F), by loops."""
    x = np.pad(x, ((0, 0), pad, pad, (0, 0)))
    kh, kw, channels, mult = depthwise.shape
    out_h = (x.shape[1] - kh) // stride + 1
    out_w = (x.shape[2] - kw) // stride + 1
    dw = np.zeros((x.shape[0], out_h, out_w, channels * mult))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]  # (B,kh,kw,C)
            for c in range(channels):
                for m in range(mult):
                    product = patch[..., c] * depthwise[:, :, c, m]
                    dw[:, i, j, c * mult + m] = product.sum(axis=(1, 2))
    out = dw @ pointwise[0, 0]
    return out if bias is None else out + bias


@pytest.mark.parametrize("stride, padding, pad, mult, use_bias", [
    (1, "SAME", (1, 1), 1, False),
    (2, "VALID", (0, 0), 2, True),
])
def test_separable_conv_matches_numpy(stride, padding, pad, mult, use_bias):
    layer = layers.SeparableConv2D(5, 3, strides=stride, padding=padding, depth_multiplier=mult,
                                   use_bias=use_bias)
    x = jax.random.normal(jax.random.key(0), (2, 7, 7, 3))
    shapes = jax.eval_shape(layer.init, jax.random.key(1), x)["params"]
    assert shapes["depthwise_kernel"].shape == (3, 3, 3, mult)  # Keras layout
    assert shapes["pointwise_kernel"].shape == (1, 1, 3 * mult, 5)
    assert ("bias" in shapes) == use_bias
    rng = np.random.default_rng(0)
    p = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in shapes.items()}
    expected = np_separable_conv(np.asarray(x, np.float64), p["depthwise_kernel"],
                                 p["pointwise_kernel"], p.get("bias"), stride, pad)
    out = layer.apply({"params": p}, x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def np_same_max_pool(x, k, stride):
    """TF/Keras 'same' max pooling: out = ceil(n/s), extra padding at the end."""
    def pads(n):
        out = -(-n // stride)
        total = max((out - 1) * stride + k - n, 0)
        return total // 2, total - total // 2
    x = np.pad(x, ((0, 0), pads(x.shape[1]), pads(x.shape[2]), (0, 0)), constant_values=-np.inf)
    out_h = (x.shape[1] - k) // stride + 1
    out_w = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


@pytest.mark.parametrize("size", [7, 8])
def test_same_max_pool_matches_keras_rule(size):
    x = jax.random.normal(jax.random.key(2), (2, size, size, 3))
    out = layers.MaxPooling2D(3, 2, padding="SAME").apply({}, x)
    expected = np_same_max_pool(np.asarray(x), 3, 2)
    assert out.shape == expected.shape == (2, (size + 1) // 2, (size + 1) // 2, 3)
    np.testing.assert_allclose(out, expected)


def test_parameter_free_layers():
    x = jnp.arange(2 * 3 * 4 * 2, dtype=jnp.float32).reshape(2, 3, 4, 2)
    padded = layers.ZeroPadding2D(((1, 2), (0, 3))).apply({}, x)
    assert padded.shape == (2, 6, 7, 2)
    assert float(padded[:, 0].sum()) == 0 and float(padded[:, -2:].sum()) == 0
    np.testing.assert_array_equal(padded[:, 1:4, :4], x)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D().apply({}, x),
                               np.asarray(x).mean(axis=(1, 2)))
    np.testing.assert_array_equal(layers.GlobalMaxPooling2D().apply({}, x),
                                  np.asarray(x).max(axis=(1, 2)))
    np.testing.assert_array_equal(layers.Flatten().apply({}, x), np.asarray(x).reshape(2, 24))
    np.testing.assert_array_equal(layers.Add().apply({}, x, x, x), 3 * np.asarray(x))
    np.testing.assert_array_equal(layers.Activation("relu").apply({}, x - 10),
                                  np.maximum(np.asarray(x) - 10, 0))


def test_layer_errors_are_clear():
    with pytest.raises(ValueError, match="unknown activation 'relu6'"):
        layers.Activation("relu6")
    with pytest.raises(ValueError, match="one shape"):
        layers.Add().apply({}, jnp.zeros((1, 2)), jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="NHWC"):
        layers.check_image_batch(jnp.zeros((28, 28, 1)), "mnist_cnn")
    with pytest.raises(ValueError, match="at least 71x71"):
        layers.check_image_batch(jnp.zeros((1, 64, 64, 3)), "xception", min_size=71)
    with pytest.raises(ValueError, match="pooling must be"):
        layers.global_pool("mean")


@pytest.mark.parametrize("kernel, strides, padding, transpose_kernel, use_bias", [
    ((4, 4), (2, 2), "SAME", False, False),
    ((3, 3), (2, 2), "SAME", False, True),
    ((4, 4), (2, 2), "VALID", True, True),
    ((3, 2), (1, 2), ((1, 0), (2, 1)), False, True),
])
def test_conv_transpose_layer_matches_flax(kernel, strides, padding, transpose_kernel, use_bias):
    """Same parameters from the same key, same outputs and gradients as flax.linen.ConvTranspose."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32))
    ours = layers.ConvTranspose(4, kernel, strides, padding, use_bias=use_bias, transpose_kernel=transpose_kernel)
    ref = nn.ConvTranspose(4, kernel, strides, padding, use_bias=use_bias, transpose_kernel=transpose_kernel)
    v_ours, v_ref = ours.init(jax.random.key(1), x), ref.init(jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, v_ours) == jax.tree.map(jnp.shape, v_ref)
    for a, b in zip(jax.tree.leaves(v_ours), jax.tree.leaves(v_ref)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(ours.apply(v_ref, x)), np.asarray(ref.apply(v_ref, x)), rtol=1e-5, atol=1e-5)
    g_ours = jax.grad(lambda v: jnp.sum(jnp.sin(ours.apply(v, x))))(v_ref)
    g_ref = jax.grad(lambda v: jnp.sum(jnp.sin(ref.apply(v, x))))(v_ref)
    for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
