"""The Keras lesson's MNIST convnet: Conv32/pool/Conv64/pool/Conv64/Dense64/Dense10.

RMSprop, batch 64, 5 epochs: the lesson reports 99.21% test accuracy.
Reads TFDS `mnist`; with Keras' `mnist.npz` instead:
  --config.data.name=npz --config.data.path=~/.keras/datasets/mnist.npz
"""
from cnnlab.train.defaults import base_config


def get_config():
    c = base_config()
    c.data.name = "mnist"
    c.data.data_dir = ""
    c.data.path = ""  # for data.name='npz'
    c.data.validation_size = 0  # npz: hold out the last N training images as 'validation'
    c.data.eval_split = "test"  # the lesson evaluates on the test set; no validation split
    c.model.name = "mnist_cnn"
    c.optim.name = "rmsprop"
    c.optim.lr = 1e-3
    c.train.epochs = 5
    c.train.batch_size = 64
    c.train.eval_batch_size = 500
    c.train.log_every = 200
    return c
