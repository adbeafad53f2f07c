"""MobileNetV2 and InceptionV3 against ``keras.applications``: counts, layers, name tables, logits, export.

Parameter counts are shapes only (``jax.eval_shape``) against Keras's
figures. The parity tests build each Keras network once
(``keras.applications.<Model>(weights=None, classifier_activation=None)``,
KERAS_BACKEND=jax, KERAS_HOME in a temp folder: nothing is downloaded),
randomises its weights (He-scaled kernels, random biases and BatchNorm
statistics, so a swapped beta/variance or a misplaced depthwise kernel
would show), and writes them twice:

- Keras 3 legacy layout (``legacy_h5_format.save_weights_to_hdf5_group``);
- Keras 2 release layout, written with h5py: unnamed layers numbered from 1
  (``conv2d_1``, ``batch_normalization_1``), tf.keras weight names
  (``block_1_depthwise/depthwise_kernel:0``, ``batch_normalization_1/beta:0``)
  and each layer's weights stored in reverse order, so only their names say
  which is which.

cnnlab fills a never-initialised model from each file and must reproduce
Keras's logits (or, without the top, feature maps) to 1e-4 of their scale,
and the difference between the two images' outputs to 1e-4 of its own:
MobileNetV2 at 100x100 (odd and even sizes before its stride-2 pads),
without the top at 97x97 (odd size into the 'same' stride-2 stem);
InceptionV3 at 139x139 (mixed8..10 at 3x3, so 'same' average pools
exclude padding). InceptionV3's file order interleaves its branches
(Keras sorts layers by depth); exporting cnnlab variables with
``write_keras_h5`` must load back into Keras by that order.
"""
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras_home_"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import cnnlab  # noqa: E402,F401  (XLA flags before jax)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from cnnlab import models, pretrained  # noqa: E402
from cnnlab.models.inception_v3 import AveragePooling2D  # noqa: E402
from cnnlab.models.mobilenet_v2 import DepthwiseConv2D, correct_pad, make_divisible  # noqa: E402
from cnnlab.pretrained import name_maps  # noqa: E402

pytestmark = pytest.mark.xdist_group("test_models_mobilenet_inception")  # one worker builds the module fixtures once

h5py = pytest.importorskip("h5py")

RTOL = 1e-4
SIDES = {"mobilenet_v2": 100, "inception_v3": 139}  # with the top
NOTOP_SIDE = 97  # MobileNetV2 without the top
AUTO_BASES = ("conv2d", "batch_normalization")


def counts(model, side):
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, side, side, 3)))
    return models.parameter_counts(variables)


def dense(n_in, n_out):
    return n_in * n_out + n_out


# ---------------------------------------------------------------- counts, shapes, layers (no Keras)

@pytest.mark.parametrize("name, kwargs, side, trainable, non_trainable", [
    ("mobilenet_v2", {}, 224, 3_504_872, 34_112),  # Keras: 3,538,984 total
    ("mobilenet_v2", {"alpha": 0.35}, 96, 1_677_128, 14_080),  # Keras: 1,691,208
    ("mobilenet_v2", {"alpha": 1.3}, 96, 5_386_792, 44_256),  # Keras: 5,431,048 (Conv_1 widened)
    ("inception_v3", {}, 299, 23_817_352, 34_432),  # Keras: 23,851,784
])
def test_counts_match_keras(name, kwargs, side, trainable, non_trainable):
    c = counts(models.create(name, **kwargs), side)
    assert c == {"trainable": trainable, "non_trainable": non_trainable,
                 "total": trainable + non_trainable}


@pytest.mark.parametrize("name, side, total, without_top, features", [
    ("mobilenet_v2", 224, 3_538_984, 2_257_984, 1280),
    ("inception_v3", 299, 23_851_784, 21_802_784, 2048),
])
def test_counts_without_top(name, side, total, without_top, features):
    bare = counts(models.create(name, include_top=False), side)["total"]
    assert bare == without_top  # Keras's include_top=False figures
    assert total - bare == dense(features, 1000)


