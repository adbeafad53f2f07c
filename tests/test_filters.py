"""The filter library: each filter responds to what it says, blurs sum to 1, the brown filter finds brown."""
import numpy as np
import pytest

from cnnlab.ops import filters, images, reference


def _line_image(orientation, size=9):
    """A dark image with one bright one-pixel line through the middle."""
    img = np.zeros((size, size), np.float32)
    if orientation == "horizontal":
        img[size // 2, :] = 1.0
    else:
        img[:, size // 2] = 1.0
    return img


def _edge_image(direction, size=8):
    """Bright (1) above / left of the middle, dark (0) below / right."""
    img = np.zeros((size, size), np.float32)
    if direction == "horizontal":
        img[: size // 2, :] = 1.0
    else:
        img[:, : size // 2] = 1.0
    return img


def test_line_detectors_respond_to_their_own_orientation_only():
    horizontal, vertical = _line_image("horizontal"), _line_image("vertical")
    h_on_h = reference.convolve(horizontal, filters.get_filter("horizontal_line"))
    v_on_h = reference.convolve(horizontal, filters.get_filter("vertical_line"))
    assert h_on_h.max() == 6.0  # 2 * 3 on the line
    assert np.unravel_index(h_on_h.argmax(), h_on_h.shape)[0] == 3  # the row centred on the line (4 - 1)
    np.testing.assert_array_equal(v_on_h, 0.0)  # -1 + 2 - 1 along the line, 0 on flat regions
    np.testing.assert_array_equal(reference.convolve(vertical, filters.get_filter("vertical_line")), h_on_h.T)
    assert h_on_h.max() > np.abs(reference.convolve(vertical, filters.get_filter("horizontal_line"))).max()


@pytest.mark.parametrize("family, peak", [("sobel", 4.0), ("prewitt", 3.0)])
def test_edge_detectors_respond_to_their_edge_direction(family, peak):
    h_kernel = filters.get_filter(f"{family}_horizontal")
    v_kernel = filters.get_filter(f"{family}_vertical")
    h_edge, v_edge = _edge_image("horizontal"), _edge_image("vertical")
    # bright above dark: the horizontal detector fires with +peak along the edge, the vertical one stays 0
    h_resp = reference.convolve(h_edge, h_kernel)
    assert h_resp.max() == peak and h_resp.min() == 0.0
    np.testing.assert_array_equal(h_resp[2:4], peak)  # the two rows whose window straddles the edge
    np.testing.assert_array_equal(reference.convolve(h_edge, v_kernel), 0.0)
    # bright left of dark: the other way round
    np.testing.assert_array_equal(reference.convolve(v_edge, v_kernel), h_resp.T)
    np.testing.assert_array_equal(reference.convolve(v_edge, h_kernel), 0.0)


def test_edge_kernels_are_transposes_and_flips_of_each_other():
    sobel_h = filters.get_filter("sobel_horizontal")
    np.testing.assert_array_equal(sobel_h, [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    np.testing.assert_array_equal(filters.get_filter("sobel_vertical"), sobel_h.T)
    np.testing.assert_array_equal(filters.get_filter("sobel_horizontal_flipped"), -sobel_h)
    np.testing.assert_array_equal(filters.get_filter("sobel_vertical_flipped"), -sobel_h.T)
    np.testing.assert_array_equal(filters.get_filter("prewitt_vertical"), filters.get_filter("prewitt_horizontal").T)
    np.testing.assert_array_equal(filters.get_filter("vertical_line"), filters.get_filter("horizontal_line").T)
    # the flipped Sobel fires on dark-above-bright edges
    flipped = reference.convolve(1.0 - _edge_image("horizontal"), filters.get_filter("sobel_horizontal_flipped"))
    assert flipped.max() == 4.0


@pytest.mark.parametrize("name", ["box_blur", "gaussian_blur", "sharpen"])
def test_smoothing_and_sharpening_kernels_sum_to_one_and_keep_flat_images(name):
    kernel = filters.get_filter(name)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
    flat = np.full((8, 8), 0.3, np.float32)
    np.testing.assert_allclose(reference.convolve(flat, kernel), 0.3, rtol=1e-5)


def test_gaussian_kernel_shape_symmetry_and_formula():
    k = filters.gaussian_kernel(5, 1.0)
    assert k.shape == (5, 5) and k.sum() == pytest.approx(1.0, abs=1e-6)
    assert k.argmax() == 12  # the centre
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])
    assert k[2, 3] / k[2, 2] == pytest.approx(np.exp(-0.5), rel=1e-5)  # one step at sigma 1
    wide = filters.gaussian_kernel(7, 3.0)
    assert wide.sum() == pytest.approx(1.0, abs=1e-6) and wide[3, 3] < k[2, 2]  # wider sigma, flatter peak
    np.testing.assert_allclose(filters.box_kernel(4), np.full((4, 4), 1 / 16))
    with pytest.raises(ValueError, match="odd"):
        filters.gaussian_kernel(4)
    with pytest.raises(ValueError, match="sigma must be positive"):
        filters.gaussian_kernel(3, 0.0)


def test_laplacian_ignores_flat_and_linear_images_and_finds_spots():
    lap = filters.get_filter("laplacian")
    assert lap.sum() == 0.0
    ramp = np.add.outer(np.arange(7.0), 2 * np.arange(7.0))  # a linear ramp
    np.testing.assert_allclose(reference.convolve(ramp, lap), 0.0, atol=1e-12)
    spot = np.zeros((5, 5))
    spot[2, 2] = 1.0
    assert reference.convolve(spot, lap)[1, 1] == -4.0


def test_emboss_is_antisymmetric_around_its_centre():
    emboss = filters.get_filter("emboss")
    np.testing.assert_array_equal(emboss + emboss[::-1, ::-1], [[0, 0, 0], [0, 2, 0], [0, 0, 0]])
    assert emboss.sum() == 1.0  # flat regions keep their brightness


def test_brown_filter_layout_and_response():
    brown = filters.get_filter("brown")
    assert brown.shape == (3, 3, 3)  # (kh, kw, C) after transpose((1, 2, 0)) from (C, kh, kw)
    chw = brown.transpose((2, 0, 1))
    np.testing.assert_allclose(chw[0], 1 / 9, rtol=1e-6)  # red up
    np.testing.assert_allclose(chw[2], -1.5 / 9, rtol=1e-6)  # blue down

    def patch(rgb):
        return np.broadcast_to(np.array(rgb, np.float32), (5, 5, 3))

    brown_resp = reference.convolve(patch([0.6, 0.3, 0.1]), brown)
    blue_resp = reference.convolve(patch([0.1, 0.2, 0.8]), brown)
    grey_resp = reference.convolve(patch([0.5, 0.5, 0.5]), brown)
    assert brown_resp.shape == (3, 3)
    np.testing.assert_allclose(brown_resp, 0.6, rtol=1e-5)  # r + 0.5 g - 1.5 b
    np.testing.assert_allclose(blue_resp, -1.0, rtol=1e-5)
    np.testing.assert_allclose(grey_resp, 0.0, atol=1e-6)


def test_brown_filter_finds_the_brown_cat_on_a_real_photo():
    cat = images.sample_image("chelsea")[::4, ::4]  # (75, 113, 3): a ginger tabby, pale grey wall on the right
    resp = filters.apply_filter(cat, filters.get_filter("brown"), impl="jax")
    h, w = resp.shape
    face = resp[h // 2: 5 * h // 6, w // 3: 2 * w // 3].mean()  # nose and muzzle
    wall = resp[:, -w // 8:].mean()  # the pale background strip on the right
    assert face > 0.35 and wall < 0.2
    assert face > 2 * wall


def test_get_filter_names_and_errors():
    assert len(filters.available()) == 14
    assert set(filters.DESCRIPTIONS) == set(filters.FILTERS)
    with pytest.raises(ValueError, match="unknown filter 'nope'; available filters: horizontal_line, "):
        filters.get_filter("nope")
    with pytest.raises(ValueError, match="unknown filter"):
        filters.describe("nope")
    assert "brown" in filters.describe("brown")


def test_library_kernels_cannot_be_changed_through_get_filter():
    k = filters.get_filter("sharpen")
    k[1, 1] = 100.0
    assert filters.get_filter("sharpen")[1, 1] == 5.0
    with pytest.raises(ValueError):
        filters.FILTERS["sharpen"][1, 1] = 0.0  # read-only array
    with pytest.raises(TypeError):
        filters.FILTERS["mine"] = np.ones((3, 3))  # read-only mapping


@pytest.mark.parametrize("image_shape, name", [((10, 12), "sobel_vertical"), ((10, 12, 3), "brown"),
                                               ((10, 12, 3), "gaussian_blur")])
def test_apply_filter_numpy_and_jax_agree(image_shape, name):
    image = np.random.default_rng(5).random(image_shape).astype(np.float32)
    kernel = filters.get_filter(name)
    slow = filters.apply_filter(image, kernel, impl="numpy")
    fast = filters.apply_filter(image, kernel, impl="jax")
    assert slow.dtype == fast.dtype == np.float32
    expected_shape = (image_shape[0] - kernel.shape[0] + 1, image_shape[1] - kernel.shape[1] + 1)
    if len(image_shape) == 3 and kernel.ndim == 2:
        expected_shape += (3,)  # a grey kernel filters each colour channel
    assert slow.shape == fast.shape == expected_shape
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)


def test_apply_filter_errors():
    with pytest.raises(ValueError, match="impl must be"):
        filters.apply_filter(np.zeros((5, 5)), filters.get_filter("box_blur"), impl="torch")
    with pytest.raises(ValueError, match="colour filter"):
        filters.apply_filter(np.zeros((5, 5)), filters.get_filter("brown"))
    with pytest.raises(ValueError, match="fit inside"):
        filters.apply_filter(np.zeros((4, 4, 3)), filters.get_filter("gaussian_blur"))
