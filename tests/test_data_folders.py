"""Image folders, make_splits, extract_archive and Keras-style npz arrays."""
import logging
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnlab.data as data
from cnnlab.data import image_folder, npz

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COLOURS = {"bird": (200, 40, 40), "cat": (40, 200, 40), "dog": (40, 40, 200)}


def _write_folder(root: Path, counts=None, size=(20, 24)):
    counts = counts or {"train": 5, "test": 2}
    for split, n in counts.items():
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (size[1], size[0]), colour).save(folder / f"{i:03d}.jpg", quality=95)
    return root


def _all(ds):
    batches = list(ds.epoch(0))
    images = np.concatenate([b["image"][b["valid"]] for b in batches])
    labels = np.concatenate([b["label"][b["valid"]] for b in batches])
    return images, labels


def _cfg(root, **fields):
    return {"name": "image_folder", "root": str(root), "num_threads": 0, **fields}


def test_image_folder_decodes_resizes_and_labels_sorted_classes(tmp_path):
    root = _write_folder(tmp_path / "pics")
    ds = data.build(_cfg(root, image_size=(16, 16), num_threads=2), "test", 4, train=False, seed=0)
    assert ds.info.class_names == ("bird", "cat", "dog") and ds.info.num_classes == 3
    assert ds.info.image_shape == (16, 16, 3) and ds.info.num_examples == 6
    images, labels = _all(ds)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2])
    for image, label in zip(images, labels):
        colour = np.array(COLOURS[ds.info.class_names[label]]) / 255.0
        np.testing.assert_allclose(image.reshape(-1, 3).mean(0), colour, atol=0.03)
    native = data.build(_cfg(root, color_mode="grayscale"), "train", 5, train=True, seed=1)
    assert native.info.image_shape == (20, 24, 1)
    assert next(native.epoch(0))["image"].shape == (5, 20, 24, 1)


def test_class_subset_reindexes_and_subsamples_deterministically(tmp_path):
    root = _write_folder(tmp_path / "pics", {"train": 6})
    paths, labels, names = image_folder.list_split(root, "train", classes=("dog", "cat"))
    assert names == ("dog", "cat")
    assert [Path(p).parent.name for p, l in zip(paths, labels) if l == 0] == ["dog"] * 6
    assert set(labels) == {0, 1} and len(paths) == 12
    sub1 = image_folder.list_split(root, "train", max_per_class=4, data_seed=3)[0]
    sub2 = image_folder.list_split(root, "train", max_per_class=4, data_seed=3)[0]
    assert sub1 == sub2 and len(sub1) == 12
    assert sub1 != image_folder.list_split(root, "train", max_per_class=4, data_seed=4)[0]
    with pytest.raises(ValueError, match="missing \\['cow'\\]"):
        image_folder.list_split(root, "train", classes=("cow",))


def test_validation_carved_from_train_is_disjoint_and_deterministic(tmp_path):
    root = _write_folder(tmp_path / "pics", {"train": 10})
    train, _, _ = image_folder.list_split(root, "train", validation_fraction=0.2)
    val, val_labels, _ = image_folder.list_split(root, "validation", validation_fraction=0.2)
    assert len(val) == 6 and len(train) == 24 and np.bincount(val_labels).tolist() == [2, 2, 2]
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(image_folder.list_split(root, "train")[0])
    assert val == image_folder.list_split(root, "validation", validation_fraction=0.2)[0]
    with pytest.raises(ValueError, match="validation_fraction"):
        image_folder.list_split(root, "validation")
    with pytest.raises(FileNotFoundError, match="data.root"):
        image_folder.list_split(tmp_path / "nowhere", "train")


def test_corrupt_image_names_the_file_or_is_skipped(tmp_path, caplog):
    root = _write_folder(tmp_path / "pics", {"train": 3})
    bad = root / "train" / "cat" / "001.jpg"
    bad.write_bytes(bad.read_bytes()[:60])  # a truncated JPEG
    ds = data.build(_cfg(root), "train", 9, train=True, seed=0)
    with pytest.raises(ValueError, match="cannot decode image file .*001.jpg.*on_corrupt='skip'"):
        list(ds.epoch(0))
    with caplog.at_level(logging.WARNING):
        skipped = data.build(_cfg(root, on_corrupt="skip"), "train", 4, train=False, seed=0)
    assert skipped.info.num_examples == 8 and "001.jpg" in caplog.text
    assert len(_all(skipped)[0]) == 8


def test_make_splits_copies_numbered_files_in_order(tmp_path):
    src = tmp_path / "flat"
    src.mkdir()
    for name in ("cat", "dog"):
        for i in range(12):
            (src / f"{name}.{i}.jpg").write_bytes(f"{name}{i}".encode())
    (src / "notes.txt").write_text("ignored")
    counts = {"train": 5, "validation": 3, "test": 2}
    out = image_folder.make_splits(src, tmp_path / "small", counts=counts)
    assert out == {split: {"cat": n, "dog": n} for split, n in counts.items()}
    train_cats = sorted(os.listdir(tmp_path / "small" / "train" / "cat"), key=lambda f: int(f.split(".")[1]))
    assert train_cats == [f"cat.{i}.jpg" for i in range(5)]
    assert sorted(os.listdir(tmp_path / "small" / "test" / "dog")) == ["dog.8.jpg", "dog.9.jpg"]
    assert (tmp_path / "small" / "test" / "dog" / "dog.8.jpg").read_bytes() == b"dog8"
    assert image_folder.make_splits(src, tmp_path / "small", counts=counts) == out  # idempotent
    with pytest.raises(ValueError, match="needs 30 files"):
        image_folder.make_splits(src, tmp_path / "big", counts={"train": 20, "validation": 5, "test": 5})


