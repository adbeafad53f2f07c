"""Shapes generator, its TFDS builder, and the pipeline's order/resume/shard/padding contract."""
import numpy as np
import pytest
import scipy.ndimage

import cnnlab.data as data
from cnnlab.data import shapes, shapes_builder

SMALL = dict(num_train=48, num_validation=20, num_test=8)


def _config(**fields):
    base = dict(name="shapes", storage="memory", num_threads=0, **SMALL)
    base.update(fields)
    return base


def _components_boxes(mask, value):
    """Pixel-edge (x1, y1, x2, y2) boxes (in pixels) and sizes of the connected regions of mask == value."""
    labels, count = scipy.ndimage.label(mask == value, structure=np.ones((3, 3)))
    boxes, sizes = [], []
    for sl in scipy.ndimage.find_objects(labels):
        boxes.append((sl[1].start, sl[0].start, sl[1].stop, sl[0].stop))
    for k in range(1, count + 1):
        sizes.append(int((labels == k).sum()))
    return boxes, sizes


def _check_boxes_match_mask(images_hw, boxes, box_labels, masks, labels):
    height, width = images_hw
    for box_row, label_row, mask, label in zip(boxes, box_labels, masks, labels):
        real = label_row >= 0
        assert real.any()
        assert np.all(box_row[~real] == -1)
        b = box_row[real]
        assert np.all((b >= 0) & (b <= 1)) and np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
        found, largest = 0, {}
        for cls in np.unique(label_row[real]):
            regions, sizes = _components_boxes(mask, cls + 1)
            ours = b[label_row[real] == cls] * np.array([width, height, width, height])
            assert len(regions) == len(ours), "every object is one region of its class in the mask"
            for box in ours:
                dist = [np.abs(np.array(r) - box).max() for r in regions]
                assert min(dist) <= 1.0, (box, regions)
            found += len(regions)
            largest[int(cls)] = max(sizes)
        assert found == real.sum()
        assert largest[int(label)] == max(largest.values()), "label is the class of the largest object"


def test_draw_is_a_pure_function_of_seed_split_index():
    a = shapes.generate(6, seed=3, max_objects=3)
    b = shapes.generate(6, seed=3, max_objects=3)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    one = shapes.draw(3, 4, max_objects=3)
    np.testing.assert_array_equal(one["image"], a["image"][4])
    tail = shapes.generate(2, seed=3, start=4, max_objects=3)
    np.testing.assert_array_equal(tail["mask"], a["mask"][4:])
    assert not np.array_equal(shapes.generate(6, seed=4, max_objects=3)["image"], a["image"])
    assert not np.array_equal(shapes.generate(6, seed=3, split="test", max_objects=3)["image"], a["image"])


def test_generate_dtypes_and_classification_variant():
    d = shapes.generate(60, seed=0, image_size=(48, 40), num_classes=5)
    assert d["image"].shape == (60, 48, 40, 3) and d["image"].dtype == np.uint8
    assert d["label"].dtype == np.int32 and d["boxes"].shape == (60, 1, 4) and d["mask"].shape == (60, 48, 40)
    np.testing.assert_array_equal(d["box_labels"][:, 0], d["label"])
    assert set(np.unique(d["label"])) == set(range(5))
    assert set(np.unique(d["mask"])) <= set(range(6))
    # Backgrounds vary: per-image standard deviation spreads widely (solid, gradient, noise).
    spread = d["image"].reshape(60, -1).std(axis=1)
    assert spread.min() < 40 < spread.max()
    _check_boxes_match_mask((48, 40), d["boxes"], d["box_labels"], d["mask"], d["label"])


def test_detection_boxes_are_the_bounding_boxes_of_their_mask_regions():
    d = shapes.generate(40, seed=1, max_objects=4, num_classes=6)
    counts = (d["box_labels"] >= 0).sum(axis=1)
    assert counts.min() >= 1 and counts.max() == 4
    _check_boxes_match_mask((64, 64), d["boxes"], d["box_labels"], d["mask"], d["label"])


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="num_classes"):
        shapes.generate(1, num_classes=9)
    with pytest.raises(ValueError, match="min_objects"):
        shapes.generate(1, min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match="variant"):
        shapes_builder.config_for("segment")


