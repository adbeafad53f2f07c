"""Variational autoencoder on MNIST (cnnlab.generative.vae); 2-d latent for a latent-grid picture.

python scripts/generative.py --model=vae --config=configs/generative/vae.py --outdir=runs/vae
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
        latent_dim=2,
        kl_weight=1.0,  # 1 = the ELBO; other values give a beta-VAE
    ))
    c.optim = ml_collections.ConfigDict(dict(name="adam", lr=2e-3, schedule="cosine"))
    c.train = ml_collections.ConfigDict(dict(steps=6000, batch_size=128, log_every=100, seed=0))  # ~13 epochs
    return c