def test_extract_archive_unpacks_once(tmp_path):
    root = _write_folder(tmp_path / "set" / "tiny", {"train": 2, "test": 1})
    archive = tmp_path / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="tiny")
    cache = tmp_path / "cache"
    out = image_folder.extract_archive(archive, cache)
    assert out == cache / "tiny" and (out / "train" / "dog" / "001.jpg").is_file()
    (out / "train" / "dog" / "001.jpg").unlink()
    assert image_folder.extract_archive(archive, cache) == out
    assert not (out / "train" / "dog" / "001.jpg").exists(), "a second call does not extract again"
    ds = data.build(dict(name="image_folder", archive=str(archive), cache_dir=str(cache), num_threads=0),
                    "test", 3, train=False, seed=0)
    assert ds.info.num_examples == 3
    with pytest.raises(FileNotFoundError):
        image_folder.extract_archive(tmp_path / "missing.tar.gz", cache)


@pytest.mark.skipif(not (SHARED / "cifar10_jpg.tar.gz").is_file(), reason="../shared/data/cifar10_jpg.tar.gz absent")
def test_real_cifar10_jpegs_read_as_a_folder(tmp_path):
    # Unpacking all 60,000 files takes a minute on a busy disk: take the first 300 members.
    with tarfile.open(SHARED / "cifar10_jpg.tar.gz", "r|gz") as tar:
        for count, member in enumerate(tar):
            if count == 300:
                break
            tar.extract(member, tmp_path, filter="data")
    root = tmp_path / "cifar10_jpg"
    split = next(s for s in ("train", "test") if (root / s).is_dir())
    classes = tuple(sorted(p.name for p in (root / split).iterdir() if any(p.iterdir())))[:2]
    ds = data.build(_cfg(root, classes=classes), split, 8, train=False, seed=0)
    images, labels = _all(ds)
    assert images.shape[1:] == (32, 32, 3) and 0.0 <= images.min() < 0.2 and images.max() > 0.8
    assert set(labels) <= {0, 1} and len(images) == ds.info.num_examples


def _write_npz(path, n_train=30, n_test=10):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=np.arange(n_train) % 10, x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=(np.arange(n_test) % 10)[:, None])
    return path


def test_npz_splits_shapes_and_scaling(tmp_path):
    path = _write_npz(tmp_path / "tiny.npz")
    raw = np.load(path)
    ds = data.build(dict(name="npz", path=str(path), validation_size=8, num_threads=0), "validation", 4,
                    train=False, seed=0)
    assert ds.info.image_shape == (28, 28, 1) and ds.info.num_classes == 10 and ds.info.num_examples == 8
    images, labels = _all(ds)
    np.testing.assert_allclose(images[..., 0], raw["x_train"][-8:] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels, raw["y_train"][-8:])
    train = data.build(dict(name="npz", path=str(path), validation_size=8), "train", 4, train=True, seed=0)
    assert train.info.num_examples == 22 and train.steps_per_epoch == 5
    test = data.build(dict(name="npz", path=str(path), image_size=14), "test", 5, train=False, seed=0)
    assert next(test.epoch(0))["image"].shape == (5, 14, 14, 1)
    with pytest.raises(ValueError, match="validation_size"):
        data.build(dict(name="npz", path=str(path)), "validation", 4, train=False, seed=0)
    with pytest.raises(FileNotFoundError, match="data.path"):
        npz.load_arrays(tmp_path / "absent.npz")
    np.savez(tmp_path / "wrong.npz", images=np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="lacks arrays"):
        npz.load_arrays(tmp_path / "wrong.npz")


@pytest.mark.skipif(not (SHARED / "mnist.npz").is_file(), reason="../shared/data/mnist.npz absent")
def test_real_mnist_npz_counts():
    arrays = npz.load_arrays(SHARED / "mnist.npz")
    sizes = [len(npz.split_arrays(arrays, split, 5000)[0]) for split in npz.SPLITS]
    assert sizes == [55000, 5000, 10000]
    assert arrays["x_train"].shape == (60000, 28, 28, 1) and arrays["x_test"].shape == (10000, 28, 28, 1)
    assert np.bincount(arrays["y_test"], minlength=10).min() > 800
    cfg = dict(name="npz", path=str(SHARED / "mnist.npz"), validation_size=5000)
    train = data.build(cfg, "train", 128, train=True, seed=0)
    assert train.info.num_examples == 55000 and train.steps_per_epoch == 429
    batch = next(train.epoch(0))
    assert batch["image"].shape == (128, 28, 28, 1) and batch["image"].max() == 1.0
