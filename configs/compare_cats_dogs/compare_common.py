"""Shared settings of the five-classifier dogs-vs-cats comparison on CIFAR-10 (32x32).

Cat vs dog from ../shared/data/cifar10_jpg.tar.gz (dogs are the positive class,
label 1, one sigmoid output), 10% of the training images held out for
validation, the CIFAR test images as the test split. Epochs are sized so the
whole comparison (pretraining included) runs in about 20 CPU minutes.
The "pretrained" convnet is `simple_cnn` trained by `pretrain_other8.py` on
the other eight CIFAR-10 classes; its run directory is `PRETRAINED_RUN`
(override with --config.init_weights=... or compare's --config_overrides).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from cats_dogs_common import cats_dogs_config  # noqa: E402
from cnnlab.train.defaults import base_config  # noqa: E402

CIFAR_ARCHIVE = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "cifar10_jpg.tar.gz"))
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
OTHER8 = tuple(c for c in CIFAR_CLASSES if c not in ("cat", "dog"))
# The pretraining run, as scripts/compare.py --workdir=runs/compare_cats_dogs lays it out.
PRETRAINED_RUN = "runs/compare_cats_dogs/pretrain_other8"
# The convnet body shared by the scratch, fine-tuned and frozen classifiers.
CONV_WIDTHS = (32, 64, 128)


def _cifar_data(c, classes):
    c.data.name = "image_folder"
    c.data.archive = CIFAR_ARCHIVE
    c.data.root = ""  # the archive's top folder (cifar10_jpg) holds train/ and test/
    c.data.classes = classes
    c.data.image_size = (32, 32)
    c.data.validation_fraction = 0.1
    c.data.max_per_class = None  # every image
    c.train.eval_batch_size = 250
    return c


def cats_dogs_cifar_config():
    """Binary cat (0) vs dog (1) on CIFAR-10 at 32x32 (half the training images), Adam 1e-3."""
    c = _cifar_data(cats_dogs_config(), ("cat", "dog"))
    c.optim.name = "adam"
    c.optim.lr = 1e-3
    c.data.max_per_class = 2500  # 2,500 train images per class (validation: 500 per class, carved first); test: all 2,000
    c.train.batch_size = 64
    c.train.epochs = 6
    return c


def other8_config():
    """Softmax over the eight CIFAR-10 classes that are neither cat nor dog."""
    c = _cifar_data(base_config(), OTHER8)
    c.data.max_per_class = 3000  # 3,000 train images per class (validation: 500 per class, carved first)
    c.optim.name = "adam"
    c.optim.lr = 2e-3
    c.train.batch_size = 128
    c.train.epochs = 4
    return c


def transfer_config():
    """A new one-logit head on the pretrained simple_cnn body: flatten its 4x4x128 map + dense.

    Flatten (the VGG lesson's head) keeps where a feature fired; a global
    average pool scored lower in one trial (66% frozen, 70% fine-tuned, against 71% and 74%).
    """
    c = cats_dogs_cifar_config()
    c.model.name = "transfer"
    c.model.base = "simple_cnn"
    c.model.base_kwargs = {"widths": CONV_WIDTHS}
    c.model.head = "flatten"
    c.model.hidden = ()
    c.model.dropout = 0.0
    c.init_weights = PRETRAINED_RUN
    return c


# The ImageNet base: EfficientNet-Lite0 with its published weights, on CIFAR upscaled to this side.
LITE0_SIZE = 128


def lite0_transfer_config():
    """A new one-logit head on the ImageNet EfficientNet-Lite0 (global average pool + dense).

    CIFAR's 32x32 images are upscaled to LITE0_SIZE (128: a quarter of the
    224x224 compute, within the CPU budget) and preprocessed as the weights
    were trained ((x - 127) / 128). BatchNorm stays in inference mode.
    """
    c = cats_dogs_cifar_config()
    c.data.image_size = (LITE0_SIZE, LITE0_SIZE)
    c.data.preprocess = "efficientnet_lite"
    c.model.name = "transfer"
    c.model.base = "efficientnet_lite0"
    c.model.base_kwargs = {}
    c.model.head = "gap"
    c.model.hidden = ()
    c.model.dropout = 0.2
    c.init_weights = "imagenet"
    return c
