"""check_input_size: no false alarm at the models' own sizes; for too-small images a
ValueError naming the field, the size, the layer and the smallest size that works.

Shapes only (jax.eval_shape): no model here is compiled or run. The smallest
sizes are derived by hand in the comments and checked both ways: the
reported size passes, one pixel less fails.
"""
import cnnlab  # noqa: F401  (XLA flags before jax)
import flax.linen as nn
import pytest

from cnnlab import models
from cnnlab.models.input_size import smallest_square_size
from cnnlab.models.registry import name_of


@pytest.mark.parametrize("name,kwargs,shape", [
    ("cats_dogs_cnn", {}, (150, 150, 3)),
    ("cats_dogs_cnn", {}, (46, 300, 3)),
    ("mnist_cnn", {}, (28, 28, 1)),
    ("fashion_mnist_cnn", {}, (28, 28, 1)),
    ("cifar10_cnn", {}, (32, 32, 3)),
    ("dense", {}, (28, 28, 1)),
    ("simple_cnn", {}, (32, 32, 3)),
    ("resnet18", {"stem": "cifar"}, (32, 32, 3)),
    ("resnet50", {}, (224, 224, 3)),
    ("vgg16", {}, (224, 224, 3)),
    ("efficientnet_lite0", {"drop_path_rate": 0.2}, (224, 224, 3)),
    ("mobilenet_v2", {}, (224, 224, 3)),
    ("xception", {}, (299, 299, 3)),
    ("inception_v3", {}, (299, 299, 3)),
    ("fcn8s", {}, (224, 224, 3)),
])
def test_no_false_alarm_at_working_sizes(name, kwargs, shape):
    assert models.check_input_size(models.create(name, **kwargs), shape) is None


# (model, too-small image, smallest square side, what the message says about the layer)
TOO_SMALL = [
    # 'valid' 3x3 convs and 2x2 pools: s-2, //2, -2, //2, -2, //2, -2 must leave >= 2 for
    # the last pool: s >= 46. At 32: 30, 15, 13, 6, 4, 2, then conv4 makes 0x0.
    ("cats_dogs_cnn", (32, 32, 3), 46, "layer 'conv4' turns its 2x2 input into 0x0"),
    # 44: conv4 gives 1x1 and the pool after it (a plain function, no module) fails.
    ("cats_dogs_cnn", (44, 44, 3), 46, "cats_dogs_cnn's own code right after layer 'conv4' (output 1x1)"),
    # Five 2x2 pools: 32 -> 1; vgg16 checks H, W >= 32 on entry.
    ("vgg16", (16, 16, 3), 32, "vgg16's input check, before any layer, fails with ValueError: vgg16 needs"),
    # 28 -> 26 -> 13 -> 11 -> 5 -> 3 has 10 pixels to spare: 18 -> ... -> 1.
    ("mnist_cnn", (4, 4, 1), 18, "mnist_cnn's input check"),
    # Three 2x2 pools after 'same' convs: 8 -> 1; at 4 the third pool gets 1x1.
    ("simple_cnn", (4, 4, 3), 8, "simple_cnn's own code right after layer 'stage3_bn1' (output 1x1)"),
    ("efficientnet_lite0", (16, 16, 3), 32, "efficientnet_lite0's input check"),
]


@pytest.mark.parametrize("name,shape,smallest,layer", TOO_SMALL)
def test_too_small_names_field_size_layer_and_smallest(name, shape, smallest, layer):
    model = models.create(name)
    with pytest.raises(ValueError) as info:
        models.check_input_size(model, shape)
    message = str(info.value)
    h, w, c = shape
    assert message.startswith(f"config.data.image_size=({h}, {w}) is too small for {name}: ")
    assert layer in message
    assert f"smallest square size that works is {smallest}x{smallest}" in message
    assert f"raise config.data.image_size to at least ({smallest}, {smallest})" in message
    assert "or pick a model that shrinks the image less" in message
    # Both ways: the reported size works, one less does not (and reports the same size).
    assert models.check_input_size(model, (smallest, smallest, c)) is None
    with pytest.raises(ValueError, match=f"at least \\({smallest}, {smallest}\\)"):
        models.check_input_size(model, (smallest - 1, smallest - 1, c))


def test_smallest_square_sizes_of_deep_models():
    # The minimum sizes Keras documents for these architectures.
    assert smallest_square_size(models.create("xception"), 3) == 71
    assert smallest_square_size(models.create("inception_v3"), 3) == 75
    assert smallest_square_size(models.create("resnet18"), 3) == 1  # padded convs and pools


def test_non_square_too_small_and_field_name():
    with pytest.raises(ValueError) as info:
        models.check_input_size(models.create("cats_dogs_cnn"), (32, 300, 3), field="data.size")
    message = str(info.value)
    assert message.startswith("data.size=(32, 300) is too small for cats_dogs_cnn: ")
    assert "layer 'conv4' turns its 2x35 input into 0x33 (output shape (1, 0, 33, 128))" in message
    assert "at least (46, 46)" in message


class _NeedsMultipleOf4(nn.Module):
    @nn.compact
    def __call__(self, x):
        if x.shape[1] % 4:
            raise ValueError(f"height {x.shape[1]} is not a multiple of 4")
        return nn.Dense(2, name="head")(x.mean(axis=(1, 2)))


class _AlwaysBroken(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(2, name="head")(x.reshape((x.shape[0], 7, -1)))  # 7 divides no H*W*C of 2^k


def test_failures_that_are_not_about_scale():
    with pytest.raises(ValueError, match=r"the square 4x4 works, so this size fails for its shape"):
        models.check_input_size(_NeedsMultipleOf4(), (30, 30, 1))
    assert models.check_input_size(_NeedsMultipleOf4(), (32, 32, 1)) is None
    with pytest.raises(ValueError, match=r"nor at any square size up to 64x64, so the cause is not"):
        models.check_input_size(_AlwaysBroken(), (8, 8, 1), max_size=64)


def test_bad_image_shape_argument():
    for bad in ((32, 32), (0, 32, 3), (32.0, 32, 3)):
        with pytest.raises(ValueError, match=r"needs the image shape \(H, W, C\)"):
            models.check_input_size(models.create("mnist_cnn"), bad)


def test_name_of_prefers_the_most_specific_registered_name():
    assert name_of(models.create("vgg16")) == "vgg16"
    assert name_of(models.create("vgg16_bn")) == "vgg16_bn"
    assert name_of(models.create("resnet152", drop_path_rate=0.1)) == "resnet152"
    assert name_of(_AlwaysBroken()) is None
