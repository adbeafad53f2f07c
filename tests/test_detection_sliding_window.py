"""The sliding-window baseline: window grid, crops, threshold + NMS, training crops."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab.boxes import pairwise_iou
from cnnlab.models.sliding_window import (crop_windows, sliding_window_detect, training_windows,
                                          window_boxes)


def test_window_grid_covers_the_image_edges():
    w = window_boxes((20, 30), [10, 20], stride_fraction=0.5)
    # size 10, stride 5: y in {0, 5, 10}, x in {0, 5, .., 20}; size 20, stride 10: y {0}, x {0, 10}
    assert len(w) == 3 * 5 + 1 * 2
    assert w[:, 2].max() == 30 and w[:, 3].max() == 20 and w.min() == 0
    assert len(window_boxes((20, 30), [12], 0.5)) == 3 * 4  # 0, 6, 8 / 0, 6, 12, 18
    with pytest.raises(ValueError, match="window size"):
        window_boxes((20, 30), [25])


def test_crops_are_the_windows_resized():
    image = np.arange(16 * 16, dtype=np.float32).reshape(16, 16, 1) / 256
    crops = np.asarray(crop_windows(image, np.array([[4, 8, 12, 16], [0, 0, 16, 16]], np.float32), (8, 8)))
    np.testing.assert_allclose(crops[0, ..., 0], image[8:16, 4:12, 0], atol=1e-6)  # same size: a copy
    # 2x antialiased downsampling of a linear ramp: the ramp at the output pixel centres
    # (the filter is truncated at the image border, so compare the interior).
    want = image[::2, ::2, 0] + (0.5 + 16 * 0.5) / 256
    np.testing.assert_allclose(crops[1, 1:-1, 1:-1, 0], want[1:-1, 1:-1], atol=1e-5)


def test_detects_bright_squares_with_an_objectness_function():
    image = np.zeros((48, 48, 3), np.float32)
    truth = np.array([[6, 6, 18, 18], [27, 21, 45, 39]], np.float32)  # 12 and 18 pixels wide
    for x1, y1, x2, y2 in truth.astype(int):
        image[y1:y2, x1:x2] = 1.0

    def objectness(crops):  # (n, 8, 8, 3): a template that wants the object on the inner 6x6
        inner = jnp.mean(crops[:, 1:7, 1:7], axis=(1, 2, 3))
        ring = (jnp.sum(crops, axis=(1, 2, 3)) - 36 * 3 * inner) / (28 * 3)
        return inner - ring

    found = sliding_window_detect(objectness, image, [16, 24], (8, 8), stride_fraction=0.25,
                                  threshold=0.5, iou_threshold=0.3)
    assert len(found["boxes"]) == 2 and (found["labels"] == 0).all()
    assert np.all(np.diff(found["scores"]) <= 0) and found["scores"][-1] > 0.75  # blurred edges cost a little
    # The best windows are the objects padded by 1/8 on each side: IoU (6/8)^2 = 0.5625.
    iou = np.asarray(pairwise_iou(found["boxes"] * 48, truth))
    np.testing.assert_allclose(np.sort(iou.max(axis=1)), [0.5625, 0.5625], atol=1e-6)


def test_class_probabilities_and_training_windows():
    image = np.zeros((32, 32, 3), np.float32)
    image[8:24, 8:24, 0] = 1.0  # a red square of class 1
    boxes = np.array([[[0.25, 0.25, 0.75, 0.75], [-1, -1, -1, -1]]], np.float32)
    labels = np.array([[1, -1]], np.int32)
    data = training_windows(image[None], boxes, labels, [16], (8, 8), stride_fraction=0.5)
    positives = data["label"] == 2  # class 1 -> target 2 (0 is background)
    assert positives.sum() == 1 and (data["label"][~positives] == 0).all()
    assert data["image"][positives][:, 1:-1, 1:-1, 0].min() > 0.99  # (the antialias filter blurs the rim)

    def classifier(crops):  # (n, 1 + 2): background, class 0 (green), class 1 (red)
        red = jnp.mean(crops[..., 0], axis=(1, 2))
        return jnp.stack([1 - red, jnp.zeros_like(red), red], -1)

    found = sliding_window_detect(classifier, image, [16], (8, 8), stride_fraction=0.5, threshold=0.9)
    assert found["labels"].tolist() == [1]
    np.testing.assert_allclose(found["boxes"][0], [0.25, 0.25, 0.75, 0.75])
