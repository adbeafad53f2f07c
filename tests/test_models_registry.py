"""The model registry: names, options, errors, and adding new models."""
import cnnlab  # noqa: F401  (XLA flags before jax)
import flax.linen as nn
import jax.numpy as jnp
import pytest

from cnnlab import models
from cnnlab.models import registry

ZOO = ["cifar10_cnn", "dense", "fashion_mnist_cnn", "mnist_cnn", "resnet101", "resnet152",
       "resnet18", "resnet34", "resnet50", "vgg11", "vgg13", "vgg16", "vgg19", "xception"]


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so test registrations do not leak."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_available_lists_the_zoo():
    assert set(ZOO) <= set(models.available())
    assert models.available() == sorted(models.available())


def test_create_builds_the_named_configuration():
    assert isinstance(models.create("vgg13"), models.VGG) and models.create("vgg13").depth == 13
    net = models.create("resnet101", variant="keras", num_classes=3)
    assert (net.depth, net.variant, net.num_classes) == (101, "keras", 3)
    assert models.create("dense", hidden=(64,)).hidden == (64,)
    assert models.create("xception", dtype=jnp.bfloat16).dtype == jnp.bfloat16


def test_create_unknown_name_lists_available():
    message = r"unknown model 'vgg17'; available models: .*vgg16.*xception"
    with pytest.raises(ValueError, match=message):
        models.create("vgg17")


def test_create_unknown_option_lists_accepted():
    with pytest.raises(ValueError, match=r"has no option\(s\) \['classes'\].*num_classes"):
        models.create("resnet50", classes=10)
    with pytest.raises(ValueError, match=r"fixes depth=16"):
        models.create("vgg16", depth=19)
    assert "depth" not in models.options("vgg16") and "pooling" in models.options("vgg16")


@pytest.mark.parametrize("name, kwargs, message", [
    ("resnet50", dict(variant="caffe"), "variant must be one of"),
    ("resnet50", dict(stem="tiny"), "stem must be one of"),
    ("vgg16", dict(pooling="mean"), "pooling must be"),
    ("xception", dict(num_classes=0), "num_classes must be a positive integer"),
    ("dense", dict(dropout_rate=1.0), r"dropout_rate must be in \[0, 1\)"),
    ("cifar10_cnn", dict(conv_dropout=-0.1), "conv_dropout"),
])
def test_bad_option_values_raise(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.create(name, **kwargs)


def test_register_a_new_model(scratch_registry):
    class Tiny(nn.Module):
        width: int = 4

        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(self.width, name="predictions")(x)

    models.register("tiny_head", width=2)(Tiny)
    assert "tiny_head" in models.available()
    assert models.create("tiny_head").width == 2

    @models.register("tiny_fn")
    def tiny_fn(scale: int = 1):
        return Tiny(width=scale * 3)

    assert models.create("tiny_fn", scale=2).width == 6
    with pytest.raises(ValueError, match=r"no option\(s\) \['size'\]"):
        models.create("tiny_fn", size=2)
    with pytest.raises(ValueError, match="already registered"):
        models.register("vgg16")(Tiny)
    with pytest.raises(ValueError, match="lower-case"):
        models.register("Tiny")
    with pytest.raises(ValueError, match=r"has no argument\(s\) \['depth'\]"):
        models.register("tiny_bad", depth=3)(Tiny)

