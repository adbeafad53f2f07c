"""Real forward passes of every zoo model, train and eval, and feature taps.

Weights are drawn with numpy on the shapes ``jax.eval_shape(model.init)``
reports (eager Flax init compiles one XLA program per initializer shape,
which costs seconds per big model on CPU); ``init`` itself runs for real
on the MNIST convnet. Numerical checks against numpy loops cover the
MNIST convnet end to end and the Keras/torchvision ResNet stems.
"""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import models


def numpy_variables(model, x, seed=0):
    """Variables of ``model`` for input ``x``: N(0, 1/fan_in) kernels, small biases,
    BatchNorm scale 1 / bias 0 / mean 0 / var 1."""
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        collection, name = path[0].key, path[-1].key
        shape = leaf.shape
        if collection == "batch_stats":
            return np.zeros(shape, np.float32) if name == "mean" else np.ones(shape, np.float32)
        if name == "scale":
            return np.ones(shape, np.float32)
        if name == "bias":
            return rng.normal(0.0, 0.1, shape).astype(np.float32)
        if name == "depthwise_kernel":  # (kh, kw, C, m): each output sees kh*kw inputs
            fan_in = shape[0] * shape[1]
        else:  # kernels (..., C_in, C_out)
            fan_in = int(np.prod(shape[:-1]))
        return rng.normal(0.0, 1.0 / np.sqrt(fan_in), shape).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


def images(shape, batch=2, seed=1):
    return jax.random.uniform(jax.random.key(seed), (batch,) + shape)


# XLA's cheapest CPU compile: these tests check numbers, not speed.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def run(model, variables, x, *, jit, rngs=None, **kwargs):
    """``model.apply`` eagerly or as one quickly compiled program.

    Eager dispatch compiles each distinct op once, which suits deep ResNets
    (repeated blocks share ops, and the cache carries across tests); small
    nets and Xception (~130 distinct ops) compile faster as one program.
    """
    if not jit:
        return model.apply(variables, x, rngs=rngs, **kwargs)

    def apply(v, x, rngs):
        return model.apply(v, x, rngs=rngs, **kwargs)

    return jax.jit(apply).lower(variables, x, rngs).compile(FAST_COMPILE)(variables, x, rngs)


# name, create kwargs, input shape, output shape without batch, BatchNorm?, dropout?, jit?
CASES = [
    ("dense", {}, (28, 28, 1), (10,), False, True, True),
    ("mnist_cnn", {}, (28, 28, 1), (10,), False, False, True),
    ("cifar10_cnn", {}, (32, 32, 3), (10,), False, True, True),
    ("fashion_mnist_cnn", {}, (28, 28, 1), (10,), False, True, True),
    ("vgg11", dict(num_classes=5, fc_units=16, dropout_rate=0.5), (32, 32, 3), (5,), False, True,
     True),
    ("vgg13", dict(include_top=False, pooling="avg"), (32, 32, 3), (512,), False, False, False),
    ("vgg16", dict(include_top=False, pooling="max"), (32, 32, 3), (512,), False, False, False),
    ("vgg19", dict(include_top=False), (32, 32, 3), (1, 1, 512), False, False, False),
    ("resnet18", dict(num_classes=5, stem="cifar"), (32, 32, 3), (5,), True, False, True),
    ("resnet34", dict(include_top=False, pooling="avg", variant="keras"), (32, 32, 3), (512,),
     True, False, False),
    ("resnet50", dict(num_classes=5, variant="keras"), (32, 32, 3), (5,), True, False, False),
    ("resnet101", dict(include_top=False, pooling="max"), (32, 32, 3), (2048,), True, False,
     False),
    ("resnet152", dict(include_top=False), (32, 32, 3), (1, 1, 2048), True, False, False),
    ("xception", dict(num_classes=5), (71, 71, 3), (5,), True, False, True),
]


@pytest.mark.parametrize("name, kwargs, in_shape, out_shape, has_bn, has_dropout, jit", CASES,
                         ids=[c[0] for c in CASES])
