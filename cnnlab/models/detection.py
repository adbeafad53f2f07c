"""A single-stage, SSD-style multi-box detector on any zoo backbone, and a tiny backbone.

Why SSD anchors rather than an anchor-free centre/FCOS head: the boxes
package already provides the three anchor pieces (``multilevel_anchors``,
``match_anchors``, ``encode_boxes``/``decode_boxes``), so the detector is a
thin, readable layer over tested code; anchors on several feature maps are
the lesson's own picture of detection (default boxes of several sizes and
aspect ratios, one prediction per default box); and assignment by IoU needs
no per-level size ranges or centre-sampling radii to tune. Classification
uses a sigmoid per class trained with the focal loss (RetinaNet), which
replaces SSD's softmax + hard-negative mining with a jittable, sort-free loss
(see ``cnnlab.tasks.detection``).

``SSD`` (registered ``ssd``) runs the backbone (``include_top=False``) and
taps the feature maps named in ``feature_layers`` with Flax's method
interceptor, so any module path of any zoo backbone (``stage3_out`` of
``tiny_backbone``, ``conv4_block2_out`` of ResNet-18, ``block4_conv3`` of
VGG-16) becomes a level; the backbone's last map is the next level and
``extra_levels`` stride-2 convolutions add coarser ones (SSD's extra
layers). With ``top_down=True`` the levels are first merged FPN-style
(Lin et al. 2017): a 1x1 lateral conv to ``head_width`` per level, each
coarser level upsampled (nearest) and added to the next finer one, then a
3x3 conv, so fine levels that see small objects also carry the coarse
levels' semantics. Each level gets a 3x3 conv + ReLU, then 3x3 convs predicting ``A *
num_classes`` logits and ``A * 4`` box deltas, ``A = len(scales[l]) *
len(aspect_ratios)``. Outputs (a dict):

- ``class_logits`` float32 ``(B, total, num_classes)``;
- ``box_deltas`` float32 ``(B, total, 4)``, SSD-coded against the anchors;
- ``anchors`` float32 ``(total, 4)`` normalised (x1, y1, x2, y2), in the
  (level, y, x, shape) order of ``cnnlab.boxes.multilevel_anchors``.

``TinyBackbone`` (registered ``tiny_backbone``): four stages of conv3x3/2 +
conv3x3 with BatchNorm and ReLU, widths ``(32, 64, 128, 128)`` by default:
strides 2, 4, 8, 16, each stage's output a named layer ``stage{i}_out``.
Small enough to train a detector on 64x64 shapes on a CPU in minutes.
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab.boxes import multilevel_anchors
from cnnlab.models.layers import (Activation, Conv, check_image_batch, check_num_classes,
                                  check_pooling, global_pool)
from cnnlab.models.registry import create, register


@register("tiny_backbone")
class TinyBackbone(nn.Module):
    """Conv-BN-ReLU stages (stride 2 each) for small images; see the module docstring.

    include_top: global average pool -> ``predictions`` logits ``(B, num_classes)``.
    Otherwise ``pooling=None`` returns the last stage map ``(B, H/2^S, W/2^S, C)``.
    """

    num_classes: int = 10
    widths: Sequence[int] = (32, 64, 128, 128)
    include_top: bool = True
    pooling: str | None = None
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        check_pooling(self.pooling)
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ValueError(f"tiny_backbone widths must be positive ints, got {tuple(self.widths)}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, C)
        check_image_batch(x, "tiny_backbone", min_size=2 ** len(self.widths))
        for i, width in enumerate(self.widths, start=1):
            for j, stride in enumerate((2, 1), start=1):
                x = Conv(int(width), (3, 3), (stride, stride), padding="SAME", use_bias=False,
                            dtype=self.dtype, param_dtype=jnp.float32, name=f"stage{i}_conv{j}")(x)
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype,
                                 param_dtype=jnp.float32, name=f"stage{i}_bn{j}")(x)
                x = Activation("relu", name=f"stage{i}_out" if j == 2 else f"stage{i}_relu{j}")(x)
            self.sow("intermediates", f"stage{i}", x)  # (B, H/2^i, W/2^i, width)
        if self.include_top:
            x = global_pool("avg")(x)  # (B, C)
            x = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32,
                         name="predictions")(x)
            return x.astype(jnp.float32)
        return x if self.pooling is None else global_pool(self.pooling)(x)


def build_backbone(parent: nn.Module, name: str, kwargs, num_classes: int = 1) -> nn.Module:
    """The zoo model ``name`` without its top, bound to ``parent`` as submodule 'backbone'."""
    options = dict(kwargs or {})
    for pinned in ("include_top", "pooling", "num_classes"):
        if pinned in options:
            raise ValueError(f"backbone_kwargs may not set {pinned!r}; the head sets it.")
    module = create(name, include_top=False, pooling=None, num_classes=max(int(num_classes), 1),
                    **options)
    return module.clone(parent=parent, name="backbone")


def tap_features(backbone: nn.Module, x, train: bool, layers: Sequence[str]):
    """Runs ``backbone`` and returns ([maps of ``layers``...], last map).

    A layer is a module path inside the backbone (``stage3_out``,
    ``conv4_block2_out``); its ``__call__`` output is captured with
    ``nn.intercept_methods``, which works inside a compiled parent module
    without making any collection mutable.
    """
    wanted = tuple(layers)
    taps: dict[str, Any] = {}

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        path = context.module.path
        if context.method_name == "__call__" and len(path) > 1 and path[0] == "backbone":
            name = "/".join(path[1:])
            if name in wanted and name not in taps:
                taps[name] = out
        return out

    with nn.intercept_methods(interceptor):
        last = backbone(x, train=train)
    missing = [n for n in wanted if n not in taps]
    if missing:
        raise ValueError(
            f"backbone {type(backbone).__name__} has no layer(s) {missing}; list its layer "
            f"names with cnnlab.models.feature_names(model, input_shape).")
    return [taps[n] for n in wanted], last


def _as_level_scales(scales, num_levels: int):
    scales = [tuple(float(s) for s in np.atleast_1d(level)) for level in scales]
    if len(scales) != num_levels:
        raise ValueError(
            f"anchor_scales needs one entry per feature level: the detector has {num_levels} "
            f"levels (len(feature_layers) + 1 + extra_levels), got {len(scales)} entries.")
    return scales


@register("ssd")
class SSD(nn.Module):
    """Multi-box detector: backbone levels + extra levels + per-level conv heads.

    Attributes:
      num_classes: object classes K (no background class: sigmoid + focal loss).
      backbone: zoo model name built with ``include_top=False``.
      backbone_kwargs: extra options for the backbone (e.g. ``{'widths': (...)}``).
      feature_layers: backbone layer paths tapped as the finer levels, fine to coarse.
      extra_levels: stride-2 conv levels added after the backbone's last map.
      extra_width, head_width: channels of the extra levels and of the head convs.
      anchor_scales: per level, anchor sizes as fractions of the image side.
      aspect_ratios: anchor width / height ratios, shared by all levels.
      prior_probability: initial foreground probability of every anchor (RetinaNet's pi).
      top_down: merge the levels FPN-style before the heads.
    """

    num_classes: int = 3
    backbone: str = "tiny_backbone"
    backbone_kwargs: Any = None
    feature_layers: Sequence[str] = ("stage3_out",)
    extra_levels: int = 1
    extra_width: int = 128
    head_width: int = 128
    anchor_scales: Sequence[Any] = ((0.12, 0.18), (0.26, 0.36), (0.5, 0.7))
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0)
    prior_probability: float = 0.01
    top_down: bool = False
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_num_classes(self.num_classes)
        if int(self.extra_levels) < 0:
            raise ValueError(f"extra_levels must be >= 0, got {self.extra_levels}.")
        if not 0.0 < float(self.prior_probability) < 1.0:
            raise ValueError(f"prior_probability must be in (0, 1), got {self.prior_probability}.")
        _as_level_scales(self.anchor_scales, len(self.feature_layers) + 1 + int(self.extra_levels))
        super().__post_init__()

    def _merge_top_down(self, levels):
        """FPN merge: lateral 1x1 convs, coarse-to-fine upsample-and-add, 3x3 smoothing."""
        def conv(k, name):
            return Conv(self.head_width, (k, k), padding="SAME", dtype=self.dtype,
                           param_dtype=jnp.float32, name=name)

        merged = [None] * len(levels)
        above = None
        for i in reversed(range(len(levels))):
            lateral = conv(1, f"lateral{i + 1}")(levels[i])  # (B, fh, fw, head_width)
            if above is not None:
                b, h, w, c = lateral.shape
                lateral = lateral + jax.image.resize(above, (b, h, w, c), "nearest")
            above = lateral
            merged[i] = conv(3, f"smooth{i + 1}")(lateral)
        return merged

    def level_scales(self):
        return _as_level_scales(self.anchor_scales,
                                len(self.feature_layers) + 1 + int(self.extra_levels))

    @nn.compact
    def __call__(self, x, train: bool = False):  # (B, H, W, C)
        check_image_batch(x, "ssd")
        backbone = build_backbone(self, self.backbone, self.backbone_kwargs)
        tapped, last = tap_features(backbone, x, train, self.feature_layers)
        levels = list(tapped) + [last]
        y = last
        for i in range(int(self.extra_levels)):
            y = Conv(self.extra_width, (3, 3), (2, 2), padding="SAME", dtype=self.dtype,
                        param_dtype=jnp.float32, name=f"extra{i + 1}_conv")(nn.relu(y))
            levels.append(y)  # (B, h/2^(i+1), w/2^(i+1), extra_width)
        if self.top_down:
            levels = self._merge_top_down(levels)
        scales = self.level_scales()
        per_location = [len(s) * len(self.aspect_ratios) for s in scales]
        bias = float(-np.log((1.0 - self.prior_probability) / self.prior_probability))
        logits, deltas = [], []
        for i, (feature, a) in enumerate(zip(levels, per_location)):
            h = nn.relu(Conv(self.head_width, (3, 3), padding="SAME", dtype=self.dtype,
                                param_dtype=jnp.float32, name=f"head{i + 1}_conv")(feature))
            c = Conv(a * self.num_classes, (3, 3), padding="SAME", dtype=self.dtype,
                        param_dtype=jnp.float32, bias_init=nn.initializers.constant(bias),
                        kernel_init=nn.initializers.normal(0.01), name=f"head{i + 1}_cls")(h)
            d = Conv(a * 4, (3, 3), padding="SAME", dtype=self.dtype, param_dtype=jnp.float32,
                        kernel_init=nn.initializers.normal(0.01), name=f"head{i + 1}_box")(h)
            b = feature.shape[0]
            logits.append(c.reshape(b, -1, self.num_classes))  # (B, fh*fw*a, K)
            deltas.append(d.reshape(b, -1, 4))  # (B, fh*fw*a, 4)
        sizes = [tuple(f.shape[1:3]) for f in levels]
        anchors = multilevel_anchors(sizes, scales, tuple(self.aspect_ratios))  # (total, 4)
        return {
            "class_logits": jnp.concatenate(logits, axis=1).astype(jnp.float32),
            "box_deltas": jnp.concatenate(deltas, axis=1).astype(jnp.float32),
            "anchors": jnp.asarray(anchors),
        }
