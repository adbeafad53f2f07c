"""oneDNN's convolutions through jax.ffi (cnnlab.ops.onednn) and the dispatch in cnnlab.ops.conv.

Both paths are tested: the kernels against XLA's (values and both gradients), the zoo's
losses and gradients with either backend, and the silent fallback to XLA when oneDNN is
absent or fails to build. The kernel tests need ``pip install -e '.[cpu-kernels]'``; they
skip without it, except where CNNLAB_REQUIRE_ONEDNN=1 (CI sets it) makes that a failure.
"""
import os
import subprocess
import sys

import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnnlab.ops import conv, onednn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def kernels():
    loaded, reason = onednn.status()
    if not loaded:
        if os.environ.get("CNNLAB_REQUIRE_ONEDNN") == "1":
            pytest.fail(f"CNNLAB_REQUIRE_ONEDNN=1 but oneDNN did not load: {reason}")
        pytest.skip(reason)
    return reason


def _xla(x, w, stride, pads, dilation):
    return lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation,
                                    dimension_numbers=conv.DIMENSION_NUMBERS)


def _value_and_grads(conv_fn, stride, pads, dilation):
    def f(x, w):
        y = conv_fn(x, w, stride, pads, dilation)
        return jnp.sum(jnp.sin(y)), y  # a non-linear loss: dy differs per element
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))


CASES = [  # (B, H, W, C, O, kh, kw, stride, pads, dilation)
    (2, 9, 9, 3, 8, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1)),
    (1, 10, 7, 5, 4, 3, 3, (2, 2), ((0, 0), (0, 0)), (1, 1)),
    (3, 11, 11, 4, 6, 5, 3, (2, 1), ((2, 1), (0, 2)), (1, 1)),  # asymmetric kernel, pads, strides
    (2, 12, 12, 6, 5, 3, 3, (1, 1), ((2, 2), (2, 2)), (2, 2)),  # dilated
    (1, 15, 15, 3, 8, 7, 7, (2, 2), ((3, 3), (3, 3)), (1, 1)),  # a ResNet stem
    (2, 6, 6, 4, 4, 3, 3, (3, 3), ((1, 0), (0, 1)), (1, 1)),  # stride larger than needed
]


@pytest.mark.parametrize("case", CASES, ids=[f"k{c[5]}x{c[6]}s{c[7][0]}{c[7][1]}d{c[9][0]}" for c in CASES])
def test_forward_and_both_gradients_equal_xla(kernels, case):
    b, h, w, c, o, kh, kw, stride, pads, dilation = case
    kx, kw_ = jax.random.split(jax.random.key(sum(case[:7])))
    x = jax.random.normal(kx, (b, h, w, c), jnp.float32)  # (B, H, W, C)
    k = jax.random.normal(kw_, (kh, kw, c, o), jnp.float32)  # HWIO
    (loss_x, y_x), (gx_x, gw_x) = _value_and_grads(_xla, stride, pads, dilation)(x, k)
    (loss_o, y_o), (gx_o, gw_o) = _value_and_grads(onednn.conv2d, stride, pads, dilation)(x, k)
    assert y_o.shape == y_x.shape == onednn.output_shape(x.shape, k.shape, stride, pads, dilation)
    for ours, ref in ((y_o, y_x), (gx_o, gx_x), (gw_o, gw_x)):
        scale = float(jnp.max(jnp.abs(ref)))
        np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=0, atol=2e-5 * scale)
    assert float(loss_o) == pytest.approx(float(loss_x), rel=1e-5)


