"""DCGAN on MNIST (cnnlab.generative.gan): Adam(2e-4, b1=0.5) for both networks, as in Radford et al.

python scripts/generative.py --model=dcgan --config=configs/generative/dcgan.py --outdir=runs/dcgan \
  --classifier_workdir=runs/mnist_cnn   # a cnnlab MNIST classifier run scores the samples
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.data = ml_collections.ConfigDict(dict(
        path="../shared/data/mnist.npz",  # Keras-style npz (x_train, y_train, x_test, y_test)
        max_train=0,  # 0 = every training image
        max_test=0,  # 0 = every test image
    ))
    c.model = ml_collections.ConfigDict(dict(
        latent_dim=64,
        g_features=(128, 64),  # generator: channels of the projected map, then per transposed conv
        d_features=(64, 128),  # discriminator: channels per stride-2 conv
        num_classes=0,  # > 0: class-conditional (configs/generative/dcgan_conditional.py)
    ))
    c.g_optim = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, eps=1e-8))
    c.d_optim = ml_collections.ConfigDict(dict(name="adam", lr=2e-4, b1=0.5, eps=1e-8))
    c.train = ml_collections.ConfigDict(dict(steps=2000, batch_size=64, log_every=100, seed=0,
                                             snapshot_every=250, num_samples=64,
                                             label_smoothing=0.0))  # one-sided: real target 1 - this
    return c
