"""Convolution and pooling: numpy references, fast jax ops, size arithmetic, named filters, images."""
from cnnlab.ops.conv import conv2d, depthwise_filter_image, filter_image, zero_pad
from cnnlab.ops.filters import FILTERS, apply_filter, get_filter
from cnnlab.ops.images import image_from_source, load_image, sample_image, save_png, to_grey
from cnnlab.ops.pool import avg_pool, global_avg_pool, global_max_pool, max_pool
from cnnlab.ops.reference import (
    avg_pool_reference,
    conv2d_reference,
    convolve,
    max_pool_reference,
    multiply_sum,
)
from cnnlab.ops.sizes import (
    conv_output_size,
    conv_params,
    explicit_padding,
    normalize_padding,
    pool_output_size,
    same_padding,
)

__all__ = [
    "conv2d",
    "depthwise_filter_image",
    "filter_image",
    "zero_pad",
    "FILTERS",
    "apply_filter",
    "get_filter",
    "image_from_source",
    "load_image",
    "sample_image",
    "save_png",
    "to_grey",
    "avg_pool",
    "global_avg_pool",
    "global_max_pool",
    "max_pool",
    "avg_pool_reference",
    "conv2d_reference",
    "convolve",
    "max_pool_reference",
    "multiply_sum",
    "conv_output_size",
    "conv_params",
    "explicit_padding",
    "normalize_padding",
    "pool_output_size",
    "same_padding",
]
