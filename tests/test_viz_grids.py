"""Tiling, vis_square normalisation and PNG writing of grids (cnnlab.viz.grids)."""
import numpy as np
import pytest
from PIL import Image

from cnnlab.viz.grids import image_grid, normalize01, save_grid_png, tile_images, vis_square


def reference_tiling(tiles, ncols, padding, pad_value):
    """Slow per-pixel tiling: which tile (and where in it) each output pixel shows."""
    n, h, w = tiles.shape[:3]
    nrows = -(-n // ncols)
    out_h, out_w = nrows * h + (nrows - 1) * padding, ncols * w + (ncols - 1) * padding
    out = np.empty((out_h, out_w) + tiles.shape[3:], dtype=np.float64)
    for i in range(out_h):
        for j in range(out_w):
            r, di = divmod(i, h + padding)
            c, dj = divmod(j, w + padding)
            k = r * ncols + c
            if di >= h or dj >= w or k >= n:
                out[i, j] = pad_value
            else:
                out[i, j] = tiles[k, di, dj]
    return out


def test_tile_images_layout_of_five_tiles():
    tiles = np.arange(5 * 2 * 2, dtype=np.float32).reshape(5, 2, 2) + 100.0
    grid = tile_images(tiles, padding=1, pad_value=-1.0)
    # ceil(sqrt(5)) = 3 columns, 2 rows: (2*2 + 1, 3*2 + 2)
    assert grid.shape == (5, 8)
    np.testing.assert_array_equal(grid[0:2, 0:2], tiles[0])
    np.testing.assert_array_equal(grid[0:2, 3:5], tiles[1])
    np.testing.assert_array_equal(grid[3:5, 3:5], tiles[4])
    assert np.all(grid[2, :] == -1.0)  # padding row between the two tile rows
    assert np.all(grid[:, 2] == -1.0) and np.all(grid[:, 5] == -1.0)  # padding columns
    assert np.all(grid[3:5, 6:8] == -1.0)  # sixth slot is empty
    assert (grid == -1.0).sum() == grid.size - 5 * 4


@pytest.mark.parametrize("n,ncols,padding", [(1, None, 1), (7, None, 2), (10, 4, 0), (6, 6, 3)])
def test_tile_images_matches_per_pixel_reference(n, ncols, padding):
    rng = np.random.default_rng(n)
    tiles = rng.normal(size=(n, 3, 4)).astype(np.float32)
    grid = tile_images(tiles, ncols=ncols, padding=padding, pad_value=9.0)
    expected = reference_tiling(tiles, ncols or int(np.ceil(np.sqrt(n))), padding, 9.0)
    np.testing.assert_allclose(grid, expected, rtol=0, atol=0)


def test_vis_square_normalises_whole_figure_and_pads():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 5.0, size=(10, 3, 3)).astype(np.float32)
    grid = vis_square(data, padding=1, pad_value=0.25)
    # 10 tiles -> 4 columns, 3 rows
    assert grid.shape == (3 * 3 + 2, 4 * 3 + 3)
    normed = (data - data.min()) / (data.max() - data.min())
    np.testing.assert_allclose(grid, reference_tiling(normed, 4, 1, 0.25), atol=1e-6)
    tile_pixels = reference_tiling(np.zeros_like(data), 4, 1, 1.0) == 0  # where tiles sit
    assert tile_pixels.sum() == 10 * 9
    assert grid[tile_pixels].min() == 0.0 and grid[tile_pixels].max() == pytest.approx(1.0)
    assert np.all(grid[~tile_pixels] == 0.25)


def test_vis_square_colour_tiles_and_single_channel():
    rng = np.random.default_rng(1)
    colour = vis_square(rng.random((4, 5, 5, 3)), padding=2)
    assert colour.shape == (12, 12, 3)
    assert colour.min() == 0.0 and colour.max() == 1.0
    grey = vis_square(rng.random((4, 5, 5, 1)), padding=2)
    assert grey.shape == (12, 12)


def test_normalize01_constant_and_nan():
    np.testing.assert_array_equal(normalize01(np.full((2, 3), 7.0)), np.zeros((2, 3)))
    out = normalize01(np.array([1.0, np.nan, 3.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="infinities"):
        normalize01(np.array([1.0, np.inf]))


def test_vis_square_rejects_bad_shapes():
    with pytest.raises(ValueError, match="filter_grid"):
        vis_square(np.zeros((3, 3, 3, 16)))
    with pytest.raises(ValueError, match="zero tiles"):
        vis_square(np.zeros((0, 3, 3)))


def test_save_grid_png_exact_pixels(tmp_path):
    grid = np.linspace(0.0, 1.0, 5 * 8).reshape(5, 8)
    path = save_grid_png(grid, tmp_path / "sub" / "grid.png")  # parent folder created
    with Image.open(path) as im:
        assert im.size == (256, 160)  # auto scale ceil(256 / 8) = 32
        pixels = np.asarray(im.convert("RGB"))
    assert pixels[0, 0].tolist() == [0, 0, 0]
    assert pixels[31, 31].tolist() == [0, 0, 0] and pixels[32, 0].tolist() == [int(round(8 / 39 * 255))] * 3
    assert pixels[-1, -1].tolist() == [255, 255, 255]
    path = save_grid_png(grid, tmp_path / "viridis.png", scale=2, cmap="viridis")
    with Image.open(path) as im:
        assert im.size == (16, 10)
        assert len(set(map(tuple, np.asarray(im.convert("RGB")).reshape(-1, 3)))) == 40
    with pytest.raises(ValueError, match=".png"):
        save_grid_png(grid, tmp_path / "grid.jpg")
    with pytest.raises(ValueError, match="colormap"):
        save_grid_png(grid, tmp_path / "x.png", cmap="not_a_map")


def test_image_grid_layout_and_value_range(tmp_path):
    images = np.zeros((10, 8, 8, 3), dtype=np.float32) - 1.0  # tanh black
    images[3] = 1.0  # tanh white
    path = image_grid(images, nrow=4, out_path=tmp_path / "samples.png", padding=2,
                      pad_value=0.5, value_range=(-1.0, 1.0), scale=1)
    with Image.open(path) as im:
        assert im.size == (4 * 8 + 3 * 2, 3 * 8 + 2 * 2)
        px = np.asarray(im.convert("RGB"))
    assert px[0, 0].tolist() == [0, 0, 0]
    assert px[0, 3 * 10].tolist() == [255, 255, 255]  # tile 3: top row, fourth column
    assert px[8, 0].tolist() == [128, 128, 128]  # padding
    assert px[-1, -1].tolist() == [128, 128, 128]  # empty slot
    grey = image_grid(np.random.default_rng(0).random((3, 28, 28, 1)), nrow=3, out_path=tmp_path / "g.png")
    with Image.open(grey) as im:
        assert im.size == (3 * 88, 3 * 28)  # 88 px wide grid, auto scale ceil(256 / 88) = 3
