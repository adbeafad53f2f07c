"""Label palette, mask colouring and segmentation panels (cnnlab.viz.segmentation, palette)."""
import numpy as np
import pytest
from PIL import Image

from cnnlab.viz.palette import class_color, label_palette
from cnnlab.viz.segmentation import (colorize_mask, overlay_mask, plot_segmentation, segmentation_figure,
                                     write_overlays)


def test_label_palette_matches_voc_colours():
    palette = label_palette(256)
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    # Colours of PASCAL VOC's own mask PNGs
    assert palette[0].tolist() == [0, 0, 0]
    assert palette[1].tolist() == [128, 0, 0]
    assert palette[2].tolist() == [0, 128, 0]
    assert palette[3].tolist() == [128, 128, 0]
    assert palette[4].tolist() == [0, 0, 128]
    assert palette[15].tolist() == [192, 128, 128]  # person
    assert palette[20].tolist() == [0, 64, 128]  # tvmonitor
    assert palette[255].tolist() == [224, 224, 192]  # ignore
    assert len({tuple(c) for c in palette}) == 256  # every label its own colour
    np.testing.assert_array_equal(label_palette(21), palette[:21])
    with pytest.raises(ValueError):
        label_palette(0)


def test_class_color_is_fixed_and_cycles():
    assert class_color(0) == class_color(20) != class_color(1)
    assert len({class_color(i) for i in range(20)}) == 20


def test_colorize_and_overlay():
    mask = np.array([[0, 1], [2, 255]])
    np.testing.assert_array_equal(colorize_mask(mask),
                                  [[[0, 0, 0], [128, 0, 0]], [[0, 128, 0], [224, 224, 192]]])
    np.testing.assert_array_equal(colorize_mask(mask[..., None].astype(np.float32)), colorize_mask(mask))
    image = np.full((2, 2, 3), 0.5, dtype=np.float32)
    np.testing.assert_allclose(overlay_mask(image, mask, alpha=1.0), colorize_mask(mask) / 255.0, atol=1e-6)
    np.testing.assert_allclose(overlay_mask(image, mask, alpha=0.0), image)
    np.testing.assert_allclose(overlay_mask(image, mask, alpha=0.5)[0, 1], [0.5 * 0.5 + 0.5 * 128 / 255, 0.25, 0.25],
                               atol=1e-6)
    grey = overlay_mask(np.zeros((2, 2)), mask, alpha=1.0)
    assert grey.shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        colorize_mask(np.array([[0, 300]]))
    with pytest.raises(ValueError, match="integer class indices"):
        colorize_mask(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="argmax"):
        colorize_mask(np.zeros((2, 2, 21)))
    with pytest.raises(ValueError, match="same height and width"):
        overlay_mask(np.zeros((3, 2, 3)), mask)
    with pytest.raises(ValueError, match="alpha"):
        overlay_mask(image, mask, alpha=1.5)


def test_segmentation_figure_panels_and_legend(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.random((20, 30, 3)).astype(np.float32)
    truth = np.zeros((20, 30), dtype=np.int32)
    truth[5:15, 5:20] = 2
    truth[0, :] = 255
    pred = np.zeros((20, 30), dtype=np.int32)
    pred[6:14, 4:18] = 2
    pred[18:, 25:] = 3
    fig = segmentation_figure(image, truth, pred, class_names=["background", "cat", "dog"], alpha=1.0)
    axes = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in axes] == ["image", "truth", "prediction"]
    np.testing.assert_allclose(axes[0].get_images()[0].get_array(), image, atol=1e-6)
    np.testing.assert_allclose(axes[2].get_images()[0].get_array(), colorize_mask(pred) / 255.0, atol=1e-6)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["background", "dog", "class 3", "ignore"]  # present classes only
    out = plot_segmentation(image, truth, pred, tmp_path / "seg.png")
    with Image.open(out) as im:
        w, h = im.size
        assert (w, h) == (round(100 * (3 * 3.2 + 1.8)), round(100 * (3.2 * 20 / 30 + 0.6)))
    out = plot_segmentation(image, truth, None, tmp_path / "seg2.png")
    with Image.open(out) as im:
        assert im.size[0] == round(100 * (2 * 3.2 + 1.8))


class _MaskReader:
    """A stand-in segmentation model: logits that pick the class written into the red channel."""

    def apply(self, variables, images, train=False):
        import jax
        import jax.numpy as jnp

        classes = jnp.round(images[..., 0] * 3).astype(jnp.int32)
        return 10.0 * jax.nn.one_hot(classes, 4) + variables["bias"]


def _png(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_write_overlays_draws_valid_examples_with_the_models_masks(tmp_path):
    rng = np.random.default_rng(1)
    masks = rng.integers(0, 4, (2, 3, 12, 16)).astype(np.int32)
    predicted = masks.copy()
    predicted[:, :, :4] = 1
    images = np.repeat((predicted[..., None] / 3.0).astype(np.float32), 3, axis=-1)
    batches = [{"image": images[0], "mask": masks[0], "valid": np.array([True, False, True])},
               {"image": images[1], "mask": masks[1]}]
    variables = {"bias": np.zeros(4, np.float32)}
    paths = write_overlays(_MaskReader(), variables, batches, tmp_path / "ov", class_names=["bg", "a", "b", "c"],
                           limit=3, prefix="test")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["test_000.png", "test_001.png", "test_002.png"]
    drawn = [(0, 0), (0, 2), (1, 0)]  # example 1 of the first batch is padding; the limit stops at 3
    for path, (b, i) in zip(paths, drawn):
        expected = plot_segmentation(images[b, i], masks[b, i], predicted[b, i], tmp_path / f"ref_{b}{i}.png",
                                     class_names=["bg", "a", "b", "c"])
        np.testing.assert_array_equal(_png(path), _png(expected))
    with pytest.raises(ValueError, match="limit"):
        write_overlays(_MaskReader(), variables, batches, tmp_path / "ov", limit=0)
