"""Output-size, padding and parameter arithmetic: hand-computed values, Keras figures and real jax shapes."""
import itertools

import jax
import jax.numpy as jnp
import pytest

from cnnlab.ops import conv, pool, sizes


@pytest.mark.parametrize("n, f, stride, padding, dilation, expected", [
    (6, 3, 1, 0, 1, 4),          # the lessons' 6x6 image, 3x3 filter -> 4x4
    (28, 5, 1, 0, 1, 24),        # LeNet conv1
    (7, 3, 2, 0, 1, 3),          # floor((7 - 3) / 2) + 1
    (8, 3, 2, 0, 1, 3),          # floor((8 - 3) / 2) + 1 = floor(2.5) + 1
    (5, 3, 1, 1, 1, 5),          # p = (f - 1) / 2 keeps the size
    (227, 11, 4, 0, 1, 55),      # AlexNet conv1
    (224, 7, 2, 3, 1, 112),      # ResNet conv1
    (224, 3, 1, "same", 1, 224),
    (7, 3, 2, "same", 1, 4),     # ceil(7 / 2)
    (224, 7, 2, "SAME", 1, 112),
    (7, 3, 1, "valid", 1, 5),
    (7, 3, 1, 0, 2, 3),          # dilated filter covers 5 pixels
    (10, 3, 1, (2, 0), 1, 10),   # asymmetric padding
])
def test_conv_output_size_hand_values(n, f, stride, padding, dilation, expected):
    assert sizes.conv_output_size(n, f, stride, padding, dilation) == expected


@pytest.mark.parametrize("n, window, stride, padding, expected", [
    (224, 2, None, "valid", 112),  # stride defaults to the window
    (7, 2, None, "valid", 3),
    (7, 2, None, "same", 4),
    (5, 3, 2, "valid", 2),
    (55, 3, 2, "valid", 27),      # AlexNet overlapping pool
    (112, 3, 2, "same", 56),      # ResNet max pool
    (112, 3, 2, 1, 56),           # the same with explicit padding 1
])
def test_pool_output_size_hand_values(n, window, stride, padding, expected):
    assert sizes.pool_output_size(n, window, stride, padding) == expected


@pytest.mark.parametrize("n, f, stride, expected", [
    (7, 3, 1, (1, 1)),
    (7, 3, 2, (1, 1)),
    (8, 3, 2, (0, 1)),      # odd total padding: the extra pixel goes after
    (224, 7, 2, (2, 3)),    # ResNet conv1 under 'same' in TF
    (6, 2, 2, (0, 0)),
    (5, 4, 1, (1, 2)),
    (2, 5, 1, (2, 2)),      # filter larger than the input
])
def test_same_padding_hand_values(n, f, stride, expected):
    assert sizes.same_padding(n, f, stride) == expected


@pytest.mark.parametrize("n, f, stride, dilation", itertools.product([1, 5, 8, 13], [1, 2, 3, 7], [1, 2, 3], [1, 2]))
def test_same_padding_matches_lax(n, f, stride, dilation):
    f_eff = (f - 1) * dilation + 1
    expected = tuple(jax.lax.padtype_to_pads((n,), (f_eff,), (stride,), "SAME")[0])
    assert sizes.same_padding(n, f, stride, dilation) == expected


@pytest.mark.parametrize("f, c_in, c_out, bias, kwargs, expected", [
    (3, 1, 32, True, {}, 320),              # Keras MNIST convnet, first Conv2D(32, 3)
    (3, 32, 64, True, {}, 18_496),          # Keras MNIST convnet, second Conv2D(64, 3)
    (3, 3, 64, True, {}, 1_792),            # VGG16 block1_conv1
    (3, 64, 64, True, {}, 36_928),          # VGG16 block1_conv2
    (3, 512, 512, True, {}, 2_359_808),     # VGG16 block5_conv3
    (7, 3, 64, False, {}, 9_408),           # ResNet-50 conv1 (torchvision, no bias)
    (7, 3, 64, True, {}, 9_472),            # ResNet50 conv1_conv (Keras, with bias)
    ((1, 7), 64, 64, True, {}, 28_736),     # a 1x7 factorised conv
    (1, 64, 64, True, {"kw": 7}, 28_736),   # the same with kw given separately
    (3, 32, 32, True, {"groups": 32}, 320),  # Keras DepthwiseConv2D(3) on 32 channels
    (1, 128, 256, False, {}, 32_768),       # pointwise conv of a separable block
])
def test_conv_params_against_published_counts(f, c_in, c_out, bias, kwargs, expected):
    assert sizes.conv_params(f, c_in, c_out, bias, **kwargs) == expected