def test_forward_train_and_eval(name, kwargs, in_shape, out_shape, has_bn, has_dropout, jit):
    model = models.create(name, **kwargs)
    x = images(in_shape)
    variables = numpy_variables(model, x)
    y_eval = run(model, variables, x, jit=jit)
    assert y_eval.shape == (2,) + out_shape
    assert bool(jnp.all(jnp.isfinite(y_eval)))
    assert float(jnp.std(y_eval)) > 0  # not a constant output

    y_train, updates = run(model, variables, x, jit=jit, train=True, mutable=["batch_stats"],
                           rngs={"dropout": jax.random.key(3)})
    assert y_train.shape == (2,) + out_shape
    assert bool(jnp.all(jnp.isfinite(y_train)))
    if has_bn:
        old = jax.tree.leaves(variables["batch_stats"])
        new = jax.tree.leaves(updates["batch_stats"])
        assert len(old) == len(new) > 0
        assert all(not np.allclose(o, n) for o, n in zip(old, new))  # every BN moved
        assert not np.allclose(y_train, y_eval, atol=1e-3)
    else:
        assert not updates.get("batch_stats")
    if has_dropout:  # train mode drops units, eval mode does not
        assert not np.allclose(y_train, y_eval, atol=1e-3)
    if not has_bn and not has_dropout:
        np.testing.assert_allclose(y_train, y_eval, rtol=1e-5, atol=1e-6)


def test_real_init_runs():
    model = models.create("mnist_cnn", num_classes=7)
    x = jnp.zeros((1, 28, 28, 1))
    variables = jax.jit(model.init).lower(jax.random.key(0), x).compile(FAST_COMPILE)(
        jax.random.key(0), x)
    y = model.apply(variables, images((28, 28, 1)))
    assert y.shape == (2, 7) and bool(jnp.all(jnp.isfinite(y)))
    kernel = variables["params"]["conv2d"]["kernel"]  # glorot uniform: limit sqrt(6/(9+288))
    assert 0 < float(jnp.max(jnp.abs(kernel))) <= np.sqrt(6 / (9 * 1 + 9 * 32))
    assert float(jnp.abs(variables["params"]["conv2d"]["bias"]).max()) == 0.0


# ----- numpy references -------------------------------------------------------------


def np_conv(x, w, b=None, stride=1, pad=((0, 0), (0, 0)), pad_value=0.0):
    """Direct convolution by loops over output positions. x (B,H,W,C), w (kh,kw,C,F)."""
    x = np.pad(x, ((0, 0), pad[0], pad[1], (0, 0)), constant_values=pad_value)
    kh, kw = w.shape[:2]
    out_h = (x.shape[1] - kh) // stride + 1
    out_w = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, w.shape[3]), np.float64)
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return out if b is None else out + b


def np_max_pool(x, k, stride, pad=((0, 0), (0, 0)), pad_value=-np.inf):
    x = np.pad(x, ((0, 0), pad[0], pad[1], (0, 0)), constant_values=pad_value)
    out_h = (x.shape[1] - k) // stride + 1
    out_w = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]
            out[:, i, j, :] = window.max(axis=(1, 2))
    return out


def test_mnist_cnn_matches_numpy_reference():
    model = models.create("mnist_cnn")
    x = images((28, 28, 1), batch=3)
    variables = numpy_variables(model, x, seed=5)
    p = jax.tree.map(np.asarray, variables["params"])
    h = np.asarray(x, np.float64)
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    h = relu(np_conv(h, p["conv2d"]["kernel"], p["conv2d"]["bias"]))
    h = np_max_pool(h, 2, 2)
    h = relu(np_conv(h, p["conv2d_1"]["kernel"], p["conv2d_1"]["bias"]))
    h = np_max_pool(h, 2, 2)
    h = relu(np_conv(h, p["conv2d_2"]["kernel"], p["conv2d_2"]["bias"]))
    assert h.shape == (3, 3, 3, 64)
    h = h.reshape(3, -1)  # row-major over (H, W, C), as Keras flattens NHWC
    h = relu(h @ p["dense"]["kernel"] + p["dense"]["bias"])
    logits = h @ p["predictions"]["kernel"] + p["predictions"]["bias"]
    np.testing.assert_allclose(model.apply(variables, x), logits, rtol=1e-4, atol=1e-5)


