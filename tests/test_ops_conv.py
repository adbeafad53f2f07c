"""The jax conv and pool ops against the numpy loops, over a grid of stride/padding/dilation/groups."""
import functools
import itertools
import zlib

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest

from cnnlab.ops import conv, pool, reference

HIGHEST = jax.lax.Precision.HIGHEST  # exact float32 on GPUs too (no TF32)


@pytest.mark.parametrize("stride, padding, dilation, groups", itertools.product(
    [1, 2, (2, 1)], ["VALID", "SAME", 1, ((2, 0), (1, 2))], [1, 2], [1, 2]))
def test_conv2d_matches_reference(stride, padding, dilation, groups):
    rng = np.random.default_rng(zlib.crc32(repr((stride, padding, dilation, groups)).encode()))
    x = rng.normal(size=(2, 9, 8, 4)).astype(np.float32)
    k = rng.normal(size=(3, 2, 4 // groups, 6)).astype(np.float32)
    bias = rng.normal(size=(6,)).astype(np.float32)
    got = conv.conv2d(x, k, bias, stride, padding, dilation, groups, precision=HIGHEST)
    want = reference.conv2d_reference(x, k, bias, stride, padding, dilation, groups)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)


def test_conv2d_depthwise_matches_reference():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 7, 7, 3)).astype(np.float32)
    k = rng.normal(size=(3, 3, 1, 6)).astype(np.float32)  # channel multiplier 2
    got = conv.conv2d(x, k, groups=3, padding="SAME", precision=HIGHEST)
    np.testing.assert_allclose(np.asarray(got), reference.conv2d_reference(x, k, groups=3, padding="SAME"),
                               rtol=1e-5, atol=1e-5)


def test_conv2d_jits_and_takes_uint8_images():
    x = np.arange(2 * 6 * 6 * 1).reshape(2, 6, 6, 1).astype(np.uint8)
    k = np.ones((3, 3, 1, 1), np.float32)
    fn = jax.jit(functools.partial(conv.conv2d, stride=2, padding="SAME", precision=HIGHEST))
    got = fn(x, k)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), reference.conv2d_reference(x, k, stride=2, padding="SAME"))


