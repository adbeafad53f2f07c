"""tf_flowers on ImageNet Xception (global average pooling head), 75/15/10 split by TFDS slicing.

--config.init_weights=~/.keras/models/xception_weights_tf_dim_ordering_tf_kernels_notop.h5
"""
from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.init_weights = ""
    c.data.name = "tf_flowers"
    c.data.data_dir = ""
    c.data.train_split = "train[:75%]"
    c.data.eval_split = "train[75%:90%]"
    c.data.test_split = "train[90%:]"
    c.data.image_size = (299, 299)
    c.data.preprocess = "tf"  # keras.applications.xception.preprocess_input: [-1, 1]
    c.model.name = "transfer"
    c.model.base = "xception"
    c.model.base_kwargs = {}
    c.model.head = "gap"
    c.model.dropout = 0.2
    c.model.backbone_train = False
    c.optim.name = "sgd"
    c.optim.momentum = 0.9
    c.train.batch_size = 32
    c.train.eval_batch_size = 64
    c.train.phases = (
        {"epochs": 5, "lr": 0.2, "schedule": "inverse_time", "decay": 0.01, "freeze": ("backbone/.*",)},
        {"epochs": 5, "lr": 0.01, "schedule": "inverse_time", "decay": 0.001, "freeze": ()},
    )
    return c
