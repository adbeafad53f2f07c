"""Stochastic depth (``drop_path_rate``) in ResNet and EfficientNet-Lite.

The layer's statistics on a large batch of ones; the per-block rates (timm's
linear ramp) against hand-computed numbers; that inference (train=False)
is the very program of a model without stochastic depth (its jaxpr, plus
the outputs of a tiny ResNet); that in training every DropPath layer either
zeroes or rescales each example's residual branch and that rng keys change
the outputs; unchanged parameter trees and counts. Compiles only tiny
models; the big ones are traced with eval_shape / make_jaxpr.
"""
import cnnlab  # noqa: F401  (XLA flags before jax)
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnlab import models
from cnnlab.models import efficientnet_lite
from cnnlab.models.layers import DropPath, drop_path, linear_drop_path_rates


def test_drop_path_on_ones_keeps_or_zeroes_whole_examples():
    n, p = 20_000, 0.25
    out = np.asarray(drop_path(jnp.ones((n, 2, 3, 4)), p, jax.random.key(0)))
    rows = out.reshape(n, -1)
    scale = np.float32(1.0) / np.float32(1.0 - p)  # 1.3333334
    kept = np.all(rows == scale, axis=1)
    dropped = np.all(rows == 0.0, axis=1)
    assert np.all(kept ^ dropped)  # each example all 1/(1-p) or all 0, nothing in between
    sigma = np.sqrt(p * (1 - p) / n)  # binomial std of the kept fraction: 0.00306
    assert abs(kept.mean() - (1 - p)) < 5 * sigma
    assert abs(out.mean() - 1.0) < 5 * sigma / (1 - p)  # unbiased: E[out] = x
    # Identity when off; bfloat16 stays bfloat16.
    x = jnp.arange(24.0).reshape(2, 3, 4)
    assert drop_path(x, p, jax.random.key(0), deterministic=True) is x
    assert drop_path(x, 0.0, jax.random.key(0)) is x
    half = drop_path(jnp.ones((64, 3), jnp.bfloat16), 0.5, jax.random.key(1))
    assert half.dtype == jnp.bfloat16 and set(np.unique(np.asarray(half, np.float32))) <= {0.0, 2.0}
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match=r"in \[0, 1\)"):
            drop_path(x, bad, jax.random.key(0))
    with pytest.raises(ValueError, match="needs a PRNG key"):
        drop_path(x, 0.5, None)


def test_drop_path_module_uses_the_dropout_stream():
    layer = DropPath(0.5)
    x = jnp.ones((256, 2))
    a = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    b = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
    again = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    assert set(np.unique(np.asarray(a))) == {0.0, 2.0}
    assert np.array_equal(a, again) and not np.array_equal(a, b)
    assert layer.apply({}, x, deterministic=True) is x
    assert layer.init(jax.random.key(0), x, deterministic=True) == {}  # no parameters
    with pytest.raises(ValueError, match="DropPath rate"):
        DropPath(1.5)


def test_per_block_rates_are_the_linear_ramp():
    assert linear_drop_path_rates(0.3, 4) == pytest.approx((0.0, 0.1, 0.2, 0.3))
    assert linear_drop_path_rates(0.3, 1) == (0.0,)
    rates = models.drop_path_rates(models.create("resnet18", drop_path_rate=0.1))
    assert list(rates) == [f"conv{s}_block{b}" for s in (2, 3, 4, 5) for b in (1, 2)]
    assert list(rates.values()) == pytest.approx(
        [0.0, 0.0142857, 0.0285714, 0.0428571, 0.0571429, 0.0714286, 0.0857143, 0.1], abs=1e-7)
    # Lite0 has 16 blocks (1,2,2,3,3,4,1); the ramp is i/15 * 0.2 over all of them,
    # applied where a shortcut exists (block7a, the last, has none).
    rates = models.drop_path_rates(models.create("efficientnet_lite0", drop_path_rate=0.2))
    assert list(rates) == ["block2b", "block3b", "block4b", "block4c", "block5b", "block5c",
                           "block6b", "block6c", "block6d"]
    assert list(rates.values()) == pytest.approx(
        [0.0266667, 0.0533333, 0.08, 0.0933333, 0.12, 0.1333333, 0.16, 0.1733333, 0.1866667], abs=1e-7)
    assert set(models.drop_path_rates(models.create("resnet50")).values()) == {0.0}
    with pytest.raises(ValueError, match="has no stochastic depth"):
        models.drop_path_rates(models.create("vgg16"))


def _layers_traced(model, shape):
    """{module path: (rate, input shape)} of every DropPath, and {path: first input / output shape}."""
    drops, calls = {}, {}

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        path = "/".join(context.module.path)
        if context.method_name == "__call__":
            calls.setdefault(path, (tuple(args[0].shape), tuple(out.shape)))
            if isinstance(context.module, DropPath):
                drops[path] = context.module.rate
        return out

    with nn.intercept_methods(interceptor):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
    return drops, calls


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "efficientnet_lite0", "efficientnet_lite2"])
def test_drop_path_layers_sit_on_every_residual_branch(name):
    model = models.create(name, drop_path_rate=0.3)
    drops, calls = _layers_traced(model, (1, 64, 64, 3))
    expected = {f"{block}_drop_path": rate
                for block, rate in models.drop_path_rates(model).items() if rate > 0}
    assert drops == pytest.approx(expected)
    if name.startswith("resnet"):
        assert len(drops) == {"resnet18": 7, "resnet50": 15}[name]  # every block but the first
    else:  # exactly the blocks whose input and output shapes match get a layer
        shortcut = set()
        for block in efficientnet_lite.block_names(int(name[-1])):
            first = calls.get(f"{block}_expand_conv", calls[f"{block}_dwconv"])
            if first[0] == calls[f"{block}_project_bn"][1]:
                shortcut.add(f"{block}_drop_path")
        assert set(drops) == shortcut - {"block1a_drop_path"}
    assert _layers_traced(models.create(name), (1, 64, 64, 3))[0] == {}  # rate 0: no layer at all