def test_filter_image_matches_the_lesson_convolve():
    rng = np.random.default_rng(8)
    grey, k2 = rng.random((12, 10)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    colour, k3 = rng.random((12, 10, 3)).astype(np.float32), rng.normal(size=(5, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(conv.filter_image(grey, k2, precision=HIGHEST)),
                               reference.convolve(grey, k2), rtol=1e-5, atol=1e-5)
    out = conv.filter_image(colour, k3, precision=HIGHEST)
    assert out.shape == (8, 8)
    np.testing.assert_allclose(np.asarray(out), reference.convolve(colour, k3), rtol=1e-5, atol=1e-5)


def test_depthwise_filter_image_filters_each_channel():
    rng = np.random.default_rng(9)
    image, k = rng.random((9, 8, 3)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    out = np.asarray(conv.depthwise_filter_image(image, k, precision=HIGHEST))
    assert out.shape == (7, 6, 3)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], reference.convolve(image[..., c], k), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("window, stride, padding", itertools.product(
    [2, 3, (3, 2)], [None, 1, 2], ["VALID", "SAME", 1]))
def test_pools_match_reference(window, stride, padding):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 7, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(pool.max_pool(x, window, stride, padding)),
                               reference.max_pool_reference(x, window, stride, padding), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(pool.avg_pool(x, window, stride, padding)),
                               reference.avg_pool_reference(x, window, stride, padding), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("window, padding, shape", [
    (2, "VALID", (2, 8, 8, 3)), (2, "VALID", (2, 7, 9, 3)), (2, "SAME", (2, 7, 9, 3)),
    ((3, 2), 1, (1, 7, 8, 2)), (3, "SAME", (1, 10, 11, 2))])
def test_tiled_max_pool_gradient_equals_reduce_window(window, padding, shape):
    """Window == stride pools take the reshape path; without ties its gradient is reduce_window's."""
    x = jnp.asarray(np.random.default_rng(3).normal(size=shape).astype(np.float32))
    _, dims, strides, lax_padding = pool._prepare(x, window, None, padding)
    slow = lambda x: lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, lax_padding)
    cot = jnp.asarray(np.random.default_rng(4).normal(size=slow(x).shape).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(pool.max_pool(x, window, None, padding)), np.asarray(slow(x)))
    grad_fast = jax.grad(lambda x: jnp.sum(pool.max_pool(x, window, None, padding) * cot))(x)
    grad_slow = jax.grad(lambda x: jnp.sum(slow(x) * cot))(x)
    np.testing.assert_array_equal(np.asarray(grad_fast), np.asarray(grad_slow))


def test_tiled_max_pool_splits_gradient_between_tied_maxima():
    x = jnp.asarray([[1.0, 3.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    grad = jax.grad(lambda x: pool.max_pool(x, 2).sum())(x)
    np.testing.assert_array_equal(np.asarray(grad)[0, :, :, 0], [[0.0, 0.5], [0.5, 0.0]])


def test_max_pool_keeps_bfloat16():
    x = jnp.ones((1, 4, 4, 2), jnp.bfloat16)
    assert pool.max_pool(x, 2).dtype == jnp.bfloat16
    assert pool.max_pool(x, 3, 2, "SAME").dtype == jnp.bfloat16


def test_avg_pool_same_counts_only_real_pixels_like_keras():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    out = pool.avg_pool(x, 3, 1, "SAME")[0, :, :, 0]
    assert float(out[0, 0]) == pytest.approx((0 + 1 + 4 + 5) / 4)  # zero-padded counting would give 10 / 9
    assert float(out[3, 3]) == pytest.approx((10 + 11 + 14 + 15) / 4)
    assert float(out[1, 2]) == pytest.approx(np.mean([1, 2, 3, 5, 6, 7, 9, 10, 11]))


def test_max_pool_ignores_padding_for_negative_inputs():
    x = -jnp.arange(1.0, 17.0).reshape(1, 4, 4, 1)
    out = pool.max_pool(x, 2, 2, "SAME")
    np.testing.assert_array_equal(np.asarray(out[0, :, :, 0]), [[-1, -3], [-9, -11]])


def test_global_pools():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(pool.global_avg_pool(x)), x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(pool.global_max_pool(x)), x.max(axis=(1, 2)))
    assert pool.global_avg_pool(x, keepdims=True).shape == (2, 1, 1, 3)
    # global average pooling is an average pool with the whole image as its window
    np.testing.assert_allclose(np.asarray(pool.global_avg_pool(x, keepdims=True)),
                               np.asarray(pool.avg_pool(x, (5, 4))), rtol=1e-5)


def test_zero_pad_matches_numpy_pad():
    x = np.random.default_rng(13).normal(size=(2, 3, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(conv.zero_pad(x, 2)), np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))))
    np.testing.assert_array_equal(np.asarray(conv.zero_pad(x, ((1, 0), (0, 3)))),
                                  np.pad(x, ((0, 0), (1, 0), (0, 3), (0, 0))))
    # 'valid' conv of the padded input equals conv with that padding
    k = np.ones((3, 3, 2, 1), np.float32)
    np.testing.assert_allclose(np.asarray(conv.conv2d(conv.zero_pad(x, 1), k)),
                               np.asarray(conv.conv2d(x, k, padding=1)), rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda: conv.conv2d(np.zeros((5, 5, 3)), np.zeros((3, 3, 3, 1))), "batch of images"),
    (lambda: conv.conv2d(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 3))), "HWIO"),
    (lambda: conv.conv2d(np.zeros((1, 5, 5, 4)), np.zeros((3, 3, 4, 3)), groups=2), "groups=2"),
    (lambda: conv.conv2d(np.zeros((1, 5, 5, 4)), np.zeros((3, 3, 4, 3)), groups=0), "positive integer"),
    (lambda: conv.conv2d(np.zeros((1, 2, 5, 1)), np.zeros((3, 3, 1, 1))), "does not fit"),
    (lambda: conv.conv2d(np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 2)), bias=np.zeros(3)), "bias"),
    (lambda: conv.conv2d(np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 2)), padding="full"), "padding must be"),
    (lambda: conv.zero_pad(np.zeros((1, 5, 5, 1)), "same"), "explicit amounts"),
    (lambda: pool.max_pool(np.zeros((5, 5, 1)), 2), "batch of images"),
    (lambda: pool.avg_pool(np.zeros((1, 5, 5, 1)), 2, padding=2), "smaller than the window"),
    (lambda: conv.filter_image(np.zeros((5, 5)), np.zeros((3, 3, 3))), "colour filter"),
    (lambda: conv.depthwise_filter_image(np.zeros((5, 5)), np.zeros((3, 3))), "depthwise"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