def test_make_divisible_and_correct_pad_follow_keras():
    # Multiples of 8, never more than 10% below: 32 * 0.35 = 11.2 -> 16, 16 * 0.35 = 5.6 -> 8.
    assert [make_divisible(v) for v in (11.2, 5.6, 32.0, 41.6, 1664.0, 100.0)] == [16, 8, 32, 40, 1664, 104]
    assert correct_pad((100, 100)) == ((0, 1), (0, 1))  # even: one row/column at the bottom/right
    assert correct_pad((25, 24)) == ((1, 1), (0, 1))  # odd: one on both sides


def tapped_shapes(model, side, names):
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, side, side, 3)))
    out = jax.eval_shape(lambda v, x: models.features(model, v, x, names), variables,
                         jax.ShapeDtypeStruct((2, side, side, 3), jnp.float32))
    return {k: tuple(v.shape) for k, v in out.items()}


def test_mobilenet_v2_taps_and_outputs():
    model = models.create("mobilenet_v2")
    assert tapped_shapes(model, 100, ["stage1", "stage2", "stage3", "stage4", "stage5", "block_1_pad",
                                      "block_16_project_BN", "predictions"]) == {
        "stage1": (2, 50, 50, 16), "stage2": (2, 25, 25, 24), "stage3": (2, 13, 13, 32),
        "stage4": (2, 7, 7, 96), "stage5": (2, 4, 4, 1280),
        "block_1_pad": (2, 51, 51, 96),  # 50 is even: padded (0, 1)
        "block_16_project_BN": (2, 4, 4, 320), "predictions": (2, 1000)}
    x = jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32)
    for pooling, shape in ((None, (2, 7, 7, 1280)), ("avg", (2, 1280)), ("max", (2, 1280))):
        bare = models.create("mobilenet_v2", include_top=False, pooling=pooling)
        variables = jax.eval_shape(bare.init, jax.random.key(0), x)
        assert jax.eval_shape(bare.apply, variables, x).shape == shape
    names = models.feature_names(models.create("mobilenet_v2", include_top=False, pooling="max"), (64, 64, 3))
    assert names[-1] == "global_max_pooling2d" and "block_13_pad" in names and "block_2_add" in names
    with pytest.raises(ValueError, match="at least 32x32"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 31, 40, 3)))
    with pytest.raises(ValueError, match="alpha"):
        models.create("mobilenet_v2", alpha=0)


def test_inception_v3_taps_and_outputs():
    model = models.create("inception_v3")
    assert tapped_shapes(model, 139, ["max_pooling2d_1", "mixed2", "mixed3", "mixed7", "mixed8",
                                      "mixed9_0", "concatenate_1", "mixed10", "avg_pool"]) == {
        "max_pooling2d_1": (2, 15, 15, 192), "mixed2": (2, 15, 15, 288), "mixed3": (2, 7, 7, 768),
        "mixed7": (2, 7, 7, 768), "mixed8": (2, 3, 3, 1280), "mixed9_0": (2, 3, 3, 768),
        "concatenate_1": (2, 3, 3, 768), "mixed10": (2, 3, 3, 2048), "avg_pool": (2, 2048)}
    x = jax.ShapeDtypeStruct((1, 75, 75, 3), jnp.float32)  # Keras's minimum: mixed8..10 at 1x1
    for pooling, shape in ((None, (1, 1, 1, 2048)), ("avg", (1, 2048)), ("max", (1, 2048))):
        bare = models.create("inception_v3", include_top=False, pooling=pooling)
        variables = jax.eval_shape(bare.init, jax.random.key(0), x)
        assert jax.eval_shape(bare.apply, variables, x).shape == shape
    with pytest.raises(ValueError, match="at least 75x75"):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 74, 299, 3)))


