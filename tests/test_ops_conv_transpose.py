"""Sub-pixel transposed convolution against jax.lax.conv_transpose: values and both gradients."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.ops.conv_transpose import conv_transpose, transpose_padding

HIGHEST = jax.lax.Precision.HIGHEST
DN = ("NHWC", "HWIO", "NHWC")


def _reference(x, w, stride, padding, transpose_kernel):
    return jax.lax.conv_transpose(x, w, (stride, stride), padding, dimension_numbers=DN,
                                  transpose_kernel=transpose_kernel, precision=HIGHEST)


@pytest.mark.parametrize("k, stride, padding, transpose_kernel", itertools.product(
    [1, 2, 3, 4, 5], [1, 2, 3], ["SAME", "VALID", ((1, 2), (0, 3))], [False, True]))
def test_conv_transpose_equals_lax(k, stride, padding, transpose_kernel):
    rng = np.random.default_rng(k * 100 + stride)
    x = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)
    w_shape = (k, k + 1, 4, 3) if transpose_kernel else (k, k + 1, 3, 4)
    w = rng.normal(size=w_shape).astype(np.float32)
    ref = _reference(x, w, stride, padding, transpose_kernel)
    out = conv_transpose(x, w, stride, padding, transpose_kernel, precision=HIGHEST)
    assert out.shape == ref.shape
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k, stride, padding, transpose_kernel", [
    (4, 2, "SAME", False),  # DCGAN generator
    (3, 2, "SAME", False),  # autoencoder decoder
    (4, 2, "VALID", True),  # FCN 2x upsampling
    (16, 8, "VALID", True),  # FCN-8s final upsampling
])
def test_conv_transpose_gradients_equal_lax(k, stride, padding, transpose_kernel):
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.normal(size=(2, 4, 5, 3)).astype(np.float32))
    w = jnp.asarray(rng.normal(size=(k, k, 3, 3)).astype(np.float32))
    out_shape = _reference(x, w, stride, padding, transpose_kernel).shape
    cot = jnp.asarray(rng.normal(size=out_shape).astype(np.float32))
    fast = jax.grad(lambda x, w: jnp.sum(conv_transpose(x, w, stride, padding, transpose_kernel, HIGHEST) * cot),
                    argnums=(0, 1))(x, w)
    slow = jax.grad(lambda x, w: jnp.sum(_reference(x, w, stride, padding, transpose_kernel) * cot),
                    argnums=(0, 1))(x, w)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_transpose_padding_gives_keras_output_sizes():
    # 'SAME' multiplies the size by the stride; 'VALID' gives (n - 1) * s + max(k, s).
    for k, s in [(4, 2), (3, 2), (16, 8), (1, 2)]:
        a, b = transpose_padding(k, s, "SAME")
        assert (7 - 1) * s + 1 + a + b - k + 1 == 7 * s
        a, b = transpose_padding(k, s, "VALID")
        assert (7 - 1) * s + 1 + a + b - k + 1 == (7 - 1) * s + max(k, s)


def test_conv_transpose_errors_name_the_problem():
    with pytest.raises(ValueError, match="input channels"):
        conv_transpose(np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 2, 5)), 2)
    with pytest.raises(ValueError, match="padding must be"):
        conv_transpose(np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 3, 5)), 2, "FULL")
    with pytest.raises(ValueError, match="no output"):
        conv_transpose(np.zeros((1, 2, 2, 3)), np.zeros((9, 9, 3, 5)), 1, ((0, 0), (0, 0)))


def test_conv_transpose_accepts_every_padding_spelling():
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(1, 4, 5, 2)).astype(np.float32), rng.normal(size=(3, 3, 2, 2)).astype(np.float32)
    explicit = np.asarray(conv_transpose(x, w, 2, ((1, 1), (2, 2))))
    np.testing.assert_array_equal(np.asarray(conv_transpose(x, w, 2, (1, 2))), explicit)
    np.testing.assert_array_equal(np.asarray(conv_transpose(x, w, 2, 1)), np.asarray(conv_transpose(x, w, 2, ((1, 1), (1, 1)))))
    np.testing.assert_array_equal(np.asarray(conv_transpose(x, w, 2, "same")), np.asarray(conv_transpose(x, w, 2, "SAME")))
