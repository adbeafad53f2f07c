"""Parameter counts of every zoo model against Keras / torchvision figures.

Shapes only: ``jax.eval_shape(model.init, ...)`` traces init without
allocating or computing the weights, so VGG19 and ResNet152 cost
milliseconds. "Keras" counts are params + batch_stats (trainable +
BatchNorm moving statistics); "torchvision" counts are params alone.
"""
import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import pytest

from cnnlab import models


def counts(model, input_shape):
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1,) + input_shape))
    return models.parameter_counts(variables)


def dense(n_in, n_out):
    return n_in * n_out + n_out


def conv(k, c_in, c_out, bias=True):
    return k * k * c_in * c_out + (c_out if bias else 0)


def test_dense_baseline_count_by_formula():
    expected = dense(784, 512) + dense(512, 256) + dense(256, 10)
    assert expected == 535_818
    assert counts(models.create("dense"), (28, 28, 1))["total"] == 535_818
    small = models.create("dense", hidden=(32,), num_classes=3)
    assert counts(small, (8, 8, 2))["total"] == dense(128, 32) + dense(32, 3)


def test_mnist_cnn_matches_keras():
    c = counts(models.create("mnist_cnn"), (28, 28, 1))
    conv_params = conv(3, 1, 32) + conv(3, 32, 64) + conv(3, 64, 64)
    assert conv_params == 55_744
    assert c == {"trainable": 93_322, "non_trainable": 0, "total": 93_322}
    assert c["total"] == conv_params + dense(3 * 3 * 64, 64) + dense(64, 10)


def test_cifar10_cnn_matches_keras_example():
    # 32 -same-> 32 -valid-> 30 -pool-> 15 -same-> 15 -valid-> 13 -pool-> 6: 6*6*64 = 2304.
    expected = (conv(3, 3, 32) + conv(3, 32, 32) + conv(3, 32, 64) + conv(3, 64, 64)
                + dense(2304, 512) + dense(512, 10))
    assert expected == 1_250_858
    assert counts(models.create("cifar10_cnn"), (32, 32, 3))["total"] == 1_250_858


def test_fashion_mnist_cnn_matches_keras():
    # 28 -pool-> 14 -pool-> 7 -pool-> 3: 3*3*256 = 2304.
    expected = (conv(7, 1, 64) + conv(3, 64, 128) + conv(3, 128, 128) + conv(3, 128, 256)
                + conv(3, 256, 256) + dense(2304, 128) + dense(128, 64) + dense(64, 10))
    assert expected == 1_413_834
    assert counts(models.create("fashion_mnist_cnn"), (28, 28, 1))["total"] == 1_413_834


@pytest.mark.parametrize("name, with_top, without_top", [
    ("vgg11", 132_863_336, 9_220_480),
    ("vgg13", 133_047_848, 9_404_992),
    ("vgg16", 138_357_544, 14_714_688),
    ("vgg19", 143_667_240, 20_024_384),
])
def test_vgg_counts_match_keras_and_torchvision(name, with_top, without_top):
    assert counts(models.create(name), (224, 224, 3))["total"] == with_top
    assert counts(models.create(name, include_top=False), (224, 224, 3))["total"] == without_top
    # The top is flatten(7*7*512) -> 4096 -> 4096 -> 1000.
    assert with_top - without_top == dense(25_088, 4096) + dense(4096, 4096) + dense(4096, 1000)


def test_vgg_top_at_non_224_input_sizes_fc1_from_flattened_map():
    c = counts(models.create("vgg16", num_classes=10), (64, 64, 3))["total"]
    # 64 / 32 = 2: block5_pool is 2x2x512 -> fc1 has 2048 inputs.
    assert c == 14_714_688 + dense(2 * 2 * 512, 4096) + dense(4096, 4096) + dense(4096, 10)


@pytest.mark.parametrize("depth, torchvision", [
    (18, 11_689_512), (34, 21_797_672), (50, 25_557_032), (101, 44_549_160), (152, 60_192_808),
])
def test_resnet_torch_variant_matches_torchvision(depth, torchvision):
    c = counts(models.create(f"resnet{depth}", variant="torch"), (224, 224, 3))
    assert c["trainable"] == torchvision  # torchvision: BN running stats are buffers
    assert c["non_trainable"] > 0  # they exist here as batch_stats


@pytest.mark.parametrize("depth, total, trainable, non_trainable", [
    (50, 25_636_712, 25_583_592, 53_120),
    (101, 44_707_176, 44_601_832, 105_344),
    (152, 60_419_944, 60_268_520, 151_424),
])
def test_resnet_keras_variant_matches_keras_applications(depth, total, trainable, non_trainable):
    c = counts(models.create(f"resnet{depth}", variant="keras"), (224, 224, 3))
    assert c == {"trainable": trainable, "non_trainable": non_trainable, "total": total}


def test_resnet_keras_minus_torch_is_conv_biases():
    keras = counts(models.create("resnet50", variant="keras"), (224, 224, 3))
    torch = counts(models.create("resnet50", variant="torch"), (224, 224, 3))
    assert keras["non_trainable"] == torch["non_trainable"]  # same BatchNorms
    # One bias per conv output channel: the BN channel count is exactly that.
    assert keras["trainable"] - torch["trainable"] == keras["non_trainable"] // 2 == 26_560


def test_resnet_without_top_and_cifar_stem():
    full = counts(models.create("resnet50"), (224, 224, 3))["trainable"]
    bare = counts(models.create("resnet50", include_top=False), (224, 224, 3))["trainable"]
    assert full - bare == dense(2048, 1000)
    cifar = counts(models.create("resnet18", stem="cifar", num_classes=10), (32, 32, 3))
    # torchvision 11,689,512 - 7x7 stem (9,408) + 3x3 stem (1,728) - fc 1000 + fc 10.
    assert cifar["trainable"] == 11_689_512 - 9_408 + 1_728 - dense(512, 1000) + dense(512, 10)
    assert cifar["trainable"] == 11_173_962


def test_xception_matches_keras():
    c = counts(models.create("xception"), (299, 299, 3))
    assert c == {"trainable": 22_855_952, "non_trainable": 54_528, "total": 22_910_480}
    bare = counts(models.create("xception", include_top=False), (299, 299, 3))
    assert c["total"] - bare["total"] == dense(2048, 1000) == 2_049_000


def test_mixed_precision_keeps_float32_params():
    model = models.create("resnet18", dtype=jnp.bfloat16, num_classes=10)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    dtypes = {leaf.dtype for leaf in jax.tree.leaves(variables)}
    assert dtypes == {jnp.dtype(jnp.float32)}
    out = jax.eval_shape(model.apply, variables, jnp.zeros((2, 32, 32, 3)))
    assert out.shape == (2, 10) and out.dtype == jnp.float32
    tapped = jax.eval_shape(
        lambda v, x: models.features(model, v, x, ["conv1_conv", "conv5"]), variables,
        jnp.zeros((2, 32, 32, 3)))
    assert tapped["conv1_conv"].dtype == jnp.bfloat16  # computed in bfloat16
    assert tapped["conv5"].shape == (2, 1, 1, 512)
