"""TFDS catalog datasets through tfds.data_source, served by tfds.testing.mock_data.

In tfds 4.9.10, ``mock_data`` patches ``DatasetBuilder.as_data_source``, so
``tfds.data_source`` works without TensorFlow under the default policy
(``MockPolicy.AUTO``, which falls back to ``USE_CODE`` when no metadata files
exist); ``USE_FILES`` needs copied metadata. The mock ignores split slicing
and serves random features, so VOC and Oxford pets get hand-made records
through ``as_data_source_fn`` to check the feature mapping with real numbers.
"""
import importlib.util

import numpy as np
import pytest
import tensorflow_datasets as tfds

import cnnlab.data as data


def _build(name, split="train", batch=4, train=True, **fields):
    return data.build(dict(name=name, num_threads=0, **fields), split, batch, train=train, seed=0)


@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3)),
                                        ("tfds:fashion_mnist", (28, 28, 1))])
def test_catalog_image_datasets_under_mock_data(name, shape):
    with tfds.testing.mock_data(num_examples=10):
        ds = _build(name)
        batches = list(ds.epoch(0))
        raw = tfds.data_source(name.removeprefix("tfds:"), split="train")
        raw_images = np.stack([raw[i]["image"] for i in range(10)])
    assert ds.info.num_classes == 10 and len(ds.info.class_names) == 10
    assert ds.info.image_shape == shape and ds.info.num_examples == 10
    assert ds.steps_per_epoch == 2 and len(batches) == 2
    batch = batches[0]
    assert set(batch) == {"image", "label", "valid"}
    assert batch["image"].shape == (4,) + shape and batch["image"].dtype == np.float32
    assert batch["label"].dtype == np.int32 and np.all((batch["label"] >= 0) & (batch["label"] < 10))
    # The batch holds the decoded examples the shuffled indices name, scaled to [0, 1].
    np.testing.assert_allclose(batch["image"], raw_images[ds.indices(0)[0]] / 255.0, atol=1e-6)


def test_catalog_resize_and_variable_size_datasets():
    with tfds.testing.mock_data(num_examples=6):
        with pytest.raises(ValueError, match="image_size"):
            _build("tf_flowers")
        batch = next(_build("tf_flowers", image_size=(20, 24)).epoch(0))
    assert batch["image"].shape == (4, 20, 24, 3)


def _voc_records(self, split=None, **kwargs):
    del self, split, kwargs
    image = np.zeros((40, 50, 3), np.uint8)
    objects = {
        "bbox": np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 0.9, 0.95]], np.float32),  # (ymin, xmin, ymax, xmax)
        "label": np.array([7, 14], np.int64),
        "is_difficult": np.zeros(2, bool), "is_truncated": np.zeros(2, bool), "pose": np.zeros(2, np.int64),
    }
    return [{"image": image + i, "image/filename": f"{i}.jpg", "objects": objects,
             "labels": np.array([7, 14]), "labels_no_difficult": np.array([7, 14])} for i in range(3)]


def test_voc_boxes_become_x1_y1_x2_y2_with_padding():
    with tfds.testing.mock_data(as_data_source_fn=_voc_records):
        ds = _build("voc/2007", split="validation", batch=2, train=False, max_boxes=5,
                    image_size=(40, 50))
        batches = list(ds.epoch(0))
    info = ds.info
    assert info.num_classes == 20 and info.class_names[14] == "person" and info.max_boxes == 5
    assert info.image_shape == (40, 50, 3)
    first = batches[0]
    np.testing.assert_allclose(first["boxes"][0, :2], [[0.2, 0.1, 0.6, 0.5], [0.0, 0.0, 0.95, 0.9]])
    np.testing.assert_array_equal(first["boxes"][0, 2:], -1)
    np.testing.assert_array_equal(first["box_labels"][0], [7, 14, -1, -1, -1])
    assert first["label"][0] == 14, "the largest object's class"
    np.testing.assert_array_equal(batches[1]["valid"], [True, False])
    np.testing.assert_array_equal(batches[1]["box_labels"][1], -1)


def _pet_records(self, split=None, **kwargs):
    del self, split, kwargs
    trimap = np.array([[1, 2], [3, 2]], np.uint8).repeat(4, 0).repeat(4, 1)[..., None]  # (8, 8, 1)
    return [{"image": np.full((8, 8, 3), 50 * i, np.uint8), "label": 30 + i, "species": 1,
             "file_name": f"{i}.jpg", "segmentation_mask": trimap, "head_bbox": np.zeros(4, np.float32)}
            for i in range(2)]


def test_oxford_pet_trimap_becomes_a_mask():
    with tfds.testing.mock_data(as_data_source_fn=_pet_records):
        batch = next(_build("oxford_iiit_pet", split="test", batch=2, train=False, image_size=4).epoch(0))
        ignore = next(_build("oxford_iiit_pet", split="test", batch=2, train=False, image_size=4,
                             pet_border="ignore").epoch(0))
    expected = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [2, 2, 0, 0], [2, 2, 0, 0]])
    np.testing.assert_array_equal(batch["mask"][0], expected)
    np.testing.assert_array_equal(ignore["mask"][1], np.where(expected == 2, 255, expected))
    np.testing.assert_array_equal(batch["label"], [30, 31])
    assert batch["image"].shape == (2, 4, 4, 3)
    np.testing.assert_allclose(batch["image"][1], 50 / 255.0, atol=1e-6)


def test_unprepared_dataset_gives_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="tfds build mnist") as caught:
        _build("mnist", data_dir=str(tmp_path), download=False)
    message = str(caught.value)
    assert "--config.data.data_dir" in message and str(tmp_path) in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    if importlib.util.find_spec("tensorflow") is None:  # no TensorFlow: fails at once, no download tried
        with pytest.raises(FileNotFoundError, match="TensorFlow is not installed"):
            _build("cifar10", data_dir=str(tmp_path), download=True)


def test_unknown_dataset_and_split_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown TFDS dataset"):
        _build("tfds:no_such_dataset_here", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="BuilderConfig"):
        _build("voc/1999", data_dir=str(tmp_path))