@pytest.mark.parametrize("name, side, tap", [("mobilenet_v2", 64, "stage4"), ("inception_v3", 75, "mixed7")])
def test_train_mode_and_bfloat16(name, side, tap):
    model = models.create(name, num_classes=10, dtype=jnp.bfloat16)
    x = jax.ShapeDtypeStruct((2, side, side, 3), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    out, state = jax.eval_shape(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]),
                                variables, x)
    assert out.shape == (2, 10) and out.dtype == jnp.float32
    assert jax.tree.structure(state["batch_stats"]) == jax.tree.structure(variables["batch_stats"])
    tapped = jax.eval_shape(lambda v, x: models.features(model, v, x, [tap]), variables, x)
    assert tapped[tap].dtype == jnp.bfloat16  # computed in bfloat16


def test_average_pooling_counts_only_real_pixels():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    out = AveragePooling2D(3, 1, "SAME").apply({}, x)
    assert out.shape == (1, 4, 4, 1)
    assert float(out[0, 0, 0, 0]) == pytest.approx((0 + 1 + 4 + 5) / 4)  # corner: 4 real pixels
    assert float(out[0, 0, 1, 0]) == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)  # edge: 6
    assert float(out[0, 1, 1, 0]) == pytest.approx(5.0)  # interior: all 9


def test_inception_v3_table_interleaves_branches():
    """Keras's depth order: within mixed0 the four branches interleave, deepest layer first."""
    table = name_maps.table_for("inception_v3")
    assert len(table) == 2 * 94 + 1 and table[-1].keras_name == "predictions" and table[-1].top
    assert [e.keras_name for e in table[10:14]] == [
        "conv2d_8", "batch_normalization_8", "conv2d_6", "conv2d_9"]
    convs = [e for e in table if e.kind == "conv"]
    assert [e.auto for e in convs[:6]] == [("conv2d", i) for i in range(6)]  # ordinal: file position
    assert {e.kind for e in table} == {"conv", "bn_noscale", "dense"}
    assert [e.weight_names for e in table[:2]] == [("kernel",), ("beta", "moving_mean", "moving_variance")]
    mobilenet = name_maps.table_for("mobilenet_v2")
    depthwise = [e for e in mobilenet if e.kind == "depthwise"]
    assert len(depthwise) == 17 and depthwise[0].slots == (("params", "depthwise_kernel"),)
    assert {"mobilenet_v2", "inception_v3"} <= set(name_maps.supported_models())


# ---------------------------------------------------------------- Keras parity

def keras_module():
    if os.environ["KERAS_BACKEND"] != "jax":
        pytest.skip("the Keras parity tests need KERAS_BACKEND=jax")
    return pytest.importorskip("keras")


def randomise(model, rng, keras):
    """He-scaled kernels and random BatchNorm statistics: activations stay O(1) through ~100
    layers, so the logits depend on the image (Keras's glorot kernels with unit statistics
    let the signal vanish and leave mostly the biases)."""
    for layer in model.layers:
        for w in layer.weights:
            leaf, shape = w.path.split("/")[-1], tuple(w.shape)
            if leaf == "kernel":
                if isinstance(layer, keras.layers.DepthwiseConv2D):  # (kh, kw, C, m)
                    fan_in, gain = shape[0] * shape[1], 2.0
                elif isinstance(layer, keras.layers.Dense):
                    fan_in, gain = shape[0], 1.0
                else:  # (kh, kw, C_in, C_out)
                    fan_in, gain = int(np.prod(shape[:-1])), 2.0
                w.assign(rng.normal(0.0, np.sqrt(gain / fan_in), shape).astype(np.float32))
            elif leaf in ("bias", "beta", "moving_mean"):
                w.assign(rng.normal(0.0, 0.1, shape).astype(np.float32))
            elif leaf == "gamma":
                w.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
            elif leaf == "moving_variance":
                w.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))


