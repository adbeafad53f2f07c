"""Keras parity: Keras' own networks, saved to .h5 in both layouts, give the same logits in cnnlab.

Each family (VGG16, ResNet50, Xception) is built once with and once without
the top by ``keras.applications.*(weights=None)`` (KERAS_BACKEND=jax,
KERAS_HOME in a temp folder: nothing is downloaded), its biases and BatchNorm
statistics are randomised (so a swapped gamma/variance or a dropped bias
would show), and its weights are written twice:

- Keras 3 legacy layout: ``legacy_h5_format.save_weights_to_hdf5_group``;
- Keras 2 / Keras 1 release layout, written here with h5py, mimicking the
  ``*_tf_dim_ordering_tf_kernels.h5`` files: root attrs ``layer_names`` (every
  layer, byte strings), ``backend`` b'tensorflow', ``keras_version`` b'2.1.5';
  per layer a group with byte-string ``weight_names`` in Keras 1 spelling
  (``block1_conv1_W_1:0``, ``_b_1:0``, ``_gamma_1:0``, ``_beta_1:0``,
  ``_running_mean_1:0``, ``_running_std_1:0`` for the moving variance) and one
  flat dataset per weight; unnamed layers numbered from 1 as Keras 2 did
  (``conv2d_1``, ``batch_normalization_1``), and ResNet50 under its original
  Keras 1 names (``conv1``, ``bn_conv1``, ``res2a_branch2a``, ``bn2a_branch1``,
  ``fc1000``).

cnnlab loads each file and must reproduce Keras' logits (top; Keras' softmax
is switched off to read them) or feature maps (no top) to 1e-4 of their scale.
"""
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras_home_"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cnnlab  # noqa: E402,F401
import jax  # noqa: E402

from cnnlab import pretrained  # noqa: E402
from cnnlab.pretrained import name_maps  # noqa: E402

h5py = pytest.importorskip("h5py")
if os.environ["KERAS_BACKEND"] != "jax":
    pytest.skip("the parity tests need KERAS_BACKEND=jax", allow_module_level=True)
keras = pytest.importorskip("keras")
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

pytestmark = pytest.mark.xdist_group("test_pretrained_parity")  # one worker builds the module fixtures once

FAMILIES = {
    # cnnlab name: (Keras builder name, reduced input side)
    "vgg16": ("VGG16", 64),
    "resnet50": ("ResNet50", 64),
    "xception": ("Xception", 71),
}
RTOL = 1e-4
KERAS1_TOKENS = {"kernel": "W", "bias": "b", "gamma": "gamma", "beta": "beta",
                 "moving_mean": "running_mean", "moving_variance": "running_std",
                 "depthwise_kernel": "depthwise_kernel", "pointwise_kernel": "pointwise_kernel"}
RESNET_BRANCH = {"1": "2a", "2": "2b", "3": "2c", "0": "1"}


def keras1_resnet_name(name: str) -> str:
    """Today's Keras ResNet50 layer name -> the Keras 1 release file's name."""
    fixed = {"conv1_conv": "conv1", "conv1_bn": "bn_conv1", "predictions": "fc1000"}
    if name in fixed:
        return fixed[name]
    parts = name.split("_")  # conv3_block2_1_conv
    if len(parts) == 4 and parts[1].startswith("block") and parts[3] in ("conv", "bn"):
        stage, block, branch, kind = parts[0][4:], int(parts[1][5:]), parts[2], parts[3]
        return f"{'res' if kind == 'conv' else 'bn'}{stage}{chr(ord('a') + block - 1)}_branch{RESNET_BRANCH[branch]}"
    return name


def write_keras2_file(model, path, family):
    counters = {}
    names = {}
    for layer in model.layers:
        auto = name_maps.parse_auto_name(layer.name, ("conv2d", "batch_normalization"))
        if auto is not None:  # Keras 2 numbered unnamed layers from 1
            counters[auto[0]] = counters.get(auto[0], 0) + 1
            names[layer.name] = f"{auto[0]}_{counters[auto[0]]}"
        elif family == "resnet50":
            names[layer.name] = keras1_resnet_name(layer.name)
        else:
            names[layer.name] = layer.name
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([names[layer.name].encode() for layer in model.layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5"
        for layer in model.layers:
            name = names[layer.name]
            group = f.create_group(name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            weight_names = [f"{name}_{KERAS1_TOKENS[w.path.split('/')[-1]]}_1:0" for w in weights]
            group.attrs["weight_names"] = np.array([n.encode() for n in weight_names], dtype="S")
            for weight_name, w in zip(weight_names, weights):
                group.create_dataset(weight_name, data=np.asarray(w.numpy()))


def randomise(model, rng):
    for w in model.weights:
        leaf = w.path.split("/")[-1]
        shape = tuple(w.shape)
        if leaf in ("bias", "beta", "moving_mean"):
            w.assign(rng.normal(0.0, 0.1, shape).astype(np.float32))
        elif leaf == "gamma":
            w.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        elif leaf == "moving_variance":
            w.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory):
    """Per family: Keras' files in both layouts, both tops, and Keras' outputs on fixed images."""
    name = request.param
    builder_name, side = FAMILIES[name]
    builder = getattr(keras.applications, builder_name)
    folder = tmp_path_factory.mktemp(name)
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 1.0, (2, side, side, 3)).astype(np.float32)  # (B, H, W, 3)
    keras.backend.clear_session()
    case = {"name": name, "side": side, "images": images, "files": {}, "reference": {}}
    for top in (True, False):
        kwargs = {"classes": 1000} if top else {}
        model = builder(weights=None, include_top=top, input_shape=(side, side, 3), **kwargs)
        randomise(model, rng)
        tag = "top" if top else "notop"
        keras3 = str(folder / f"{name}_{tag}_keras3.h5")
        with h5py.File(keras3, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        keras2 = str(folder / f"{name}_{tag}_keras2.h5")
        write_keras2_file(model, keras2, name)
        case["files"][tag] = {"keras3": keras3, "keras2": keras2}
        if top:
            model.get_layer("predictions").activation = keras.activations.linear  # logits
            case["weighted_layers"] = [layer.name for layer in model.layers if layer.weights]
            case["keras_top"] = model
        case["reference"][tag] = model.predict(images, verbose=0)
    yield case
    keras.backend.clear_session()


_COMPILED = {}


def cnnlab_model(name, top):
    """(model, jitted apply, abstract variables), built once per (family, top)."""
    if (name, top) not in _COMPILED:
        model = pretrained.keras_model(name, include_top=top, num_classes=1000)
        side = FAMILIES[name][1]
        sample = jax.ShapeDtypeStruct((1, side, side, 3), np.float32)
        abstract = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), sample)
        _COMPILED[(name, top)] = (model, jax.jit(model.apply), dict(abstract))
    return _COMPILED[(name, top)]


