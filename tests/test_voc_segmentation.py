"""VOC segmentation folders: a generated folder (palette, grayscale, RGB masks) and the real rock set."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab import data
from cnnlab.data import voc_segmentation as voc

ROCKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "voc_seg_rocks.tar.gz"


def _write_voc(root: Path, masks: dict, splits: dict, mask_mode="P", size=(12, 10)):
    """A VOC folder: one RGB JPEG per id, red channel 40 * (its position) + 10 everywhere."""
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    palette = voc.voc_colormap(256)
    for position, (image_id, mask) in enumerate(masks.items()):
        rgb = np.zeros(mask.shape + (3,), np.uint8)
        rgb[..., 0] = 40 * position + 10
        Image.fromarray(rgb).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
        if mask_mode == "P":
            png = Image.fromarray(mask.astype(np.uint8), mode="P")
            png.putpalette(palette.ravel().tolist())
        elif mask_mode == "RGB":
            colours = palette[mask]
            colours[mask == 255] = voc.VOC_BORDER_COLOUR
            png = Image.fromarray(colours)
        else:
            png = Image.fromarray(mask.astype(np.uint8), mode="L")
        png.save(root / "SegmentationClass" / f"{image_id}.png")
    for name, ids in splits.items():
        (root / "ImageSets" / "Segmentation" / f"{name}.txt").write_text("\n".join(ids) + "\n")


def _masks(rng, n, size=(12, 10), k=3):
    out = {}
    for i in range(n):
        mask = rng.integers(0, k, size=size).astype(np.uint8)
        mask[0, :] = 255  # a border row
        out[f"{i:06d}"] = mask
    return out


@pytest.mark.parametrize("mode", ["P", "L", "RGB"])
def test_generated_folder_reads_indices_and_ignore(tmp_path, mode):
    rng = np.random.default_rng(0)
    masks = _masks(rng, 5)
    root = tmp_path / "VOCdevkit" / "VOC2012"
    _write_voc(root, masks, {"train": ["000000", "000001", "000002"], "val": ["000003", "000004"]}, mode)
    if mode == "P":  # palette PNGs keep their indices, not the palette colours
        assert Image.open(root / "SegmentationClass" / "000000.png").mode == "P"
    # data.root may point above the VOC folder; 'validation' reads val.txt.
    ds = data.build({"name": "voc_segmentation", "root": str(tmp_path)}, "validation", 4,
                    train=False, seed=0)
    assert ds.info.num_classes == 3 and ds.info.class_names == ("class_0", "class_1", "class_2")
    assert ds.info.mask_class_names == ds.info.class_names and ds.info.num_examples == 2
    batch = next(ds.epoch(0))
    assert batch["image"].shape == (4, 12, 10, 3) and batch["mask"].dtype == np.int32
    np.testing.assert_array_equal(batch["mask"][0], masks["000003"])
    np.testing.assert_array_equal(batch["mask"][1], masks["000004"])
    assert np.all(batch["mask"][2:] == 255) and batch["valid"].tolist() == [True, True, False, False]
    counts = np.bincount(masks["000003"][masks["000003"] != 255], minlength=3)
    assert batch["label"][0] == np.argmax(counts[1:]) + 1
    # Each image is its own file, decoded to [0, 1] (JPEG tolerance).
    assert batch["image"][0, ..., 0].mean() * 255 == pytest.approx(130, abs=3)
    assert batch["image"][1, ..., 0].mean() * 255 == pytest.approx(170, abs=3)


def test_resizing_uses_nearest_for_masks(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 4:] = 2
    mask[0] = 255
    _write_voc(tmp_path, {"a": mask}, {"train": ["a"]})
    ds = data.build({"name": "voc_segmentation", "root": str(tmp_path), "image_size": (4, 16), "num_classes": 3},
                    "train", 1, train=True, seed=0)
    got = next(ds.epoch(0))["mask"][0]
    expected = np.asarray(Image.fromarray(mask).resize((16, 4), Image.NEAREST))
    np.testing.assert_array_equal(got, expected)
    assert set(np.unique(got)) <= {0, 2, 255}


def test_errors_name_the_cause(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.build({"name": "voc_segmentation", "root": str(tmp_path / "nope")}, "train", 1, train=True, seed=0)
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        data.build({"name": "voc_segmentation", "root": str(tmp_path)}, "train", 1, train=True, seed=0)
    rng = np.random.default_rng(1)
    _write_voc(tmp_path, _masks(rng, 2, k=5), {"train": ["000000", "000001"]})
    with pytest.raises(ValueError, match="splits here are \\['train'\\]"):
        data.build({"name": "voc_segmentation", "root": str(tmp_path)}, "test", 1, train=False, seed=0)
    with pytest.raises(ValueError, match="outside 0..2"):  # masks with values 0..4 but 3 classes
        ds = data.build({"name": "voc_segmentation", "root": str(tmp_path), "num_classes": 3,
                         "image_size": 8}, "train", 1, train=False, seed=0)
        next(ds.epoch(0))
    with pytest.raises(ValueError, match="disagrees"):
        data.build({"name": "voc_segmentation", "root": str(tmp_path), "num_classes": 3,
                    "class_names": ["a", "b"]}, "train", 1, train=False, seed=0)


def test_voc_colormap_and_class_names():
    cmap = voc.voc_colormap()
    assert cmap[0].tolist() == [0, 0, 0] and cmap[1].tolist() == [128, 0, 0]
    assert cmap[15].tolist() == [192, 128, 128]  # person
    assert cmap[255].tolist() == [224, 224, 192]  # the VOC border colour is index 255's
    assert len(voc.VOC_CLASSES) == 21 and voc.VOC_CLASSES[15] == "person"


@pytest.mark.skipif(not ROCKS.is_file(), reason=f"real rock set {ROCKS} is absent (../shared/data)")
def test_real_rock_archive(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    config = {"name": "voc_segmentation", "archive": os.fspath(ROCKS), "cache_dir": os.fspath(cache),
              "image_size": 64}
    train = data.build(config, "train", 8, train=True, seed=0)
    assert train.info.num_classes == 4 and train.info.num_examples == 707
    assert data.build(config, "val", 8, train=False, seed=0).info.num_examples == 23
    assert data.build(config, "test", 8, train=False, seed=0).info.num_examples == 26
    root = voc.resolve_root(config)
    assert root.name == "VOC2007" and root.parent.name == "VOCdevkit"
    # The masks are grayscale index PNGs holding exactly the classes 0..3, no border label.
    values = set()
    for image_id in voc.split_ids(root, "val"):
        with Image.open(root / "SegmentationClass" / f"{image_id}.png") as png:
            assert png.mode == "L" and png.size == (256, 256)
        values |= set(np.unique(voc.read_mask(root / "SegmentationClass" / f"{image_id}.png")).tolist())
    assert values == {0, 1, 2, 3}
    batch = next(train.epoch(0))
    assert batch["image"].shape == (8, 64, 64, 3) and batch["mask"].shape == (8, 64, 64)
    assert set(np.unique(batch["mask"])) <= {0, 1, 2, 3}
    # Grayscale SEM images read as RGB: three equal channels.
    np.testing.assert_allclose(batch["image"][..., 0], batch["image"][..., 2], atol=1 / 255)