def write_keras3_file(model, path):
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def write_keras2_file(model, path, keras):
    """The Keras 2 release layout (see the module docstring), weights of each layer reversed."""
    with h5py.File(path, "w") as f:
        names = []
        for layer in model.layers:
            auto = name_maps.parse_auto_name(layer.name, AUTO_BASES)
            name = f"{auto[0]}_{auto[1] + 1}" if auto else layer.name
            names.append(name)
            group = f.create_group(name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            leaves = [w.path.split("/")[-1] for w in weights]
            if isinstance(layer, keras.layers.DepthwiseConv2D):  # tf.keras spelled it so
                leaves = ["depthwise_kernel" if leaf == "kernel" else leaf for leaf in leaves]
            weight_names = [f"{name}/{leaf}:0" for leaf in leaves][::-1]
            group.attrs["weight_names"] = np.array([n.encode() for n in weight_names], dtype="S")
            for weight_name, w in zip(weight_names, weights[::-1]):
                group.create_dataset(weight_name, data=np.asarray(w.numpy()))
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
    return path


def build_case(name, folder, include_top=True, side=None):
    """Keras's network with random weights, its files in both layouts and its outputs on 2 images."""
    keras = keras_module()
    side = side or SIDES[name]
    builder = getattr(keras.applications, name_maps.KERAS_APPLICATIONS[name])
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 1.0, (2, side, side, 3)).astype(np.float32)  # (B, H, W, 3)
    if include_top:
        keras.backend.clear_session()  # fresh automatic names: conv2d, conv2d_1, ...
        model = builder(weights=None, input_shape=(side, side, 3), classifier_activation=None)
    else:
        model = builder(weights=None, include_top=False, input_shape=(side, side, 3))
    randomise(model, rng, keras)
    tag = "top" if include_top else "notop"
    return {
        "name": name, "images": images, "keras": model,
        "weighted_layers": [layer.name for layer in model.layers if layer.weights],
        "files": {"keras3": write_keras3_file(model, str(folder / f"{name}_{tag}_keras3.h5")),
                  "keras2": write_keras2_file(model, str(folder / f"{name}_{tag}_keras2.h5"), keras)},
        "reference": model.predict(images, verbose=0),
    }


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    return build_case("mobilenet_v2", tmp_path_factory.mktemp("mobilenet_v2"))


@pytest.fixture(scope="module")
def mobilenet_notop(tmp_path_factory):
    return build_case("mobilenet_v2", tmp_path_factory.mktemp("mobilenet_v2_notop"), False, NOTOP_SIDE)


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    return build_case("inception_v3", tmp_path_factory.mktemp("inception_v3"))


@pytest.fixture
def case(request):
    return request.getfixturevalue(request.param)


_COMPILED = {}


def cnnlab_model(name, top, side):
    """(jitted apply, abstract variables), built and compiled once per (model, top, side)."""
    key = (name, top, side)
    if key not in _COMPILED:
        model = pretrained.keras_model(name, include_top=top)
        sample = jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32)
        abstract = jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), sample)
        _COMPILED[key] = (jax.jit(model.apply), dict(abstract))
    return _COMPILED[key]


def cnnlab_outputs(case, path, top=True):
    """Fills an abstract (never initialised) model from ``path``: every weight must come from the file."""
    side = case["images"].shape[1]
    apply, abstract = cnnlab_model(case["name"], top, side)
    variables = pretrained.load_weights(abstract, path, case["name"])
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(variables))
    return variables, np.asarray(apply(variables, case["images"]))


def relative_error(ours, reference, label):
    """max |diff| / max |reference|, and the same for the difference between the two images.

    The second figure checks the image-dependent part of the outputs alone, which a
    shared offset (biases after ~100 layers) would otherwise dominate.
    """
    assert ours.shape == reference.shape and ours.shape[0] == 2
    scale = np.abs(reference).max()
    contrast = reference[0] - reference[1]
    assert scale > 1e-3 and np.abs(contrast).max() > 1e-2 * scale  # the images matter
    err = float(np.abs(ours - reference).max() / scale)
    err_contrast = float(np.abs((ours[0] - ours[1]) - contrast).max() / np.abs(contrast).max())
    print(f"\n{label}: max |diff| / scale = {err:.2e} (scale {scale:.3g}); "
          f"image 0 - image 1: {err_contrast:.2e} (scale {np.abs(contrast).max():.3g})")
    return max(err, err_contrast)


