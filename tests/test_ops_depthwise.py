"""cnnlab.ops.depthwise_conv2d equals XLA's grouped convolution, values and both gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import cnnlab  # noqa: F401
from cnnlab.ops.depthwise import depthwise_conv2d


def reference(x, k, stride, padding):
    return lax.conv_general_dilated(x, k, (stride, stride), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    feature_group_count=x.shape[-1])


@pytest.mark.parametrize("size,stride,padding", [
    (3, 1, "SAME"), (3, 2, "SAME"), (5, 2, "SAME"), (5, 1, "VALID"), (3, 2, ((1, 1), (0, 1))), (1, 1, "SAME")])
def test_matches_grouped_convolution(size, stride, padding):
    rng = np.random.default_rng(size * 10 + stride)
    x = jnp.asarray(rng.normal(size=(2, 13, 10, 6)).astype(np.float32))  # odd/even sizes, TF 'SAME' corners
    k = jnp.asarray(rng.normal(size=(size, size, 1, 6)).astype(np.float32))
    ours, ref = depthwise_conv2d(x, k, stride, padding), reference(x, k, stride, padding)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    cotangent = jnp.asarray(rng.normal(size=ref.shape).astype(np.float32))
    grads = jax.grad(lambda x, k: jnp.sum(depthwise_conv2d(x, k, stride, padding) * cotangent), (0, 1))(x, k)
    ref_grads = jax.grad(lambda x, k: jnp.sum(reference(x, k, stride, padding) * cotangent), (0, 1))(x, k)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


def test_bad_shapes_say_what_is_expected():
    with pytest.raises(ValueError, match=r"kernel \(kh, kw, 1, C\)"):
        depthwise_conv2d(jnp.zeros((1, 8, 8, 4)), jnp.zeros((3, 3, 4, 1)))