def _jaxpr(model, variables, x, train):
    fn = lambda v, x: model.apply(v, x, train=train, mutable=["batch_stats"] if train else False,  # noqa: E731
                                  rngs={"dropout": jax.random.key(1)})
    return str(jax.make_jaxpr(fn)(variables, x))


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_lite0"])
def test_inference_is_the_program_without_stochastic_depth(name):
    x = jnp.zeros((2, 64, 64, 3))
    plain, dropping = models.create(name), models.create(name, drop_path_rate=0.4)
    variables = jax.eval_shape(plain.init, jax.random.key(0), x)
    assert _jaxpr(dropping, variables, x, train=False) == _jaxpr(plain, variables, x, train=False)
    assert _jaxpr(dropping, variables, x, train=True) != _jaxpr(plain, variables, x, train=True)


def _random_variables(model, x, seed=0):
    """Variables of ``model`` filled from a numpy RNG (no init compile); variances positive."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)

    def fill(path, s):
        v = rng.normal(0.0, 0.3, s.shape).astype(s.dtype)
        return np.abs(v) + 0.5 if path[-1].key == "var" else v

    return jax.tree_util.tree_map_with_path(fill, shapes)


TINY = dict(width=8, stem="cifar", num_classes=5)


def test_tiny_resnet_train_false_matches_no_drop_path_and_train_drops_rows():
    x = jnp.broadcast_to(jax.random.uniform(jax.random.key(2), (1, 12, 12, 3)), (8, 12, 12, 3))
    plain = models.create("resnet18", **TINY)
    dropping = models.create("resnet18", drop_path_rate=0.5, **TINY)
    variables = _random_variables(plain, x)
    names = []

    @jax.jit
    def run(variables, x, key):
        taps = []
        names.clear()

        def interceptor(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            if isinstance(context.module, DropPath):
                names.append(("/".join(context.module.path), context.module.rate))
                taps.append((args[0], out))
            return out

        with nn.intercept_methods(interceptor):
            train, _ = dropping.apply(variables, x, train=True, rngs={"dropout": key},
                                      mutable=["batch_stats"])
        return plain.apply(variables, x), dropping.apply(variables, x), train, taps

    ref, inference, train0, taps = run(variables, x, jax.random.key(0))
    _, _, train1, _ = run(variables, x, jax.random.key(1))
    _, _, train0_again, _ = run(variables, x, jax.random.key(0))
    assert np.array_equal(ref, inference)  # train=False: identical to drop_path_rate=0
    assert np.array_equal(train0, train0_again)  # same key, same masks
    assert not np.allclose(train0, train1)  # another key, other masks
    # The 8 examples are one image: only their per-example masks tell them apart.
    assert len({np.asarray(row).tobytes() for row in train0}) > 1
    assert [rate for _, rate in names] == pytest.approx([0.5 * i / 7 for i in range(1, 8)])
    kept = dropped = 0
    for (name, rate), (branch, out) in zip(names, taps):
        branch, out = np.asarray(branch).reshape(8, -1), np.asarray(out).reshape(8, -1)
        is_kept = np.all(np.isclose(out, branch / (1 - rate), rtol=1e-6, atol=0), axis=1)
        is_dropped = np.all(out == 0, axis=1)
        assert np.all(is_kept ^ is_dropped), name
        kept, dropped = kept + is_kept.sum(), dropped + is_dropped.sum()
    assert kept > 0 and dropped > 0  # expected 8 x (sum of rates = 2.0) = 16 of 56 dropped


@pytest.mark.parametrize("name,count", [("resnet18", 11_689_512), ("efficientnet_lite0", 4_652_008)])
def test_parameter_trees_unchanged(name, count):
    x = jnp.zeros((1, 224, 224, 3))
    plain = jax.eval_shape(models.create(name).init, jax.random.key(0), x)
    dropping = jax.eval_shape(models.create(name, drop_path_rate=0.2).init, jax.random.key(0), x)
    assert jax.tree.structure(plain) == jax.tree.structure(dropping)
    assert jax.tree.leaves(jax.tree.map(lambda s: s.shape, plain)) == \
        jax.tree.leaves(jax.tree.map(lambda s: s.shape, dropping))
    assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(dropping["params"])) == count


def test_create_forwards_and_checks_drop_path_rate():
    for name in ("resnet18", "resnet152", "efficientnet_lite0", "efficientnet_lite4"):
        assert "drop_path_rate" in models.options(name)
        assert models.create(name, drop_path_rate=0.1).drop_path_rate == 0.1
        assert models.create(name).drop_path_rate == 0.0
        with pytest.raises(ValueError, match=r"drop_path_rate must be a number in \[0, 1\), got 1.0"):
            models.create(name, drop_path_rate=1.0)
