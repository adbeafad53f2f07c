"""Pooling in jax over NHWC batches via `jax.lax.reduce_window`.

Pure and jittable (window, stride and padding are static). Padded positions
never win a max and are not counted in an average, as in Keras: with 'SAME'
padding the corner of an average pool is the mean of the real pixels only.
"""
import jax.numpy as jnp
from jax import lax

from cnnlab.ops import sizes


def _prepare(x, window, stride, padding):
    """Checks shapes and returns (x as float, 4-D window, 4-D strides, lax padding)."""
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
    mode = sizes.normalize_padding(padding)
    lax_padding = mode if isinstance(mode, str) else ((0, 0), (pt, pb), (pl, pr), (0, 0))
    return x, (1, wh, ww, 1), (1, sh, sw, 1), lax_padding


def max_pool(x, window, stride=None, padding="VALID"):
    """Max pooling of (B, H, W, C); stride defaults to the window. Returns (B, H_out, W_out, C)."""
    x, dims, strides, padding = _prepare(x, window, stride, padding)
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, padding)


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