def cnnlab_outputs(name, top, path, images):
    """Fills an abstract (never initialised) model from ``path``: every weight must come from the file."""
    _, apply, abstract = cnnlab_model(name, top)
    variables = pretrained.load_weights(abstract, path, name)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(variables))
    return variables, np.asarray(apply(variables, images))


@pytest.mark.parametrize("layout", ["keras3", "keras2"])
@pytest.mark.parametrize("tag", ["top", "notop"])
def test_logits_match_keras(family, tag, layout):
    _, out = cnnlab_outputs(family["name"], tag == "top", family["files"][tag][layout], family["images"])
    reference = family["reference"][tag]
    assert out.shape == reference.shape
    scale = np.abs(reference).max()
    assert scale > 1e-3
    err = np.abs(out - reference).max() / scale
    assert err < RTOL, f"{family['name']} {tag} {layout}: max |diff| / scale = {err:.2e}"


def test_name_table_follows_keras_layer_order(family):
    table = name_maps.table_for(family["name"])
    ours = [e.auto[0] if e.auto else e.keras_name for e in table]
    theirs = [name_maps.parse_auto_name(n, ("conv2d", "batch_normalization")) or (n,)
              for n in family["weighted_layers"]]
    assert ours == [t[0] for t in theirs]


def test_export_loads_back_into_keras(family, tmp_path):
    """cnnlab variables (the file's, all perturbed) -> write_keras_h5 -> Keras load_weights: same logits."""
    name, images = family["name"], family["images"]
    variables, _ = cnnlab_outputs(name, True, family["files"]["top"]["keras2"], images)
    rng = np.random.default_rng(3)
    variables = jax.tree.map(  # positive changes keep BatchNorm variances valid
        lambda w: w + rng.uniform(0.0, 0.05, w.shape).astype(np.float32), variables)
    _, apply, _ = cnnlab_model(name, True)
    ours = np.asarray(apply(variables, images))
    path = str(tmp_path / f"{name}_export.h5")
    pretrained.write_keras_h5(variables, path, name)
    keras_top = family["keras_top"]
    keras_top.load_weights(path)
    theirs = keras_top.predict(images, verbose=0)
    assert np.abs(theirs - family["reference"]["top"]).max() > 1e-3  # Keras really took new weights
    assert np.abs(ours - theirs).max() / np.abs(theirs).max() < RTOL
    back = pretrained.load_weights(variables, path, name)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(variables)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_with_top_file_into_backbone_and_prefix(family, caplog):
    """A with-top file fills an include_top=False backbone held under a prefix; the top is skipped."""
    name, images = family["name"], family["images"]
    _, apply, abstract = cnnlab_model(name, False)
    head = {"kernel": np.ones((3, 2), np.float32)}
    variables = {k: {"backbone": v} for k, v in abstract.items()}
    variables["params"]["head"] = head
    with caplog.at_level("INFO", logger="cnnlab.pretrained.keras_h5"):
        loaded = pretrained.load_weights(variables, family["files"]["top"]["keras3"], name, prefix="backbone")
    assert "predictions" in caplog.text and "include_top=False" in caplog.text
    assert loaded["params"]["head"] is head
    sub = {k: v["backbone"] for k, v in loaded.items()}
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(sub))
    # The same weights through the Keras 2 layout of the same file, without a prefix.
    same = pretrained.load_weights(abstract, family["files"]["top"]["keras2"], name)
    np.testing.assert_array_equal(np.asarray(apply(sub, images)), np.asarray(apply(same, images)))
    with pytest.raises(ValueError, match="prefix='backbone'"):
        pretrained.load_weights(variables, family["files"]["notop"]["keras3"], name)