def test_conv_params_matches_a_real_kernel_and_bias():
    kernel = jnp.zeros((5, 3, 8 // 2, 6))  # HWIO with groups=2
    bias = jnp.zeros((6,))
    assert sizes.conv_params((5, 3), 8, 6, True, groups=2) == kernel.size + bias.size


GRID = list(itertools.product(
    [(9, 10), (16, 7)], [1, 3, (2, 3)], [1, 2, (1, 3)], ["VALID", "SAME", 1, ((2, 0), (1, 3))], [1, 2]))


@pytest.mark.parametrize("hw, f, stride, padding, dilation", GRID)
def test_conv_output_size_matches_jax_shapes(hw, f, stride, padding, dilation):
    fh, fw = sizes.pair(f, "f")
    sh, sw = sizes.pair(stride, "stride")
    x = jax.ShapeDtypeStruct((2,) + hw + (3,), jnp.float32)
    k = jax.ShapeDtypeStruct((fh, fw, 3, 4), jnp.float32)
    out = jax.eval_shape(lambda a, b: conv.conv2d(a, b, stride=stride, padding=padding, dilation=dilation), x, k)
    if isinstance(padding, str):
        ph = pw = padding.lower()
    elif isinstance(padding, int):
        ph = pw = padding
    else:
        ph, pw = padding
    expected = (2, sizes.conv_output_size(hw[0], fh, sh, ph, dilation),
                sizes.conv_output_size(hw[1], fw, sw, pw, dilation), 4)
    assert out.shape == expected


@pytest.mark.parametrize("hw, window, stride, padding", itertools.product(
    [(9, 10), (7, 16)], [2, 3, (3, 2)], [None, 1, 2], ["VALID", "SAME", 1]))
def test_pool_output_size_matches_jax_shapes(hw, window, stride, padding):
    wh, ww = sizes.pair(window, "window")
    sh, sw = sizes.pair(window if stride is None else stride, "stride")
    x = jax.ShapeDtypeStruct((1,) + hw + (2,), jnp.float32)
    expected = (1, sizes.pool_output_size(hw[0], wh, sh, padding if isinstance(padding, int) else padding.lower()),
                sizes.pool_output_size(hw[1], ww, sw, padding if isinstance(padding, int) else padding.lower()), 2)
    for fn in (pool.max_pool, pool.avg_pool):
        assert jax.eval_shape(lambda a: fn(a, window, stride, padding), x).shape == expected


def test_explicit_padding_resolves_every_spec():
    assert sizes.explicit_padding("valid", (8, 8), (3, 3)) == ((0, 0), (0, 0))
    assert sizes.explicit_padding("same", (8, 7), (3, 3), (2, 2)) == ((0, 1), (1, 1))
    assert sizes.explicit_padding(2, (8, 8), (3, 3)) == ((2, 2), (2, 2))
    assert sizes.explicit_padding((1, 2), (8, 8), (3, 3)) == ((1, 1), (2, 2))
    assert sizes.explicit_padding(((0, 1), (2, 3)), (8, 8), (3, 3)) == ((0, 1), (2, 3))


@pytest.mark.parametrize("call, match", [
    (lambda: sizes.conv_output_size(4, 5), "does not fit"),
    (lambda: sizes.conv_output_size(4, 3, stride=0), "stride must be a positive integer"),
    (lambda: sizes.conv_output_size(4, 3, padding=-1), "non-negative"),
    (lambda: sizes.conv_output_size(4, 3, padding="full"), "padding must be"),
    (lambda: sizes.conv_output_size(4.0, 3), "input size must be a positive integer"),
    (lambda: sizes.pool_output_size(3, 4), "pooling window"),
    (lambda: sizes.normalize_padding((1, 2, 3)), "two entries"),
    (lambda: sizes.conv_params(3, 6, 4, groups=4), "must divide"),
    (lambda: sizes.conv_params((3, 3), 6, 4, kw=3), "not both"),
    (lambda: sizes.check_pool_padding((2, 0, 0, 0), (2, 2)), "smaller than the window"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
