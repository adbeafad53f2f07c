"""Model zoo: Linen modules (NHWC, ``model(x, train=False)``), registry and summary.

``create(name, **kwargs)`` builds a registered model, ``available()`` lists
the names, ``register(name)`` adds more. ``features`` taps named feature
maps, ``summary`` prints a Keras-like table, ``parameter_counts`` gives
Keras (total) and torchvision (trainable) parameter figures.
"""
from cnnlab.models.registry import available, create, options, register
from cnnlab.models.layers import SeparableConv2D
from cnnlab.models.simple import Cifar10CNN, DenseBaseline, FashionMnistCNN, MnistCNN
from cnnlab.models.vgg import VGG
from cnnlab.models.resnet import ResNet
from cnnlab.models.xception import Xception
from cnnlab.models.features import feature_names, features
from cnnlab.models.summary import LayerRow, ModelSummary, parameter_counts, summary

__all__ = [
    "available", "create", "options", "register",
    "DenseBaseline", "MnistCNN", "Cifar10CNN", "FashionMnistCNN", "VGG", "ResNet", "Xception",
    "SeparableConv2D", "features", "feature_names",
    "summary", "parameter_counts", "LayerRow", "ModelSummary",
]
from cnnlab.models import detection, localization  # noqa: E402,F401  (register ssd, localizer, tiny_backbone)
from cnnlab.models import fcn  # noqa: E402,F401  (registers fcn32s, fcn16s, fcn8s)
from cnnlab.models import convnet  # noqa: E402,F401  (registers simple_cnn)
from cnnlab.models import transfer  # noqa: E402,F401  (registers transfer)
from cnnlab.models import efficientnet_lite  # noqa: E402,F401  (registers efficientnet_lite0..4)
from cnnlab.models import mobilenet_v2  # noqa: E402,F401  (registers mobilenet_v2)
from cnnlab.models import inception_v3  # noqa: E402,F401  (registers inception_v3)