def test_the_dispatch_uses_onednn_only_for_the_calls_it_covers(kernels, monkeypatch):
    monkeypatch.setenv("CNNLAB_CONV_BACKEND", "onednn")  # every covered call, however small
    x = jnp.ones((2, 8, 8, 4), jnp.float32)
    w = jnp.ones((3, 3, 4, 4), jnp.float32)

    def calls(**kw):
        args = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=conv.DIMENSION_NUMBERS)
        args.update(kw)
        lhs, rhs = args.pop("lhs", x), args.pop("rhs", w)
        return str(jax.make_jaxpr(lambda a, b: conv.conv_general_dilated(a, b, **args))(lhs, rhs)).count(
            "cnnlab_onednn_conv_Forward")

    assert conv.backend().name == "onednn"
    assert calls() == 1
    assert calls(padding=((2, 0), (0, 1)), rhs_dilation=(2, 1), window_strides=(2, 1)) == 1
    assert calls(rhs=jnp.ones((3, 3, 1, 4)), feature_group_count=4) == 0  # grouped / depthwise
    assert calls(lhs=x.astype(jnp.bfloat16), rhs=w.astype(jnp.bfloat16)) == 0  # not float32
    assert calls(lhs_dilation=(2, 2), padding=((1, 1), (1, 1))) == 0  # transposed convolutions' input dilation
    assert calls(padding=((-1, 0), (0, 0))) == 0  # cropping pads
    assert calls(dimension_numbers=("NCHW", "OIHW", "NCHW"), lhs=x.transpose(0, 3, 1, 2),
                 rhs=w.transpose(3, 2, 0, 1)) == 0
    monkeypatch.delenv("CNNLAB_CONV_BACKEND")  # auto: oneDNN from ONEDNN_MIN_FLOPS on
    assert calls() == 0
    big = dict(lhs=jnp.ones((16, 32, 32, 32), jnp.float32), rhs=jnp.ones((3, 3, 32, 32), jnp.float32))
    assert 2 * 16 * 32 * 32 * 32 * 9 * 32 >= conv.ONEDNN_MIN_FLOPS and calls(**big) == 1
    monkeypatch.setenv("CNNLAB_CONV_BACKEND", "xla")
    assert conv.backend() == conv.Backend("xla", "CNNLAB_CONV_BACKEND=xla") and calls(**big) == 0


def test_vmap_and_a_jitted_model_layer_match_xla(kernels, monkeypatch):
    monkeypatch.setenv("CNNLAB_CONV_BACKEND", "onednn")
    xs = jax.random.normal(jax.random.key(1), (3, 2, 6, 6, 3), jnp.float32)  # (N, B, H, W, C)
    k = jax.random.normal(jax.random.key(2), (3, 3, 3, 5), jnp.float32)
    pads = ((1, 1), (1, 1))
    ours = jax.vmap(lambda x: onednn.conv2d(x, k, (1, 1), pads, (1, 1)))(xs)
    ref = jax.vmap(lambda x: _xla(x, k, (1, 1), pads, (1, 1)))(xs)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-5, atol=1e-5)
    y = jax.jit(conv.conv2d, static_argnames=("stride", "padding"))(xs[0], k, stride=2, padding="SAME")
    np.testing.assert_allclose(np.asarray(y), np.asarray(_xla(xs[0], k, (2, 2), ((0, 1), (0, 1)), (1, 1))),
                               rtol=1e-5, atol=1e-5)


# A representative of the zoo, residual blocks with BatchNorm and strided projections; the
# plain convnet is the train-mode test's. The whole zoo (34 models, about 15 min):
# python -m benchmarks.conv_backend_equality, results in benchmarks/results.
ZOO = (("resnet18", 16),)


def test_zoo_losses_and_gradients_are_the_same_with_either_backend(kernels):
    from benchmarks import conv_backend_equality
    for name, side in ZOO:
        row = conv_backend_equality.compare(name, side=side)
        assert row["onednn_calls"] > 0, row  # oneDNN really ran
        assert row["loss_rel"] < 1e-5 and row["grad_rel"] < 1e-5, row
        # as close to the float64 gradient as XLA's own float32 one
        assert row["onednn_err64"] < max(2 * row["xla_err64"], 3e-6), row


def test_a_train_mode_step_is_the_same_with_either_backend(kernels):
    from benchmarks import conv_backend_equality
    row = conv_backend_equality.compare("cifar10_cnn", batch=4, train=True, side=16)
    assert row["onednn_calls"] == 12 and row["grad_rel"] < 1e-5, row
    assert row["onednn_err64"] < max(2 * row["xla_err64"], 3e-6), row


