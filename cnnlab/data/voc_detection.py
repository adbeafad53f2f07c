"""PASCAL VOC detection folders on disk: XML annotations, ImageSets/Main splits, ``difficult``.

Layout (``data.root`` is the year folder, or any folder above it holding
exactly one ``VOCdevkit/VOC20xx`` or one folder with ``Annotations/``;
``data.year`` picks one of several)::

    VOC2007/Annotations/<id>.xml
    VOC2007/JPEGImages/<id>.jpg
    VOC2007/ImageSets/Main/{train,val,trainval,test}.txt

A split is the id list ``ImageSets/Main/<split>.txt``; ``'a-b-c'`` means the
ids of ``a`` that are in neither ``b`` nor ``c`` (to hold out images that a
dataset's lists share, e.g. ``'test-train-val'``). ``data.archive`` names a
``.tar.gz`` of such a folder, extracted once into ``data.cache_dir``; ``root``
is then relative to the extracted folder.

Boxes: VOC's 1-based inclusive pixel corners become normalised
(x1, y1, x2, y2) = ((xmin - 1) / W, (ymin - 1) / H, xmax / W, ymax / H),
clipped to [0, 1], W and H the decoded image's size. Classes: ``data.classes``
(objects of other classes are skipped), else the 20 VOC classes in their
standard order when every name in the annotations is one of them, else the
sorted names found. Objects marked ``difficult`` are kept
(``data.difficult='keep'``, the default; records carry ``box_difficult``
so evaluation can ignore them) or left out (``'drop'``). Records hold
``image`` uint8 resized to ``data.image_size``, ``label`` (class of the
largest object, -1 if none), ``boxes``/``box_labels`` padded to
``data.max_boxes`` rows and ``box_difficult``.
"""
from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from cnnlab.data import fields
from cnnlab.data.decode import image_size_pair, pad_boxes, read_image, resize_image
from cnnlab.data.pipeline import DatasetInfo, SplitSource

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
DIFFICULT_MODES = ("keep", "drop")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _text(node, tag: str, path, default=None):
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if default is not None:
            return default
        raise ValueError(f"{path}: missing <{tag}> in <{node.tag}>; is this a PASCAL VOC annotation?")
    return child.text.strip()


def parse_annotation(path: str | os.PathLike) -> dict:
    """One VOC XML file -> {'filename', 'width', 'height', 'names' (n,), 'boxes' (n, 4) pixel
    (xmin, ymin, xmax, ymax) float32 as written, 'difficult' (n,) bool, 'truncated' (n,) bool}."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"cannot parse VOC annotation {path}: {error}.") from None
    size = root.find("size")
    width = int(float(_text(size, "width", path, "0"))) if size is not None else 0
    height = int(float(_text(size, "height", path, "0"))) if size is not None else 0
    names, boxes, difficult, truncated = [], [], [], []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"{path}: an <object> has no <bndbox>.")
        corners = [float(_text(box, tag, path)) for tag in ("xmin", "ymin", "xmax", "ymax")]
        if corners[2] < corners[0] or corners[3] < corners[1]:
            raise ValueError(f"{path}: box {corners} has xmax < xmin or ymax < ymin.")
        names.append(_text(obj, "name", path))
        boxes.append(corners)
        difficult.append(int(float(_text(obj, "difficult", path, "0"))) == 1)
        truncated.append(int(float(_text(obj, "truncated", path, "0"))) == 1)
    return {
        "filename": _text(root, "filename", path, ""),
        "width": width,
        "height": height,
        "names": tuple(names),
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
        "difficult": np.asarray(difficult, bool),
        "truncated": np.asarray(truncated, bool),
    }


def normalize_boxes(boxes, width: int, height: int) -> np.ndarray:
    """VOC 1-based inclusive pixel corners (n, 4) -> normalised (x1, y1, x2, y2) in [0, 1]."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    offset = np.array([1.0, 1.0, 0.0, 0.0], np.float32)
    scale = np.array([width, height, width, height], np.float32)
    return np.clip((boxes - offset) / scale, 0.0, 1.0)


def find_voc_root(root: str | os.PathLike, year: str | None = None) -> Path:
    """The folder holding ``Annotations/`` under ``root`` (see the module docstring)."""
    root = Path(os.path.expanduser(os.fspath(root)))
    if not root.is_dir():
        raise FileNotFoundError(f"VOC folder {root} does not exist: set data.root (or data.archive).")
    if (root / "Annotations").is_dir():
        return root
    candidates = sorted(p.parent for p in root.glob("**/Annotations") if p.is_dir())
    if year is not None:
        candidates = [p for p in candidates if p.name.endswith(str(year))]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise FileNotFoundError(f"no Annotations/ folder under {root}"
                                f"{f' for year {year}' if year else ''}: expected VOC20xx/Annotations/*.xml.")
    raise ValueError(f"several VOC folders under {root}: {[str(c) for c in candidates]}; "
                     f"set data.year (e.g. 2007) or point data.root at one of them.")


