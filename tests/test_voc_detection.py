"""PASCAL VOC folders: the XML parser, splits, difficult flags, batches; the real cells set."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnlab  # noqa: F401
from cnnlab import data as data_lib
from cnnlab.data import voc_detection
from cnnlab.data.pipeline import Dataset

CELLS = Path(__file__).resolve().parents[2] / "shared" / "data" / "voc_det_cells.tar.gz"

XML = """<annotation>
  <folder>VOC2007</folder><filename>{id}.jpg</filename>
  <size><width>{w}</width><height>{h}</height><depth>3</depth></size>
  {objects}
</annotation>"""
OBJ = """<object><name>{name}</name><pose>Left</pose><truncated>{t}</truncated><difficult>{d}</difficult>
  <bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"""

# id -> (width, height, [(name, xmin, ymin, xmax, ymax, difficult)])
EXAMPLES = {
    "000001": (40, 30, [("dog", 1, 1, 20, 15, 0), ("cat", 21, 5, 40, 30, 1)]),
    "000002": (30, 40, [("person", 5, 6, 25, 35, 0)]),
    "000003": (40, 40, [("dog", 11, 11, 30, 30, 0), ("person", 2, 2, 8, 8, 0), ("cat", 1, 30, 10, 40, 0)]),
}


def _write_voc(root: Path, examples=EXAMPLES):
    base = root / "VOCdevkit" / "VOC2007"
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for image_id, (w, h, objects) in examples.items():
        objs = "".join(OBJ.format(name=n, x1=a, y1=b, x2=c, y2=d, d=diff, t=0)
                       for n, a, b, c, d, diff in objects)
        (base / "Annotations" / f"{image_id}.xml").write_text(XML.format(id=image_id, w=w, h=h, objects=objs))
        pixels = np.zeros((h, w, 3), np.uint8)
        for n, a, b, c, d, _ in objects:  # paint each box so boxes and pixels can be compared
            pixels[b - 1:d, a - 1:c] = 200
        Image.fromarray(pixels).save(base / "JPEGImages" / f"{image_id}.png")
    (base / "ImageSets/Main/train.txt").write_text("000001\n000002\n")
    (base / "ImageSets/Main/test.txt").write_text("000002\n000003\n")
    return base


def test_parse_annotation_reads_every_field(tmp_path):
    base = _write_voc(tmp_path)
    ann = voc_detection.parse_annotation(base / "Annotations" / "000001.xml")
    assert ann["names"] == ("dog", "cat") and (ann["width"], ann["height"]) == (40, 30)
    np.testing.assert_array_equal(ann["boxes"], [[1, 1, 20, 15], [21, 5, 40, 30]])
    assert ann["difficult"].tolist() == [False, True] and ann["truncated"].tolist() == [False, False]
    np.testing.assert_allclose(voc_detection.normalize_boxes(ann["boxes"], 40, 30),
                               [[0, 0, 0.5, 0.5], [0.5, 4 / 30, 1.0, 1.0]], atol=1e-6)
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object><name>x</name></object></annotation>")
    with pytest.raises(ValueError, match="no <bndbox>"):
        voc_detection.parse_annotation(bad)


def test_folder_source_batches_boxes_that_match_the_pixels(tmp_path):
    _write_voc(tmp_path)
    cfg = {"name": "voc_folder", "root": str(tmp_path), "image_size": (20, 20), "max_boxes": 4}
    source = voc_detection.open_split(cfg, "test")
    assert source.info.class_names == voc_detection.VOC_CLASSES  # every name is a VOC class
    assert source.info.num_examples == 2 and source.info.max_boxes == 4
    batch = next(Dataset(source, 2, train=False, num_threads=0).epoch(0))
    assert batch["boxes"].shape == (2, 4, 4) and batch["image"].shape == (2, 20, 20, 3)
    dog, person, cat = (voc_detection.VOC_CLASSES.index(n) for n in ("dog", "person", "cat"))
    assert batch["box_labels"][1].tolist() == [dog, person, cat, -1]
    assert batch["label"].tolist() == [person, dog]  # class of the largest object
    np.testing.assert_allclose(batch["boxes"][1, 0], [0.25, 0.25, 0.75, 0.75], atol=1e-6)
    # Each box covers painted pixels: inside is bright, a ring just outside it is dark.
    image = batch["image"][1, ..., 0]
    x1, y1, x2, y2 = (batch["boxes"][1, 0] * 20).round().astype(int)
    assert image[y1 + 1:y2 - 1, x1 + 1:x2 - 1].min() > 0.6
    assert image[y1 + 1:y2 - 1, x2 + 1].max() < 0.2
    # Split arithmetic and the dispatch through cnnlab.data.build.
    only = voc_detection.open_split(cfg, "test-train")
    assert [r[1]["names"] for r in only.records] == [("dog", "person", "cat")]
    built = data_lib.build(dict(cfg, classes=("person", "dog")), "train", 2, train=True, seed=0)
    assert built.info.class_names == ("person", "dog")
    train_batch = next(built.epoch(0))
    assert sorted(train_batch["box_labels"][train_batch["box_labels"] >= 0].tolist()) == [0, 1]


def test_difficult_objects_kept_with_flags_or_dropped(tmp_path):
    _write_voc(tmp_path)
    base = {"name": "voc_folder", "root": str(tmp_path), "image_size": (10, 10), "max_boxes": 3}
    keep = voc_detection.open_split(base, "train")
    record = keep.transform(keep.records[0])
    assert record["box_difficult"].tolist() == [False, True, False]
    assert (record["box_labels"] >= 0).sum() == 2
    drop = voc_detection.open_split(dict(base, difficult="drop"), "train")
    assert (drop.transform(drop.records[0])["box_labels"] >= 0).sum() == 1


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        voc_detection.open_split({"root": str(tmp_path / "nope"), "image_size": 8}, "train")
    _write_voc(tmp_path)
    cfg = {"root": str(tmp_path), "image_size": 8}
    with pytest.raises(ValueError, match="splits here"):
        voc_detection.open_split(cfg, "val")
    with pytest.raises(ValueError, match="image_size"):
        voc_detection.open_split({"root": str(tmp_path)}, "train")
    with pytest.raises(ValueError, match="difficult"):
        voc_detection.open_split(dict(cfg, difficult="maybe"), "train")


@pytest.mark.skipif(not CELLS.is_file(), reason=f"{CELLS} is absent (shared data folder not mounted)")
def test_real_cells_set(tmp_path):
    cfg = {"name": "voc_folder", "archive": os.fspath(CELLS), "cache_dir": os.fspath(tmp_path),
           "image_size": (96, 96), "max_boxes": 16}
    source = voc_detection.open_split(cfg, "train")
    assert source.info.class_names == ("cellbody",) and source.info.num_examples == 302
    annotations = voc_detection._annotations(os.fspath(voc_detection.find_voc_root(tmp_path)))
    assert len(annotations) == 356
    assert sum(len(a["names"]) for a in annotations.values()) == 641
    assert max(len(a["names"]) for a in annotations.values()) <= 16
    assert len(voc_detection.open_split(cfg, "test-train-val").records) == 27
    batch = next(data_lib.build(cfg, "test", 8, train=False, seed=0).epoch(0))
    assert batch["image"].shape == (8, 96, 96, 3)
    real = batch["box_labels"] >= 0
    assert real.any(axis=1).all() and (batch["box_labels"][real] == 0).all()
    b = batch["boxes"][real]
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all() and b.min() >= 0 and b.max() <= 1
