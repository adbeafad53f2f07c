"""Keras .h5 and orbax import/export without Keras: round trips, name tables, and every error message."""
import h5py
import numpy as np
import pytest

import cnnlab  # noqa: F401
import jax

from cnnlab import pretrained
from cnnlab.pretrained import keras_h5, name_maps, orbax_io

SIDE = 32


def random_variables(model, side=SIDE, seed=0):
    """Variables of ``model`` drawn with numpy from its abstract shapes (no XLA compile of init)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x),
                            jax.ShapeDtypeStruct((1, side, side, 3), np.float32))
    return jax.tree.map(lambda s: rng.uniform(0.1, 1.0, s.shape).astype(s.dtype), dict(shapes))


def vgg_variables(num_classes=10, include_top=True, seed=0):
    model = pretrained.keras_model("vgg11", include_top=include_top, num_classes=num_classes, fc_units=16)
    return model, random_variables(model, seed=seed)


def leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


def test_parameter_table_counts_match_keras():
    # Layers with weights in keras.applications: VGG16 13 convs + 3 dense; ResNet50 53 convs,
    # 53 BatchNorms, 1 dense; Xception 2 + 4 shortcut convs, 34 separable convs, 40 BatchNorms, 1 dense.
    kinds = lambda n: {k: sum(e.kind == k for e in name_maps.table_for(n)) for k in ("conv", "bn", "sepconv", "dense")}
    assert kinds("vgg16") == {"conv": 13, "bn": 0, "sepconv": 0, "dense": 3}
    assert kinds("resnet50") == {"conv": 53, "bn": 53, "sepconv": 0, "dense": 1}
    assert kinds("xception") == {"conv": 6, "bn": 40, "sepconv": 34, "dense": 1}
    with pytest.raises(ValueError, match="no Keras name table for model 'mnist_cnn'"):
        name_maps.table_for("mnist_cnn")


def test_table_covers_every_cnnlab_weight():
    for name, side in (("resnet50", 32), ("xception", 71), ("vgg19", 32), ("resnet18", 32)):
        model = pretrained.keras_model(name)
        shapes = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x),
                                jax.ShapeDtypeStruct((1, side, side, 3), np.float32))
        covered = {(c, e.path + (v,)) for e in name_maps.table_for(name) for c, v in e.slots}
        actual = {(c, tuple(k.key for k in path))
                  for c in shapes for path, _ in jax.tree_util.tree_leaves_with_path(shapes[c])}
        assert covered == actual, name


def test_legacy_names_and_weight_spellings():
    assert name_maps.legacy_alias("res3b_branch2c") == "conv3_block2_3_conv"
    assert name_maps.legacy_alias("bn5a_branch1") == "conv5_block1_0_bn"
    assert name_maps.legacy_alias("bn_conv1") == "conv1_bn"
    assert name_maps.legacy_alias("fc1000") == "predictions"
    assert name_maps.legacy_alias("block1_conv1") is None
    assert name_maps.parse_auto_name("conv2d_3", ["conv2d"]) == ("conv2d", 3)
    assert name_maps.weight_slot_order("conv", ["block1_conv1_W_1:0", "block1_conv1_b_1:0"], "block1_conv1") == [0, 1]
    assert name_maps.weight_slot_order(
        "bn", ["x/moving_variance:0", "x/gamma:0", "x/beta:0", "x/moving_mean:0"], "x") == [3, 0, 1, 2]
    assert name_maps.weight_slot_order("bn", ["bn_conv1_running_std_1:0"] * 1, "bn_conv1") == [3]
    assert name_maps.weight_slot_order("conv", ["a/param_0", "a/param_1"], "a") is None


def test_export_import_round_trip_and_orbax(tmp_path):
    model, variables = vgg_variables()
    path = pretrained.write_keras_h5(variables, str(tmp_path / "vgg11.h5"), "vgg11")
    layers = pretrained.read_keras_h5(path)
    assert [l.name for l in layers][:2] == ["block1_conv1", "block2_conv1"]
    assert layers[0].weight_names == ["block1_conv1/kernel", "block1_conv1/bias"]
    _, fresh = vgg_variables(seed=1)
    loaded = pretrained.load_weights(fresh, path, "vgg11")
    assert leaves_equal(loaded, variables)
    # orbax: a save_variables folder round-trips too, and gives the same outputs.
    folder = pretrained.save_variables(loaded, str(tmp_path / "orbax"))
    again = pretrained.load_weights(fresh, folder, "vgg11")
    assert leaves_equal(again, variables)
    with pytest.raises(ValueError, match="already exists"):
        pretrained.save_variables(loaded, folder)


def test_shuffled_weight_order_in_file_is_read_by_name(tmp_path):
    """Keras 2 files name each weight; order inside a layer follows the names, not the position."""
    model = pretrained.keras_model("resnet18", num_classes=4)
    variables = random_variables(model)
    path = pretrained.write_keras_h5(variables, str(tmp_path / "r18.h5"), "resnet18")
    with h5py.File(path, "r+") as f:  # BatchNorm weights listed in reverse order
        group = f["conv1_bn"]
        group.attrs["weight_names"] = group.attrs["weight_names"][::-1]
    abstract = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x),
                                       jax.ShapeDtypeStruct((1, 32, 32, 3), np.float32))
    loaded = pretrained.load_weights(dict(abstract), path, "resnet18")
    assert leaves_equal(loaded, variables)


def test_shape_mismatch_names_layer_and_both_shapes(tmp_path):
    _, variables = vgg_variables(num_classes=10)
    path = pretrained.write_keras_h5(variables, str(tmp_path / "ten.h5"), "vgg11")
    _, five = vgg_variables(num_classes=5)
    with pytest.raises(ValueError, match=r"layer 'predictions': kernel has shape \(16, 10\).*expects \(16, 5\)"):
        pretrained.load_weights(five, path, "vgg11")
    loaded = pretrained.load_weights(five, path, "vgg11", skip_mismatch=True)
    assert leaves_equal(loaded["params"]["predictions"], five["params"]["predictions"])
    assert leaves_equal(loaded["params"]["block1_conv1"], variables["params"]["block1_conv1"])
    # A no-top file into a with-top model: the classifier keeps its values, the rest loads.
    _, notop = vgg_variables(include_top=False)
    notop_path = pretrained.write_keras_h5(notop, str(tmp_path / "notop.h5"), "vgg11")
    partial = pretrained.load_weights(variables, notop_path, "vgg11")
    assert leaves_equal(partial["params"]["fc1"], variables["params"]["fc1"])
    assert leaves_equal(partial["params"]["block5_conv2"], notop["params"]["block5_conv2"])


def test_missing_layer_and_foreign_layer_fail_clearly(tmp_path):
    _, variables = vgg_variables()
    path = pretrained.write_keras_h5(variables, str(tmp_path / "v.h5"), "vgg11")
    cut = str(tmp_path / "cut.h5")
    with h5py.File(path, "r") as src, h5py.File(cut, "w") as dst:
        names = [n for n in src.attrs["layer_names"] if n != b"block4_conv2"]
        dst.attrs["layer_names"] = np.array(names)
        for n in names:
            src.copy(n.decode(), dst)
    with pytest.raises(ValueError, match=r"no weights for layer 'block4_conv2' .*\(3, 3, 512, 512\)"):
        pretrained.load_weights(variables, cut, "vgg11")
    with pytest.raises(ValueError, match=r"layer 'block2_conv1' .*\(3, 3, 64, 128\).* no counterpart in cnnlab xception"):
        pretrained.load_weights(variables, path, "xception")
    keras_vars = random_variables(pretrained.keras_model("resnet18"))
    from cnnlab import models
    torch_variant = models.create("resnet18")
    torch_vars = jax.eval_shape(lambda x: torch_variant.init(jax.random.PRNGKey(0), x),
                                jax.ShapeDtypeStruct((1, 32, 32, 3), np.float32))
    keras_path = str(tmp_path / "r18.h5")
    pretrained.write_keras_h5(keras_vars, keras_path, "resnet18")
    with pytest.raises(ValueError, match="variant='keras'"):
        pretrained.load_weights(dict(torch_vars), keras_path, "resnet18")


def test_missing_file_and_bad_files(tmp_path):
    _, variables = vgg_variables()
    with pytest.raises(FileNotFoundError, match="vgg16_weights_tf_dim_ordering_tf_kernels.h5.*~/.keras/models"):
        pretrained.load_weights(variables, str(tmp_path / "nope.h5"), "vgg11")
    text = tmp_path / "x.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        pretrained.load_weights(variables, str(text), "vgg11")
    empty = str(tmp_path / "empty.h5")
    with h5py.File(empty, "w") as f:
        f.create_group("something")
    with pytest.raises(ValueError, match="no 'layer_names'"):
        pretrained.load_weights(variables, empty, "vgg11")
    with pytest.raises(FileNotFoundError, match="not an orbax checkpoint"):
        pretrained.load_weights(variables, str(tmp_path), "vgg11")
    with pytest.raises(ValueError, match="no sub-tree 'backbone'"):
        pretrained.load_weights(variables, empty, "vgg11", prefix="backbone")


def test_chunked_layer_names_attribute(tmp_path):
    """Keras splits attributes over 64 KB into layer_names0, layer_names1, ...; both read the same."""
    _, variables = vgg_variables()
    path = pretrained.write_keras_h5(variables, str(tmp_path / "v.h5"), "vgg11")
    with h5py.File(path, "r+") as f:
        names = f.attrs["layer_names"]
        del f.attrs["layer_names"]
        f.attrs["layer_names0"], f.attrs["layer_names1"] = names[:3], names[3:]
    assert [l.name for l in keras_h5.read_keras_h5(path)] == [n.decode() for n in names]


def test_orbax_place_variables_errors():
    target = {"a": {"kernel": np.zeros((2, 3), np.float32)}}
    with pytest.raises(ValueError, match=r"a/kernel has shape \(3, 3\) in ckpt but the model expects \(2, 3\)"):
        orbax_io.place_variables(target, {"a": {"kernel": np.zeros((3, 3))}}, where="ckpt")
    with pytest.raises(ValueError, match="ckpt has no a/kernel"):
        orbax_io.place_variables(target, {"b": {"kernel": np.zeros((2, 3))}}, where="ckpt")
    placed = orbax_io.place_variables(target, {"a": {"kernel": np.ones((2, 3))}, "extra": {"w": np.ones(1)}},
                                      where="ckpt")
    np.testing.assert_array_equal(placed["a"]["kernel"], np.ones((2, 3), np.float32))