def test_tfds_builder_prepares_offline_and_reads_back(tmp_path):
    import tensorflow_datasets as tfds

    config = shapes_builder.config_for("detect", **SMALL, seed=2)
    builder = shapes_builder.prepare(config, str(tmp_path))
    assert builder.info.splits["train"].num_examples == SMALL["num_train"]
    src = tfds.data_source("cnnlab_shapes", split="validation", data_dir=str(tmp_path),
                           builder_kwargs={"config": config}, download=False)
    assert len(src) == SMALL["num_validation"]
    expected = shapes.generate(SMALL["num_validation"], seed=2, split="validation", max_objects=4)
    for i in (0, 7, 19):
        for key in ("image", "boxes", "box_labels", "mask"):
            np.testing.assert_array_equal(src[i][key], expected[key][i])
        assert src[i]["label"] == expected["label"][i]
    # TFDS split slicing partitions the train split.
    head = builder.as_data_source("train[:75%]")
    tail = builder.as_data_source("train[75%:]")
    assert (len(head), len(tail)) == (36, 12)
    np.testing.assert_array_equal(tail[0]["image"], builder.as_data_source("train")[36]["image"])


def test_build_reads_the_builder_with_contract_dtypes_and_is_deterministic(tmp_path):
    batches = []
    for sub in ("a", "b"):  # two separate builds with the same seed give the same data
        cfg = _config(storage="tfds", data_dir=str(tmp_path / sub), variant="detect")
        ds = data.build(cfg, "train", 16, train=True, seed=7)
        batches.append(list(ds.epoch(1)))
    info = ds.info
    assert info.num_classes == 3 and info.class_names == ("circle", "square", "triangle")
    assert info.mask_class_names == ("background", "circle", "square", "triangle")
    assert info.image_shape == (64, 64, 3) and info.max_boxes == 4 and info.num_examples == 48
    assert ds.steps_per_epoch == 3 and len(batches[0]) == 3
    for x, y in zip(*batches):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    batch = batches[0][0]
    assert set(batch) == set(info.keys)
    assert batch["image"].dtype == np.float32 and batch["image"].shape == (16, 64, 64, 3)
    assert 0.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert batch["label"].dtype == np.int32 and batch["box_labels"].dtype == np.int32
    assert batch["boxes"].dtype == np.float32 and batch["mask"].dtype == np.int32 and batch["valid"].all()
    _check_boxes_match_mask((64, 64), batch["boxes"], batch["box_labels"], batch["mask"], batch["label"])
    # Same examples as drawing directly (the memory source) in the same order.
    memory = data.build(_config(variant="detect"), "train", 16, train=True, seed=7)
    np.testing.assert_array_equal(next(memory.epoch(1))["image"], batches[0][0]["image"])


def test_resume_reproduces_the_remaining_batches():
    ds = data.build(_config(num_threads=2), "train", 8, train=True, seed=5)
    full = list(ds.epoch(3))
    resumed = list(ds.epoch(3, start_step=4))
    assert len(full) == 6 and len(resumed) == 2
    for x, y in zip(full[4:], resumed):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    again = data.build(_config(), "train", 8, train=True, seed=5)  # a fresh Dataset: same order
    np.testing.assert_array_equal(again.indices(3), ds.indices(3))
    assert not np.array_equal(ds.indices(3), ds.indices(4)), "each epoch reshuffles"
    assert sorted(ds.indices(3).ravel()) == list(range(48))
    with pytest.raises(ValueError, match="start_step"):
        ds.epoch(0, start_step=7)


