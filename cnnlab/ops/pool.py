"""Pooling in jax over NHWC batches.

Pure and jittable (window, stride and padding are static). Padded positions
never win a max and are not counted in an average, as in Keras: with 'SAME'
padding the corner of an average pool is the mean of the real pixels only.

Max pooling whose window equals its stride (the 2x2/2 pool of nearly every
convnet) is a reshape to (B, Ho, kh, Wo, kw, C) and a max over the window
axes. Its gradient is elementwise (compare with the output, mask, divide by
the number of ties), which XLA fuses; `lax.reduce_window`'s gradient is a
select-and-scatter that XLA:CPU runs as a slow scalar loop (it was ~45% of
the CIFAR-10 convnet's training step, benchmarks/README.md). Outputs are
identical. Gradients differ only where a window holds several equal maxima:
reduce_window gives all of it to one of them, the reshape form splits it
evenly (after a ReLU such ties are zeros, whose gradient the ReLU drops).
Overlapping windows (3x3/2) keep `lax.reduce_window`.
"""
import jax.numpy as jnp
from jax import lax

from cnnlab.ops import sizes


def _prepare(x, window, stride, padding):
    """Checks shapes and returns (x as float, 4-D window, 4-D strides, explicit 4-D lax padding)."""
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"x must be a batch of images (B, H, W, C), got shape {x.shape}; "
            f"add a batch axis with x[None] for a single image")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    wh, ww = sizes.pair(window, "window")
    sh, sw = sizes.pair(window if stride is None else stride, "stride")
    (pt, pb), (pl, pr) = sizes.explicit_padding(padding, x.shape[1:3], (wh, ww), (sh, sw))
    sizes.check_pool_padding((pt, pb, pl, pr), (wh, ww))
    sizes.pool_output_size(x.shape[1], wh, sh, (pt, pb))  # raises when the window does not fit
    sizes.pool_output_size(x.shape[2], ww, sw, (pl, pr))
    return x, (1, wh, ww, 1), (1, sh, sw, 1), ((0, 0), (pt, pb), (pl, pr), (0, 0))


def max_pool(x, window, stride=None, padding="VALID"):
    """Max pooling of (B, H, W, C); stride defaults to the window. Returns (B, H_out, W_out, C)."""
    x, dims, strides, lax_padding = _prepare(x, window, stride, padding)
    if dims == strides:
        return _tiled_max_pool(x, dims[1:3], lax_padding)
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, lax_padding)


def _tiled_max_pool(x, window, lax_padding):
    """Max pool with stride == window as pad/crop, reshape and max (see the module docstring)."""
    kh, kw = window
    b, h, w, c = x.shape
    (pt, pb), (pl, pr) = lax_padding[1:3]
    if pt or pb or pl or pr:
        x = jnp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-jnp.inf)
        h, w = h + pt + pb, w + pl + pr
    ho, wo = (h - kh) // kh + 1, (w - kw) // kw + 1
    x = x[:, :ho * kh, :wo * kw]  # rows and columns no window covers ('VALID' remainder)
    return x.reshape(b, ho, kh, wo, kw, c).max(axis=(2, 4))  # (B, Ho, Wo, C)


def avg_pool(x, window, stride=None, padding="VALID"):
    """Average pooling of (B, H, W, C), dividing by the number of real pixels in each window."""
    x, dims, strides, padding = _prepare(x, window, stride, padding)
    sums = lax.reduce_window(x, 0.0, lax.add, dims, strides, padding)  # (B, H_out, W_out, C)
    ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)  # (1, H, W, 1)
    counts = lax.reduce_window(ones, 0.0, lax.add, dims, strides, padding)  # (1, H_out, W_out, 1)
    return sums / counts


def global_avg_pool(x, keepdims=False):
    """Mean over H and W: (B, H, W, C) -> (B, C), or (B, 1, 1, C) with keepdims."""
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be (B, H, W, C), got shape {x.shape}")
    return jnp.mean(x, axis=(1, 2), keepdims=keepdims)


def global_max_pool(x, keepdims=False):
    """Max over H and W: (B, H, W, C) -> (B, C), or (B, 1, 1, C) with keepdims."""
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be (B, H, W, C), got shape {x.shape}")
    return jnp.max(x, axis=(1, 2), keepdims=keepdims)


__all__ = ["max_pool", "avg_pool", "global_avg_pool", "global_max_pool"]
