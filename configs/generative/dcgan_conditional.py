"""Class-conditional DCGAN on MNIST: configs/generative/dcgan.py with labels fed to both networks.

python scripts/generative.py --model=dcgan --config=configs/generative/dcgan_conditional.py \
  --outdir=runs/dcgan_conditional --classifier_workdir=runs/mnist_cnn
"""
import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "dcgan.py"))["get_config"]()
    c.model.num_classes = 10  # one-hot label into the generator, projection term in the discriminator
    return c
