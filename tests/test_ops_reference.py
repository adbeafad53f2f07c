"""The numpy references: hand-computed lesson examples and scipy as an independent check."""
import numpy as np
import pytest
from scipy import signal

from cnnlab.ops import reference

# The classic lesson example: a 6x6 image, bright left half, dark right half,
# and a 3x3 vertical edge detector; the edge shows up as 30s in the middle columns.
LESSON_IMAGE = np.array([[10, 10, 10, 0, 0, 0]] * 6, np.float64)
VERTICAL_EDGE = np.array([[1, 0, -1]] * 3, np.float64)
LESSON_OUTPUT = np.array([[0, 30, 30, 0]] * 4, np.float64)


def test_multiply_sum_is_elementwise_product_summed():
    patch = np.array([[1, 2], [3, 4]])
    kernel = np.array([[0, -1], [2, 0.5]])
    assert reference.multiply_sum(patch, kernel) == pytest.approx(0 - 2 + 6 + 2)


def test_multiply_sum_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must equal kernel shape"):
        reference.multiply_sum(np.ones((3, 3)), np.ones((2, 2)))


def test_convolve_reproduces_the_lesson_edge_example():
    out = reference.convolve(LESSON_IMAGE, VERTICAL_EDGE)
    assert out.shape == (4, 4)  # 6 - 3 + 1
    np.testing.assert_array_equal(out, LESSON_OUTPUT)


def test_convolve_hand_computed_small_example():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    kernel = np.array([[1, 0], [0, -1]], np.float32)  # x[i, j] - x[i + 1, j + 1] = -5 everywhere
    out = reference.convolve(image, kernel)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.full((2, 3), -5.0))


def test_convolve_grey_matches_scipy_valid_correlation():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(9, 11)), rng.normal(size=(3, 5))
    np.testing.assert_allclose(
        reference.convolve(image, kernel), signal.correlate2d(image, kernel, mode="valid"), rtol=1e-12)


def test_convolve_colour_sums_over_channels_to_a_2d_output():
    rng = np.random.default_rng(1)
    image, kernel = rng.normal(size=(8, 7, 3)), rng.normal(size=(3, 2, 3))
    out = reference.convolve(image, kernel)
    assert out.shape == (6, 6)
    expected = sum(signal.correlate2d(image[..., c], kernel[..., c], mode="valid") for c in range(3))
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("image_shape, kernel_shape, match", [
    ((5, 5), (6, 3), "fit inside the image"),
    ((5, 5, 3), (3, 3, 4), "give a kernel of shape"),
    ((5, 5), (3, 3, 3), "colour filter"),
    ((5, 5, 3), (3, 3), "kernel must be"),
    ((5,), (3,), "grey \\(H, W\\) or colour"),
])
def test_convolve_rejects_bad_shapes(image_shape, kernel_shape, match):
    with pytest.raises(ValueError, match=match):
        reference.convolve(np.zeros(image_shape), np.zeros(kernel_shape))


def test_conv2d_reference_plain_case_matches_scipy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 7, 6, 3))
    k = rng.normal(size=(3, 3, 3, 4))
    out = reference.conv2d_reference(x, k)
    assert out.shape == (2, 5, 4, 4)
    for b in range(2):
        for o in range(4):
            expected = sum(signal.correlate2d(x[b, :, :, c], k[:, :, c, o], mode="valid") for c in range(3))
            np.testing.assert_allclose(out[b, :, :, o], expected, rtol=1e-10, atol=1e-12)


def test_conv2d_reference_stride_padding_dilation_by_hand():
    x = np.arange(25, dtype=np.float64).reshape(1, 5, 5, 1)
    k = np.ones((2, 2, 1, 1))
    # dilation 2: each output sums x[i, j] + x[i, j + 2] + x[i + 2, j] + x[i + 2, j + 2] = 4 x[i, j] + 24
    out = reference.conv2d_reference(x, k, dilation=2)
    np.testing.assert_array_equal(out[0, :, :, 0], 4 * x[0, :3, :3, 0] + 24)
    # padding 1 and stride 2: the corner window holds only x[0, 0] = 0, the next one x[0, 1] + x[0, 2] = 3
    out = reference.conv2d_reference(x, k, stride=2, padding=1)
    assert out.shape == (1, 3, 3, 1)
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 1, 0] == 3
    # bias is added to every position
    out = reference.conv2d_reference(x, k, bias=np.array([10.0]))
    assert out[0, 0, 0, 0] == 0 + 1 + 5 + 6 + 10


def test_conv2d_reference_groups_are_independent_convolutions():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 6, 6, 4))
    k = rng.normal(size=(3, 3, 2, 6))  # 2 groups: channels 0-1 -> outputs 0-2, channels 2-3 -> outputs 3-5
    out = reference.conv2d_reference(x, k, groups=2)
    first = reference.conv2d_reference(x[..., :2], k[..., :3])
    second = reference.conv2d_reference(x[..., 2:], k[..., 3:])
    np.testing.assert_allclose(out, np.concatenate([first, second], axis=-1))


def test_pool_references_by_hand():
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(reference.max_pool_reference(x, 2)[0, :, :, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(reference.avg_pool_reference(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    # 'same' 3x3 stride 1: the corner averages only the 4 real pixels (Keras), not 9 with zeros
    same = reference.avg_pool_reference(x, 3, 1, "same")[0, :, :, 0]
    assert same.shape == (4, 4)
    assert same[0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert same[1, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))
    # max with padding never picks the padding, even for negative inputs
    neg = -1.0 - x
    assert reference.max_pool_reference(neg, 3, 1, 1)[0, 0, 0, 0] == -1.0


def test_references_reject_unbatched_input():
    with pytest.raises(ValueError, match="batch of images"):
        reference.conv2d_reference(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 1)))
    with pytest.raises(ValueError, match="batch of images"):
        reference.max_pool_reference(np.zeros((5, 5, 1)), 2)
    with pytest.raises(ValueError, match="groups="):
        reference.conv2d_reference(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 1, 4)), groups=3)
