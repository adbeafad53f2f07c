"""Box drawing (cnnlab.viz.detection)."""
import numpy as np
import pytest
from PIL import Image

from cnnlab.viz.detection import boxes_figure, boxes_to_pixels, draw_boxes
from cnnlab.viz.palette import class_color


def test_boxes_to_pixels_scales_x_by_width_y_by_height():
    boxes = np.array([[0.1, 0.2, 0.5, 1.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(boxes_to_pixels(boxes, height=50, width=200),
                               [[20.0, 10.0, 100.0, 50.0], [0, 0, 0, 0]])
    pixel = np.array([[3.0, 4.0, 30.0, 40.0]])
    np.testing.assert_array_equal(boxes_to_pixels(pixel, 50, 200, normalized=False), pixel)
    with pytest.raises(ValueError, match="normalized=False"):
        boxes_to_pixels(pixel, 50, 200)
    with pytest.raises(ValueError, match=r"x2 < x1.*\(x1, y1, x2, y2\)"):
        boxes_to_pixels([[0.5, 0.1, 0.2, 0.3]], 50, 200)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        boxes_to_pixels([0.1, 0.2, 0.3, 0.4], 50, 200)


def render(fig):
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)  # (H, W, 3)


def test_boxes_drawn_in_class_colour_where_expected():
    image = np.zeros((60, 80, 3), dtype=np.float32)  # black: only the drawing adds colour
    boxes = np.array([[0.25, 0.25, 0.75, 0.75],   # class 2, kept
                      [0.05, 0.05, 0.15, 0.90],   # class 1, score under threshold: hidden
                      [0.0, 0.0, 0.0, 0.0]])      # padding
    fig = boxes_figure(image, boxes, [2, 1, -1], scores=[0.9, 0.2, 0.0],
                       class_names=["a", "b", "c"], score_threshold=0.5)
    px = render(fig)
    assert px.shape == (384, 512, 3)  # upscaled 6.4x so the longer side is 512
    expected = np.round(np.array(class_color(2)) * 255)
    left_edge_mid = px[192, 127:130]  # x1 = 0.25 * 80 * 6.4 = 128
    assert np.abs(left_edge_mid - expected).max(axis=1).min() <= 12
    assert px[192, 200].tolist() == [0, 0, 0]  # inside the box: untouched image
    assert px[250, 25:27].max() == 0  # the hidden box's left edge (x = 25.6) is not drawn
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["c 0.90"]


def test_truth_boxes_dashed_and_pixel_coordinates(tmp_path):
    image = (np.random.default_rng(0).random((30, 40)) * 255).astype(np.uint8)  # grey uint8
    fig = boxes_figure(image, [[4, 3, 20, 25]], [0], normalized=False,
                       true_boxes=[[5, 3, 21, 24]], true_labels=[0], class_names=["cell"])
    ax = fig.axes[0]
    styles = [p.get_linestyle() for p in ax.patches]
    assert styles == ["--", "-"]  # truth first (dashed), then predictions
    assert [t.get_text() for t in ax.texts] == ["cell", "cell"]
    np.testing.assert_allclose(ax.patches[1].get_xy(), (4, 3))
    assert ax.patches[1].get_width() == 16 and ax.patches[1].get_height() == 22
    out = draw_boxes(image, [[4, 3, 20, 25]], [0], tmp_path / "boxes.png", normalized=False)
    with Image.open(out) as im:
        assert im.size == (512, 384)
    out = draw_boxes(image, [[4, 3, 20, 25]], [0], tmp_path / "small.png", normalized=False, min_size=40)
    with Image.open(out) as im:
        assert im.size == (40, 30)


def test_draw_boxes_errors(tmp_path):
    image = np.zeros((10, 10, 3))
    with pytest.raises(ValueError, match="one per box"):
        draw_boxes(image, [[0, 0, 1, 1]], [0, 1], tmp_path / "x.png")
    with pytest.raises(ValueError, match="scores must be shaped"):
        draw_boxes(image, [[0, 0, 1, 1]], [0], tmp_path / "x.png", scores=[0.1, 0.2])
    with pytest.raises(ValueError, match="true_labels"):
        draw_boxes(image, [[0, 0, 1, 1]], [0], tmp_path / "x.png", true_boxes=[[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        draw_boxes(np.zeros((10, 10, 4)), [[0, 0, 1, 1]], [0], tmp_path / "x.png")