def test_build_failures_name_the_cause_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_ONEDNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNLAB_ONEDNN_PREFIX", str(tmp_path / "nowhere"))
    with pytest.raises(onednn.OnednnUnavailable, match=r"no oneDNN headers under .*nowhere.*cpu-kernels"):
        onednn.build()
    fake = tmp_path / "env"
    (fake / "include" / "oneapi" / "dnnl").mkdir(parents=True)
    (fake / "include" / "oneapi" / "dnnl" / "dnnl.hpp").write_text("#error not a real header\n")
    (fake / "lib").mkdir()
    monkeypatch.setenv("CNNLAB_ONEDNN_PREFIX", str(fake))
    with pytest.raises(onednn.OnednnUnavailable, match="no libdnnl.so"):
        onednn.build()
    (fake / "lib" / "libdnnl.so").write_bytes(b"")
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    with pytest.raises(onednn.OnednnUnavailable, match="compiling .*onednn_conv.cc with /nonexistent/g"):
        onednn.build()
    monkeypatch.delenv("CXX")
    if any(os.path.exists(os.path.join(d, "g++")) for d in os.environ.get("PATH", "").split(":")):
        with pytest.raises(onednn.OnednnUnavailable, match="not a real header"):
            onednn.build()
    assert not list((tmp_path / "cache").glob("*"))  # no half-written library left behind


def test_without_onednn_convolutions_fall_back_to_xla_silently(tmp_path):
    """A fresh process whose oneDNN is missing: backend() says why, models still train,
    and asking for oneDNN explicitly is an error naming the cause and the fix."""
    script = (
        "import cnnlab, jax, jax.numpy as jnp\n"
        "from cnnlab import models\n"
        "from cnnlab.ops import conv\n"
        "b = conv.backend(); print(b.name, '|', b.reason)\n"
        "m = models.create('mnist_cnn')\n"
        "x = jnp.ones((2, 28, 28, 1))\n"
        "v = m.init(jax.random.key(0), x)\n"
        "g = jax.grad(lambda p: m.apply({'params': p}, x).sum())(v['params'])\n"
        "print('grad', float(sum(jnp.abs(l).sum() for l in jax.tree_util.tree_leaves(g))) > 0)\n"
    )
    env = dict(os.environ, CNNLAB_ONEDNN_PREFIX=str(tmp_path / "nowhere"),
               CNNLAB_ONEDNN_CACHE=str(tmp_path / "cache"), JAX_PLATFORMS="cpu")
    env.pop("CNNLAB_CONV_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "xla | no oneDNN headers under" in done.stdout and "grad True" in done.stdout, done.stdout
    env["CNNLAB_CONV_BACKEND"] = "onednn"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert done.returncode != 0
    assert "CNNLAB_CONV_BACKEND=onednn, but oneDNN cannot run: no oneDNN headers" in done.stderr
    assert "cpu-kernels" in done.stderr


def test_a_bad_backend_name_is_an_error(monkeypatch):
    monkeypatch.setenv("CNNLAB_CONV_BACKEND", "mkl")
    with pytest.raises(ValueError, match="CNNLAB_CONV_BACKEND='mkl' is not one of"):
        conv.backend()


def test_backend_override_sets_and_restores_the_setting(monkeypatch):
    monkeypatch.delenv("CNNLAB_CONV_BACKEND", raising=False)
    with conv.backend_override("xla"):
        assert conv.backend() == conv.Backend("xla", "CNNLAB_CONV_BACKEND=xla")
    assert "CNNLAB_CONV_BACKEND" not in os.environ
    monkeypatch.setenv("CNNLAB_CONV_BACKEND", "auto")
    with pytest.raises(KeyError):
        with conv.backend_override("xla"):
            raise KeyError("inside")  # restored on errors too
    assert os.environ["CNNLAB_CONV_BACKEND"] == "auto"
    with pytest.raises(ValueError, match="'mkl' is not one of"):
        with conv.backend_override("mkl"):
            pass