@pytest.mark.parametrize("case", ["mobilenet", "inception"], indirect=True)
def test_name_table_is_keras_weight_order(case):
    """Exact Keras 3 names of a fresh session, in the order Keras lists (and loads) them."""
    assert [e.keras_name for e in name_maps.table_for(case["name"])] == case["weighted_layers"]


@pytest.mark.parametrize("layout", ["keras3", "keras2"])
@pytest.mark.parametrize("case", ["mobilenet", "inception"], indirect=True)
def test_logits_match_keras(case, layout):
    _, out = cnnlab_outputs(case, case["files"][layout])
    err = relative_error(out, case["reference"], f"{case['name']} top {layout}")
    assert err < RTOL


def test_mobilenet_v2_without_top_matches_keras(mobilenet_notop, mobilenet):
    variables, out = cnnlab_outputs(mobilenet_notop, mobilenet_notop["files"]["keras3"], top=False)
    assert out.shape == (2, 4, 4, 1280)
    err = relative_error(out, mobilenet_notop["reference"], "mobilenet_v2 notop keras3")
    assert err < RTOL
    # The with-top file fills the same backbone; its predictions layer is skipped.
    from_top = pretrained.load_weights(variables, mobilenet["files"]["keras2"], "mobilenet_v2")
    kernel = mobilenet["keras"].get_layer("block_5_depthwise").weights[0].numpy()
    loaded = from_top["params"]["block_5_depthwise"]["depthwise_kernel"]
    np.testing.assert_array_equal(np.asarray(loaded), kernel)
    assert "predictions" not in from_top["params"]


def test_inception_v3_export_loads_back_into_keras(inception, tmp_path):
    """cnnlab variables (every weight changed) -> write_keras_h5 -> Keras load_weights: same logits."""
    name, images = inception["name"], inception["images"]
    variables, _ = cnnlab_outputs(inception, inception["files"]["keras2"])
    rng = np.random.default_rng(3)
    variables = jax.tree.map(  # positive factors keep BatchNorm variances valid, activations bounded
        lambda w: w * rng.uniform(0.9, 1.1, w.shape).astype(np.float32), variables)
    apply, _ = cnnlab_model(name, True, images.shape[1])
    ours = np.asarray(apply(variables, images))
    path = pretrained.write_keras_h5(variables, str(tmp_path / f"{name}_export.h5"), name)
    keras_model = inception["keras"]
    keras_model.load_weights(path)
    theirs = keras_model.predict(images, verbose=0)
    assert np.abs(theirs - inception["reference"]).max() > 1e-3  # Keras really took new weights
    assert relative_error(ours, theirs, "inception_v3 export -> keras") < RTOL
    back = pretrained.load_weights(variables, path, name)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(variables)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_depthwise_conv_and_pooling_layers_match_keras():
    keras = keras_module()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9, 9, 4)).astype(np.float32)
    layer = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)
    layer.build(x.shape)
    kernel = layer.kernel.numpy()  # (3, 3, 4, 2)
    bias = rng.normal(size=(8,)).astype(np.float32)
    layer.bias.assign(bias)
    reference = np.asarray(layer(x))
    ours = DepthwiseConv2D(3, 2, "SAME", depth_multiplier=2).apply(
        {"params": {"depthwise_kernel": kernel, "bias": bias}}, x)
    np.testing.assert_allclose(np.asarray(ours), reference, rtol=1e-5, atol=1e-5)
    pooled = keras.layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    np.testing.assert_allclose(np.asarray(AveragePooling2D(3, 1, "SAME").apply({}, x)),
                               np.asarray(pooled), rtol=1e-6, atol=1e-6)
    from keras.src.applications.mobilenet_v2 import _make_divisible

    values = [v * a for v in (16, 24, 32, 64, 96, 160, 320, 1280) for a in (0.35, 0.5, 0.75, 1.3, 1.4)]
    assert [make_divisible(v) for v in values] == [_make_divisible(v, 8) for v in values]
