"""Siamese embedding net on MNIST (cnnlab.generative.siamese), evaluated on digits held out of training.

python scripts/generative.py --model=siamese --config=configs/generative/siamese.py --outdir=runs/siamese
Triplet loss: --config.model.loss=triplet --config.model.margin=0.2
"""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.data = ml_collections.ConfigDict(dict(
        path="../shared/data/mnist.npz",  # Keras-style npz (x_train, y_train, x_test, y_test)
        max_train=0,  # 0 = every training image
        max_test=0,  # 0 = every test image
        holdout_classes=(7, 8, 9),  # never seen in training; verification/retrieval run on these
        eval_examples=3000,  # held-out test images embedded for the metrics
    ))
    c.model = ml_collections.ConfigDict(dict(
        features=(32, 64),
        hidden=128,
        embed_dim=32,
        loss="contrastive",  # 'contrastive' | 'triplet'
        margin=1.0,  # contrastive: distance margin of negatives; triplet: squared-distance margin
    ))
    c.optim = ml_collections.ConfigDict(dict(name="adam", lr=1e-3, schedule="cosine"))
    c.train = ml_collections.ConfigDict(dict(steps=1500, batch_size=64, log_every=100, seed=0,
                                             num_pairs=10000))
    return c
