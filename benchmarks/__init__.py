"""Benchmarks: cnnlab training throughput and time-to-accuracy against Keras 3 and PyTorch.

`python -m benchmarks.train_throughput` measures steady-state training
throughput per model and framework; `python -m benchmarks.time_to_accuracy`
measures wall time to 99.2% MNIST test accuracy. Peers (Keras, PyTorch) are
optional extras: `pip install -e '.[bench]'`.
"""