# Same configurations and inputs as forward cases, so eager ops are already compiled.
KERAS_RESNET = ("resnet34", dict(include_top=False, pooling="avg", variant="keras"))
TORCH_RESNET = ("resnet101", dict(include_top=False, pooling="max"))


@pytest.mark.parametrize("variant", ["keras", "torch"])
def test_resnet_stem_matches_numpy(variant):
    """Keras: ZeroPadding(3) + 7x7/2 valid conv, ZeroPadding(1) + 3x3/2 valid max pool;
    torch: the same with padding inside conv (zeros) and pool (-inf)."""
    name, kwargs = KERAS_RESNET if variant == "keras" else TORCH_RESNET
    model = models.create(name, **kwargs)
    x = images((32, 32, 3))
    variables = numpy_variables(model, x, seed=2)
    p = variables["params"]["conv1_conv"]
    assert ("bias" in p) == (variant == "keras")
    taps = models.features(model, variables, x, ["conv1_conv", "conv1_relu", "pool1_pool"])
    expected = np_conv(np.asarray(x, np.float64), np.asarray(p["kernel"]),
                       np.asarray(p["bias"]) if "bias" in p else None,
                       stride=2, pad=((3, 3), (3, 3)))
    assert taps["conv1_conv"].shape == (2, 16, 16, 64)
    np.testing.assert_allclose(taps["conv1_conv"], expected, rtol=1e-4, atol=1e-4)
    relu_out = np.asarray(taps["conv1_relu"])
    pad_value = 0.0 if variant == "keras" else -np.inf
    pooled = np_max_pool(relu_out, 3, 2, pad=((1, 1), (1, 1)), pad_value=pad_value)
    assert taps["pool1_pool"].shape == pooled.shape == (2, 8, 8, 64)
    np.testing.assert_allclose(taps["pool1_pool"], pooled, rtol=1e-6)


@pytest.mark.parametrize("variant, momentum", [("keras", 0.99), ("torch", 0.9)])
def test_batchnorm_running_stats_update(variant, momentum):
    name, kwargs = KERAS_RESNET if variant == "keras" else TORCH_RESNET
    model = models.create(name, **kwargs)
    x = images((32, 32, 3), seed=6)
    variables = numpy_variables(model, x)
    conv_out = np.asarray(models.features(model, variables, x, "conv1_conv")["conv1_conv"],
                          np.float64)
    _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    stats = updates["batch_stats"]["conv1_bn"]
    batch_mean = conv_out.mean(axis=(0, 1, 2))
    batch_var = conv_out.var(axis=(0, 1, 2))  # biased, as Keras and Flax use
    np.testing.assert_allclose(stats["mean"], (1 - momentum) * batch_mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["var"], momentum + (1 - momentum) * batch_var,
                               rtol=1e-4, atol=1e-6)


def test_resnet_stride_placement_per_variant():
    """Keras (v1) strides the first 1x1 conv of a bottleneck; torchvision (v1.5) the 3x3."""
    x = jnp.zeros((1, 64, 64, 3))
    shapes = {}
    for variant in ("keras", "torch"):
        model = models.create("resnet50", variant=variant, include_top=False)
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
        shapes[variant] = jax.eval_shape(
            lambda v, x: models.features(model, v, x,
                                         ["conv3_block1_1_conv", "conv3_block1_2_conv"]),
            variables, x)
    assert shapes["keras"]["conv3_block1_1_conv"].shape == (1, 8, 8, 128)
    assert shapes["keras"]["conv3_block1_2_conv"].shape == (1, 8, 8, 128)
    assert shapes["torch"]["conv3_block1_1_conv"].shape == (1, 16, 16, 128)
    assert shapes["torch"]["conv3_block1_2_conv"].shape == (1, 8, 8, 128)


