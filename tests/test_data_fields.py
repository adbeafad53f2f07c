"""The config.data field tables: defaults, the typo check, and every config passing it."""
import os
import runpy

import pytest

from cnnlab import data
from cnnlab.data import fields, shapes_builder
from cnnlab.train import defaults
from test_configs import CONFIGS, REPO


def test_one_table_per_source_kind():
    assert set(fields.SOURCE_FIELDS) == set(data.SOURCES)
    assert fields.fields_of("mnist") == fields.fields_of("tfds:kmnist") == fields.fields_of("voc/2012")
    names = [field for field, _, _ in fields.fields_of("image_folder")]
    assert names[:8] == ["name", "train_split", "eval_split", "test_split", "image_size", "num_threads",
                         "augment", "preprocess"]
    assert "max_per_class" in names and "max_boxes" not in names
    with pytest.raises(ValueError, match=r"unknown data.name 'nope': use one of"):
        fields.fields_of("nope")


def test_splits_agree_with_the_config_schema():
    schema = {path[len("data."):]: default for path, default, _ in defaults.FIELDS if path.startswith("data.")}
    common = {field: default for field, default, _ in fields.COMMON}
    assert {k: common[k] for k in ("train_split", "eval_split", "test_split")} == {
        k: schema[k] for k in ("train_split", "eval_split", "test_split")}


def test_setting_gives_the_table_default_when_unset():
    cfg = {"name": "shapes", "num_classes": None, "storage": "", "num_validation": 0, "eval_split": ""}
    assert fields.setting(cfg, "num_classes") == 3  # None -> default
    assert fields.setting(cfg, "storage") == "tfds"  # '' -> default
    assert fields.setting(cfg, "num_validation") == 0  # 0 is a value
    assert fields.setting(cfg, "eval_split") == ""  # '' means "no such split"
    assert fields.setting(cfg, "image_size") == (64, 64)  # shapes replaces the common None
    assert fields.setting({"name": "cifar10"}, "image_size") is None
    assert fields.setting({}, "max_boxes", source="voc_folder") == 50
    assert fields.setting({}, "max_boxes", source="tfds") == 64
    assert shapes_builder.DEFAULT_COUNTS == {"train": 6000, "validation": 1000, "test": 1000}
    with pytest.raises(ValueError, match=r"'max_per_class' is not a field of data source 'npz'"):
        fields.setting({"name": "npz"}, "max_per_class")


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.relpath(p, REPO) for p in CONFIGS])
def test_every_config_passes_the_check(path):
    config = runpy.run_path(path)["get_config"]()
    assert fields.check(config.data) in fields.SOURCE_FIELDS


def test_a_typo_is_rejected_naming_the_closest_field(tmp_path):
    with pytest.raises(ValueError, match=r"config\.data\.max_per_clas \(did you mean max_per_class\?\)"):
        fields.check({"name": "image_folder", "root": ".", "max_per_clas": 5})
    with pytest.raises(ValueError, match=r"max_per_clas \(did you mean max_per_class, a field of image_folder\?\)"):
        fields.check({"name": "cifar10", "max_per_clas": 5})
    # build() checks before it reads anything: the missing file is never opened.
    with pytest.raises(ValueError, match=r"config\.data\.validaton_size \(did you mean validation_size\?\)"):
        data.build({"name": "npz", "path": str(tmp_path / "absent.npz"), "validaton_size": 5}, "train", 4,
                   train=False, seed=0)
