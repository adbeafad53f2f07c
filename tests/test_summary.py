"""cnnlab.summary: Keras-like rows and totals from a traced (compute-free) init."""
import cnnlab
import flax.linen as nn
import pytest

from cnnlab import models


def test_mnist_cnn_layer_by_layer_like_keras():
    lines = []
    s = cnnlab.summary(models.create("mnist_cnn"), (28, 28, 1), print_fn=lines.append)
    assert [(r.name, r.type, r.output_shape, r.params) for r in s.rows] == [
        ("conv2d", "Conv", (None, 26, 26, 32), 320),
        ("max_pooling2d", "MaxPooling2D", (None, 13, 13, 32), 0),
        ("conv2d_1", "Conv", (None, 11, 11, 64), 18_496),
        ("max_pooling2d_1", "MaxPooling2D", (None, 5, 5, 64), 0),
        ("conv2d_2", "Conv", (None, 3, 3, 64), 36_928),
        ("flatten", "Flatten", (None, 576), 0),
        ("dense", "Dense", (None, 64), 36_928),
        ("predictions", "Dense", (None, 10), 650),
    ]
    assert sum(r.params for r in s.rows if r.type == "Conv") == 55_744
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (93_322, 93_322, 0)
    assert len(lines) == 1
    table = lines[0]
    assert "conv2d_1 (Conv)" in table and "(None, 11, 11, 64)" in table and "18,496" in table
    assert "Total params: 93,322" in table and "Non-trainable params: 0" in table
    assert str(s) == table


def test_resnet50_keras_totals_and_bn_rows():
    s = cnnlab.summary(models.create("resnet50", variant="keras"), (224, 224, 3), print_fn=None)
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (
        25_636_712, 25_583_592, 53_120)
    assert sum(r.params for r in s.rows) == s.total_params  # flat model: rows add up
    bn = s.row("conv1_bn")
    assert (bn.type, bn.trainable, bn.non_trainable, bn.params) == ("BatchNorm", 128, 128, 256)
    assert s.row("conv1_pad").output_shape == (None, 230, 230, 3)
    assert s.row("pool1_pool").output_shape == (None, 56, 56, 64)
    assert s.row("conv5_block3_out").output_shape == (None, 7, 7, 2048)
    assert s.row("avg_pool").output_shape == (None, 2048)
    assert s.row("predictions").params == 2048 * 1000 + 1000


def test_resnet50_torch_trainable_is_torchvision_count():
    s = cnnlab.summary(models.create("resnet50"), (224, 224, 3), print_fn=None)
    assert s.trainable_params == 25_557_032
    assert s.total_params == 25_557_032 + 53_120
    assert s.row("conv1_conv").params == 7 * 7 * 3 * 64  # no bias


def test_xception_and_vgg_totals():
    x = cnnlab.summary(models.create("xception"), (299, 299, 3), print_fn=None)
    assert (x.total_params, x.trainable_params, x.non_trainable_params) == (
        22_910_480, 22_855_952, 54_528)
    assert x.row("block2_sepconv1").params == 3 * 3 * 64 + 64 * 128 == 8_768
    assert x.row("block1_conv1").output_shape == (None, 149, 149, 32)
    assert x.row("add_11").output_shape == (None, 10, 10, 1024)
    v = cnnlab.summary(models.create("vgg19"), (224, 224, 3), print_fn=None)
    assert v.total_params == 143_667_240 and v.non_trainable_params == 0
    assert v.row("fc1").params == 7 * 7 * 512 * 4096 + 4096
    assert v.row("block5_pool").output_shape == (None, 7, 7, 512)


class WrappedMnist(nn.Module):
    """A backbone used as a submodule, as heads will do."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = models.MnistCNN(num_classes=4, name="backbone")(x, train)
        return nn.Dense(2, name="head")(x)


def test_depth_controls_nested_rows():
    shallow = cnnlab.summary(WrappedMnist(), (28, 28, 1), print_fn=None)
    assert [(r.name, r.output_shape, r.params) for r in shallow.rows] == [
        ("backbone", (None, 4), 93_322 - 650 + 64 * 4 + 4), ("head", (None, 2), 10)]
    deep = cnnlab.summary(WrappedMnist(), (28, 28, 1), depth=None, print_fn=None)
    names = [r.name for r in deep.rows]
    assert names[:2] == ["backbone", "backbone/conv2d"]  # parents precede children
    assert deep.row("backbone/conv2d_1").params == 18_496
    assert deep.total_params == shallow.total_params == 93_322 - 650 + 260 + 10


def test_summary_input_errors():
    with pytest.raises(ValueError, match="without the batch axis"):
        cnnlab.summary(models.create("mnist_cnn"), (0, 28, 1), print_fn=None)
    with pytest.raises(ValueError, match="depth must be"):
        cnnlab.summary(models.create("mnist_cnn"), (28, 28, 1), depth=0, print_fn=None)
    with pytest.raises(ValueError, match="NHWC"):
        cnnlab.summary(models.create("mnist_cnn"), (28, 28), print_fn=None)
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        cnnlab.summary(models.create("mnist_cnn"), (28, 28, 1), print_fn=None).row("conv9")


def test_parameter_counts_rejects_non_dicts():
    with pytest.raises(ValueError, match="variables dict"):
        models.parameter_counts([1, 2])
