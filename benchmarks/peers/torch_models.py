"""The benchmark architectures in PyTorch, layer for layer as in cnnlab.

Inputs are NCHW tensors (use `channels_last` memory format for speed);
every model returns logits.
"""
import torch
from torch import nn


def _flat_size(features: nn.Module, image_shape) -> int:
    """Length of the flattened feature map for an (H, W, C) input."""
    h, w, c = image_shape
    with torch.no_grad():
        return features(torch.zeros(1, c, h, w)).numel()


def mnist_cnn(image_shape, num_classes):
    """Conv32-3 / pool / Conv64-3 / pool / Conv64-3 / Flatten / Dense64 / Dense."""
    c = image_shape[2]
    features = nn.Sequential(
        nn.Conv2d(c, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten())
    n = _flat_size(features, image_shape)
    return nn.Sequential(features, nn.Linear(n, 64), nn.ReLU(), nn.Linear(64, num_classes))


def cifar10_cnn(image_shape, num_classes):
    """The Keras `cifar10_cnn.py` example convnet."""
    layers, c = [], image_shape[2]
    for width in (32, 64):
        layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(),
                   nn.Conv2d(width, width, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25)]
        c = width
    features = nn.Sequential(*layers, nn.Flatten())
    n = _flat_size(features, image_shape)
    return nn.Sequential(features, nn.Linear(n, 512), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(512, num_classes))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN, identity or 1x1 conv-BN shortcut."""

    def __init__(self, c_in, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != width:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, width, 1, stride, bias=False),
                                          nn.BatchNorm2d(width))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.shortcut(x) + self.bn2(self.conv2(y)))


def resnet18_cifar(image_shape, num_classes):
    """ResNet-18 with the CIFAR stem (3x3/1 conv, no max pool)."""
    layers = [nn.Conv2d(image_shape[2], 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    c = 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for b in range(2):
            layers.append(BasicBlock(c, width, 2 if stage > 0 and b == 0 else 1))
            c = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def vgg16_64(image_shape, num_classes):
    """VGG16 (13 3x3 convs in 5 stages, fc1/fc2 4096) with fc1 sized from the input."""
    layers, c = [], image_shape[2]
    for convs, width in zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512)):
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2))
    features = nn.Sequential(*layers, nn.Flatten())
    n = _flat_size(features, image_shape)
    return nn.Sequential(features, nn.Linear(n, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                         nn.Linear(4096, num_classes))


BUILDERS = {f.__name__: f for f in (mnist_cnn, cifar10_cnn, resnet18_cifar, vgg16_64)}


def build(name, image_shape, num_classes):
    """The PyTorch model for benchmark model `name`."""
    if name not in BUILDERS:
        raise ValueError(f"no PyTorch peer for {name!r}; known: {sorted(BUILDERS)}.")
    return BUILDERS[name](tuple(image_shape), num_classes)
