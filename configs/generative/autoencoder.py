"""Convolutional autoencoder on MNIST (cnnlab.generative.autoencoder).

python scripts/generative.py --model=autoencoder --config=configs/generative/autoencoder.py --outdir=runs/ae
Denoising variant: --config.model.noise_std=0.3
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
        features=(32, 64),  # encoder channels per stride-2 stage (decoder mirrors them)
        latent_dim=16,
        noise_std=0.0,  # > 0: denoising autoencoder (Gaussian noise on the input)
        loss="bce",  # 'bce' | 'mse'
    ))
    c.optim = ml_collections.ConfigDict(dict(name="adam", lr=2e-3, schedule="cosine"))
    c.train = ml_collections.ConfigDict(dict(steps=1500, batch_size=128, log_every=100, seed=0))
    return c
