"""Convolutional models beyond classifiers: autoencoders, VAE, DCGAN, Siamese nets, style transfer.

Modules: ``autoencoder``, ``vae``, ``gan``, ``siamese``, ``style_transfer``
(models and losses) and ``train`` (their small in-memory training loops).
"""