def test_process_shards_are_disjoint_and_cover_the_data():
    train = [data.build(_config(), "train", 12, train=True, seed=1, process_index=p, process_count=3)
             for p in range(3)]
    assert {d.steps_per_epoch for d in train} == {4} and train[0].local_batch_size == 4
    parts = [set(d.indices(0).ravel()) for d in train]
    assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1:])
    assert set().union(*parts) == set(range(48))
    # The batches carry exactly the examples their indices name.
    first = next(train[1].epoch(0))
    expected = shapes.generate(48, seed=0)["label"][train[1].indices(0)[0]]
    np.testing.assert_array_equal(first["label"], expected)
    evals = [data.build(_config(), "validation", 9, train=False, seed=0, process_index=p, process_count=3)
             for p in range(3)]
    idx = [d.indices(0).ravel() for d in evals]
    assert {d.steps_per_epoch for d in evals} == {3}  # ceil(ceil(20 / 3) / 3)
    real = [set(i[i >= 0]) for i in idx]
    assert sum(len(r) for r in real) == 20 and set().union(*real) == set(range(20))


def test_global_batches_do_not_depend_on_the_process_count():
    """Process p reads the p-th slice of every global batch, so P processes together
    see exactly the batches one process sees (20 validation examples: uneven, padded)."""
    for split, batch, train in (("train", 12, True), ("validation", 8, False)):
        one = data.build(_config(), split, batch, train=train, seed=3).indices(2)  # (steps, 12)
        for count in (2, 4):
            parts = [data.build(_config(), split, batch, train=train, seed=3, process_index=p,
                                process_count=count).indices(2) for p in range(count)]
            np.testing.assert_array_equal(np.concatenate(parts, axis=1), one)
        ids = one.ravel()
        real = ids[ids >= 0]
        assert len(set(real)) == len(real), "no example twice in an epoch"
        if train:
            assert len(real) == 48  # 48 = 4 global batches of 12: every example once
        else:
            np.testing.assert_array_equal(real, np.arange(20))
            assert (ids < 0).sum() == 4  # the padding of the last global batch


def test_eval_split_keeps_every_example_and_masks_the_padding():
    ds = data.build(_config(), "validation", 8, train=False, seed=0)
    batches = list(ds.epoch(0))
    assert ds.steps_per_epoch == 3 and len(batches) == 3
    valid = np.concatenate([b["valid"] for b in batches])
    np.testing.assert_array_equal(valid, np.arange(24) < 20)
    last = batches[-1]
    assert last["image"].shape == (8, 64, 64, 3)
    assert np.all(last["image"][4:] == 0) and np.all(last["mask"][4:] == 255)
    assert np.all(last["box_labels"][4:] == -1) and np.all(last["boxes"][4:] == -1)
    labels = np.concatenate([b["label"][b["valid"]] for b in batches])
    np.testing.assert_array_equal(labels, shapes.generate(20, seed=0, split="validation")["label"])
    train = data.build(_config(), "train", 20, train=True, seed=0)
    assert train.steps_per_epoch == 2, "train drops the last partial batch"


def test_pipeline_argument_errors():
    with pytest.raises(ValueError, match="multiple of process_count"):
        data.build(_config(), "train", 10, train=True, seed=0, process_count=3)
    with pytest.raises(ValueError, match="fewer than one training batch"):
        data.build(_config(), "test", 16, train=True, seed=0)
    with pytest.raises(ValueError, match="unknown data.name"):
        data.build({"name": "imagenette"}, "train", 4, train=True, seed=0)


def test_source_specific_extra_keys_pass_through_and_pad_with_zeros():
    from cnnlab.data.pipeline import Dataset, DatasetInfo, SplitSource

    def transform(i):
        return {"image": np.full((2, 2, 1), i, np.uint8), "label": i, "boxes": np.full((3, 4), 0.5, np.float32),
                "box_labels": np.array([i, -1, -1], np.int32), "box_difficult": np.array([True, False, False])}

    info = DatasetInfo("toy", "test", 5, tuple("abcde"), (2, 2, 1), 5, max_boxes=3, extra_keys=("box_difficult",))
    ds = Dataset(SplitSource(list(range(5)), transform, info), 4, train=False, num_threads=0)
    first, last = list(ds.epoch(0))
    assert set(first) == set(info.keys) and info.keys[-2:] == ("box_difficult", "valid")
    np.testing.assert_array_equal(last["box_difficult"][:, 0], [True, False, False, False])
    np.testing.assert_array_equal(last["box_labels"][:, 0], [4, -1, -1, -1])
    np.testing.assert_allclose(first["image"][:, 0, 0, 0], np.arange(4) / 255.0)
