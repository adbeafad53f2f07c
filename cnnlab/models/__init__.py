"""Model zoo: Linen modules (NHWC, ``model(x, train=False)``), registry and summary.

``create(name, **kwargs)`` builds a registered model, ``available()`` lists
the names, ``register(name)`` adds more. ``features`` taps named feature
maps, ``summary`` prints a Keras-like table, ``parameter_counts`` gives
Keras (total) and torchvision (trainable) parameter figures.
``check_input_size`` says, before training, whether an image size is big
enough for a model; ``drop_path_rates`` lists a model's stochastic-depth
rates (``DropPath``, ``drop_path``: the layer).
"""
from cnnlab.models.registry import available, create, name_of, options, register
from cnnlab.models.layers import DropPath, SeparableConv2D, drop_path
from cnnlab.models.simple import Cifar10CNN, DenseBaseline, FashionMnistCNN, MnistCNN
from cnnlab.models.vgg import VGG
from cnnlab.models.resnet import ResNet
from cnnlab.models.xception import Xception
from cnnlab.models.features import feature_names, features
from cnnlab.models.summary import LayerRow, ModelSummary, parameter_counts, summary

__all__ = [
    "available", "create", "name_of", "options", "register",
    "DenseBaseline", "MnistCNN", "Cifar10CNN", "FashionMnistCNN", "VGG", "ResNet", "Xception",
    "SeparableConv2D", "features", "feature_names",
    "summary", "parameter_counts", "LayerRow", "ModelSummary",
    "DropPath", "drop_path", "drop_path_rates", "check_input_size", "smallest_square_size",
]
from cnnlab.models import detection, localization  # noqa: E402,F401  (register ssd, localizer, tiny_backbone)
from cnnlab.models import fcn  # noqa: E402,F401  (registers fcn32s, fcn16s, fcn8s)
from cnnlab.models import convnet  # noqa: E402,F401  (registers simple_cnn)
from cnnlab.models import transfer  # noqa: E402,F401  (registers transfer)
from cnnlab.models import efficientnet_lite  # noqa: E402,F401  (registers efficientnet_lite0..4)
from cnnlab.models import mobilenet_v2  # noqa: E402,F401  (registers mobilenet_v2)
from cnnlab.models import inception_v3  # noqa: E402,F401  (registers inception_v3)
from cnnlab.models.stochastic_depth import drop_path_rates  # noqa: E402
from cnnlab.models.input_size import check_input_size, smallest_square_size  # noqa: E402