# ----- feature taps -------------------------------------------------------------------


def tap_shapes(model, input_shape, names, batch=2):
    x = jnp.zeros((batch,) + input_shape)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    out = jax.eval_shape(lambda v, x: models.features(model, v, x, names), variables, x)
    return {k: v.shape for k, v in out.items()}


def test_vgg_stage_taps_shapes():
    names = ["block1_pool", "block3_pool", "block4_pool", "block5_pool", "block5_conv3"]
    shapes = tap_shapes(models.create("vgg16", include_top=False), (64, 64, 3), names)
    assert shapes == {"block1_pool": (2, 32, 32, 64), "block3_pool": (2, 8, 8, 256),
                      "block4_pool": (2, 4, 4, 512), "block5_pool": (2, 2, 2, 512),
                      "block5_conv3": (2, 4, 4, 512)}


def test_resnet_stage_taps_shapes():
    stages = ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert tap_shapes(models.create("resnet50"), (64, 64, 3), stages) == {
        "conv1": (2, 32, 32, 64), "conv2": (2, 16, 16, 256), "conv3": (2, 8, 8, 512),
        "conv4": (2, 4, 4, 1024), "conv5": (2, 2, 2, 2048)}
    assert tap_shapes(models.create("resnet18", stem="cifar"), (32, 32, 3), stages) == {
        "conv1": (2, 32, 32, 64), "conv2": (2, 32, 32, 64), "conv3": (2, 16, 16, 128),
        "conv4": (2, 8, 8, 256), "conv5": (2, 4, 4, 512)}


def test_xception_block_taps_shapes():
    names = ["block1", "block2", "block3", "block4", "block12", "block13", "block14",
             "block13_sepconv2_bn", "add_11"]
    assert tap_shapes(models.create("xception"), (299, 299, 3), names, batch=1) == {
        "block1": (1, 147, 147, 64), "block2": (1, 74, 74, 128), "block3": (1, 37, 37, 256),
        "block4": (1, 19, 19, 728), "block12": (1, 19, 19, 728), "block13": (1, 10, 10, 1024),
        "block14": (1, 10, 10, 2048), "block13_sepconv2_bn": (1, 19, 19, 1024),
        "add_11": (1, 10, 10, 1024)}


def test_features_equal_backbone_output_and_train_mode():
    name, kwargs = KERAS_RESNET  # avg pooling: the output is the mean of conv5
    model = models.create(name, **kwargs)
    x = images((32, 32, 3))
    variables = numpy_variables(model, x)
    taps = models.features(model, variables, x, ["conv5", "conv4_block6_out", "conv4"])
    apply = jax.jit(model.apply, static_argnames=("train", "mutable"))  # compiled, as features is
    np.testing.assert_allclose(taps["conv5"].mean(axis=(1, 2)), apply(variables, x),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(taps["conv4_block6_out"], taps["conv4"])  # last block = stage
    train_taps = models.features(model, variables, x, ["conv5"], train=True)
    train_out, _ = apply(variables, x, train=True, mutable=("batch_stats",))
    np.testing.assert_allclose(train_taps["conv5"].mean(axis=(1, 2)), train_out,
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(train_taps["conv5"], taps["conv5"], atol=1e-3)


def test_features_unknown_name_lists_tappable_names():
    model = models.create("mnist_cnn")
    x = images((28, 28, 1))
    variables = numpy_variables(model, x)
    with pytest.raises(ValueError, match=r"no feature\(s\) \['block9'\].*conv2d_1"):
        models.features(model, variables, x, ["conv2d", "block9"])
    with pytest.raises(ValueError, match="names is empty"):
        models.features(model, variables, x, [])


def test_feature_names_in_call_order():
    names = models.feature_names(models.create("mnist_cnn"), (28, 28, 1))
    assert names == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "conv2d_2",
                     "flatten", "dense", "predictions"]
    resnet = models.feature_names(models.create("resnet18"), (32, 32, 3))
    assert resnet.index("conv1") < resnet.index("conv2") < resnet.index("conv5") \
        < resnet.index("predictions")
