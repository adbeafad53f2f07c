"""Box drawing (cnnlab.viz.detection)."""
import numpy as np
import pytest
from PIL import Image

from cnnlab.viz.detection import boxes_figure, boxes_to_pixels, draw_boxes, draw_predictions
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


def _png(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_draw_predictions_writes_each_image_as_draw_boxes_would(tmp_path):
    images = np.zeros((3, 40, 50, 3), np.float32)
    images[2] = 0.5
    predictions = {  # batched, -1 padding; box 1 of image 0 scores under the threshold
        "boxes": np.array([[[0.2, 0.2, 0.6, 0.7], [0.7, 0.1, 0.9, 0.3], [0, 0, 0, 0]],
                           [[0.1, 0.1, 1.02, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]],  # past the edge: clipped
                           [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]], np.float32),
        "scores": np.array([[0.9, 0.2, 0.0], [0.6, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32),
        "labels": np.array([[2, 1, -1], [0, -1, -1], [-1, -1, -1]], np.int32),
    }
    true_boxes = np.array([[[0.25, 0.2, 0.6, 0.75], [-1, -1, -1, -1]], [[-1] * 4, [-1] * 4],
                           [[0.1, 0.1, 0.3, 0.3], [-1] * 4]], np.float32)
    true_labels = np.array([[2, -1], [-1, -1], [0, -1]], np.int32)
    names = ["a", "b", "c"]
    paths = draw_predictions(images, predictions, tmp_path / "out", names, score_threshold=0.3,
                             true_boxes=true_boxes, true_labels=true_labels, names=["x", "y", "z"])
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["x.png", "y.png", "z.png"]
    kept = [[0], [0], []]
    for i, path in enumerate(paths):
        real = true_labels[i] >= 0
        expected = draw_boxes(images[i], np.clip(predictions["boxes"][i][kept[i]], 0, 1),
                              predictions["labels"][i][kept[i]], tmp_path / f"ref{i}.png",
                              scores=predictions["scores"][i][kept[i]], class_names=names,
                              true_boxes=true_boxes[i][real], true_labels=true_labels[i][real])
        np.testing.assert_array_equal(_png(path), _png(expected))
    px = _png(paths[0])  # 512 x 409.6 -> scale 10.24
    colour = np.round(np.array(class_color(2)) * 255)
    assert np.abs(px[int(0.45 * 40 * 10.24), 101:104] - colour).max(axis=1).min() <= 12  # x1 = 0.2 * 512
    assert px[int(0.2 * 40 * 10.24), 358:361].max() == 0  # the hidden box's left edge (x = 0.7 * 512)
    default = draw_predictions(images[:1], predictions, tmp_path / "plain", names)
    assert default[0].endswith("prediction_000.png")
    with pytest.raises(ValueError, match="one name per image"):
        draw_predictions(images, predictions, tmp_path / "bad", names, names=["x"])
    with pytest.raises(ValueError, match="give both or neither"):
        draw_predictions(images, predictions, tmp_path / "bad", names, true_boxes=true_boxes)