def _read_ids(voc_root: Path, name: str) -> list[str]:
    path = voc_root / "ImageSets" / "Main" / f"{name}.txt"
    if not path.is_file():
        lists = sorted(p.stem for p in (voc_root / "ImageSets" / "Main").glob("*.txt")
                       if "_" not in p.stem)
        raise ValueError(f"VOC split {name!r} has no list {path}; splits here: {lists}.")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def split_ids(voc_root: Path, split: str) -> list[str]:
    """Image ids of ``split``: one list name, or 'a-b-...' for the ids of a in none of b, ..."""
    first, *minus = split.split("-")
    ids = _read_ids(voc_root, first)
    excluded = set()
    for name in minus:
        excluded.update(_read_ids(voc_root, name))
    return [i for i in ids if i not in excluded]


@functools.lru_cache(maxsize=8)
def _annotations(voc_root: str) -> dict:
    """{id: parsed annotation} of every XML file in the folder (parsed once per process)."""
    folder = Path(voc_root) / "Annotations"
    return {p.stem: parse_annotation(p) for p in sorted(folder.glob("*.xml"))}


def class_names_for(annotations: dict, classes=None) -> tuple[str, ...]:
    """``classes`` if given, else the VOC 20 (when they cover every name) or the sorted names."""
    if classes:
        names = tuple(str(c) for c in classes)
        if len(set(names)) != len(names):
            raise ValueError(f"data.classes has duplicates: {list(names)}.")
        return names
    found = sorted({n for a in annotations.values() for n in a["names"]})
    if not found:
        raise ValueError("the VOC annotations name no objects; set data.classes.")
    return VOC_CLASSES if set(found) <= set(VOC_CLASSES) else tuple(found)


def _image_path(voc_root: Path, image_id: str) -> Path:
    for ext in IMAGE_EXTENSIONS:
        path = voc_root / "JPEGImages" / f"{image_id}{ext}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no image for VOC id {image_id!r} in {voc_root / 'JPEGImages'} "
                            f"(looked for {', '.join(IMAGE_EXTENSIONS)}).")


class VocRecordTransform:
    """(image path, annotation) -> contract record with normalised, padded boxes."""

    def __init__(self, class_names, size, max_boxes: int, difficult: str):
        self.index = {name: i for i, name in enumerate(class_names)}
        self.size = size
        self.max_boxes = max_boxes
        self.drop_difficult = difficult == "drop"

    def __call__(self, record) -> dict:
        path, ann = record
        image = read_image(path, "RGB")  # (H, W, 3) uint8
        height, width = image.shape[:2]
        labels = np.asarray([self.index.get(n, -1) for n in ann["names"]], np.int32)
        keep = labels >= 0
        if self.drop_difficult:
            keep &= ~ann["difficult"]
        boxes = normalize_boxes(ann["boxes"][keep], width, height)
        labels, difficult = labels[keep], ann["difficult"][keep]
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        label = labels[int(np.argmax(areas))] if len(labels) else -1
        padded_boxes, padded_labels = pad_boxes(boxes, labels, self.max_boxes)
        flags = np.zeros((self.max_boxes,), bool)
        flags[: min(len(difficult), self.max_boxes)] = difficult[: self.max_boxes]
        return {"image": resize_image(image, self.size), "label": np.int32(label),
                "boxes": padded_boxes, "box_labels": padded_labels, "box_difficult": flags}


def open_split(data_config, split: str) -> SplitSource:
    """A VOC folder split as a pipeline source (fields: ``cnnlab.data.fields``)."""
    get = functools.partial(fields.setting, data_config, source="voc_folder")
    root, archive = get("root"), get("archive")
    if archive:
        from cnnlab.data.image_folder import extract_archive

        base = extract_archive(archive, get("cache_dir"))
        root = base / root if root else base
    elif not root:
        raise ValueError("data.name='voc_folder' needs data.root (a VOC20xx folder) or data.archive.")
    year = get("year")
    voc_root = find_voc_root(root, None if year is None else str(year))
    difficult = get("difficult")
    if difficult not in DIFFICULT_MODES:
        raise ValueError(f"data.difficult must be one of {DIFFICULT_MODES}, got {difficult!r}.")
    size = image_size_pair(get("image_size"))
    if size is None:
        raise ValueError("data.image_size=(H, W) is required for VOC folders: images differ in size "
                         "and are resized to one size for batching.")
    max_boxes = int(get("max_boxes"))
    if max_boxes < 1:
        raise ValueError(f"data.max_boxes={max_boxes} must be >= 1 (or None for the default).")
    annotations = _annotations(os.fspath(voc_root))
    names = class_names_for(annotations, get("classes"))
    ids = split_ids(voc_root, split)
    missing = [i for i in ids if i not in annotations]
    if missing:
        raise FileNotFoundError(f"VOC split {split!r} lists ids without annotation files in "
                                f"{voc_root / 'Annotations'}: {missing[:5]}.")
    if not ids:
        raise ValueError(f"VOC split {split!r} of {voc_root} has no images.")
    records = [(os.fspath(_image_path(voc_root, i)), annotations[i]) for i in ids]
    info = DatasetInfo(
        name=f"voc_folder/{voc_root.name}",
        split=split,
        num_classes=len(names),
        class_names=names,
        image_shape=(size[0], size[1], 3),
        num_examples=len(records),
        max_boxes=max_boxes,
    )
    return SplitSource(records=records, transform=VocRecordTransform(names, size, max_boxes, difficult),
                       info=info)
