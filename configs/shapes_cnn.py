"""The README's main job: a small convnet on the procedural shapes dataset.

Generated locally (no download), 3 classes (circle, square, triangle) at
32x32; reaches >= 98% test accuracy in a few minutes on a 2-core CPU.
"""
from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "shapes"
    c.data.variant = "classify"
    c.data.num_classes = 3
    c.data.image_size = (32, 32)
    c.data.num_train = 8000
    c.data.num_validation = 1000
    c.data.num_test = 1000
    c.data.data_dir = ""  # '' = TFDS_DATA_DIR or ~/tensorflow_datasets
    c.data.storage = "tfds"  # or 'memory': draw on the fly, nothing written

    c.model.name = "simple_cnn"  # 3 conv-BN-ReLU-pool stages, global max pool
    c.model.widths = (32, 64, 128)

    c.optim.name = "adam"
    c.optim.lr = 2e-3

    c.train.epochs = 8
    c.train.batch_size = 64
    c.train.eval_batch_size = 250
    c.train.log_every = 50
    return c
