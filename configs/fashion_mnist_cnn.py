"""The Fashion-MNIST CNN: Conv64-7 / pool / 2x Conv128 / pool / 2x Conv256 / pool / Dense128/64/10."""
from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "fashion_mnist"
    c.data.data_dir = ""
    c.data.train_split = "train[:55000]"
    c.data.eval_split = "train[55000:]"
    c.model.name = "fashion_mnist_cnn"
    c.optim.name = "adam"
    c.optim.lr = 1e-3
    c.train.epochs = 10
    c.train.batch_size = 64
    c.train.eval_batch_size = 500
    return c
