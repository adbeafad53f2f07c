"""CIFAR-10 on ImageNet ResNet50 (the Keras variant, so Keras .h5 weights load), upsampled to 96x96.

--config.init_weights=~/.keras/models/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5
"""
from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.init_weights = ""
    c.data.name = "cifar10"
    c.data.data_dir = ""
    c.data.train_split = "train[:45000]"
    c.data.eval_split = "train[45000:]"
    c.data.image_size = (96, 96)
    c.data.preprocess = "caffe"  # keras.applications.resnet50.preprocess_input
    c.model.name = "transfer"
    c.model.base = "resnet50"
    c.model.base_kwargs = {"variant": "keras"}
    c.model.head = "gap"
    c.model.dropout = 0.0
    c.model.backbone_train = False
    c.optim.name = "sgd"
    c.optim.momentum = 0.9
    c.train.batch_size = 64
    c.train.eval_batch_size = 250
    c.train.phases = (
        {"epochs": 3, "lr": 0.05, "schedule": "constant", "freeze": ("backbone/.*",)},
        {"epochs": 5, "lr": 0.005, "schedule": "cosine", "freeze": ()},
    )
    return c
