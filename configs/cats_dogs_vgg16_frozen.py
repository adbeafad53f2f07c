"""Dogs vs cats on a frozen ImageNet VGG16 with the VGG lesson's head (flatten, Dense256, dropout).

Give the Keras file: --config.init_weights=~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cats_dogs_common import cats_dogs_config  # noqa: E402


def get_config():
    c = cats_dogs_config()
    c.init_weights = ""
    c.data.preprocess = "caffe"  # keras.applications.vgg16.preprocess_input
    c.model.name = "transfer"
    c.model.base = "vgg16"
    c.model.base_kwargs = {}
    c.model.head = "flatten"
    c.model.hidden = (256,)
    c.model.dropout = 0.5
    c.model.backbone_train = False
    c.optim.name = "sgd"
    c.optim.momentum = 0.9
    c.train.phases = (
        {"epochs": 5, "lr": 0.2, "schedule": "inverse_time", "decay": 0.01, "freeze": ("backbone/.*",)},
    )
    return c
