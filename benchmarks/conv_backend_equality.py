"""Every zoo model's loss and gradients with XLA's convolutions and with oneDNN's (issue #17).

    python -m benchmarks.conv_backend_equality [--models=resnet18,xception] [--train]
        [--out=benchmarks/results/conv_backend_equality.json]

For each registered model: one small batch at the smallest input size the model
takes (at least 32x32), a scalar loss over all of its outputs, and its gradient
with respect to every parameter, traced with CNNLAB_CONV_BACKEND=xla, with
CNNLAB_CONV_BACKEND=onednn (every covered convolution, whatever its size) and, as
the reference, in float64 with XLA. It reports the relative difference of the
losses, the relative L2 distance between the two float32 gradients, each one's
distance to the float64 gradient, and how many oneDNN custom calls the oneDNN trace
holds (0 would mean nothing was compared). The float64 reference is what decides:
in the deepest nets (ResNet-101/152 at init, eval mode) either float32 gradient can
be 1e-3 away from it at some seeds while the other is not. Eval mode (BatchNorm running statistics, no dropout) is the default:
in train mode, batch statistics over a batch of 2 at tiny sizes turn float32
rounding into large differences that say nothing about the kernels.
Needs ``pip install -e '.[cpu-kernels]'``.
"""
import inspect
import json
import platform

from absl import app, flags

import cnnlab  # noqa: F401  (XLA flags before jax)
import jax
import jax.numpy as jnp
import numpy as np

from cnnlab import models
from cnnlab.models import input_size
from cnnlab.ops import conv

# Models built with options other than their defaults: names -> create() kwargs.
KWARGS = {
    "resnet18": dict(stem="cifar"),
    "transfer": dict(base="tiny_backbone"),
    "localizer": dict(backbone="tiny_backbone"),
    "ssd": dict(backbone="tiny_backbone"),
}
MIN_SIDE = 32
CUSTOM_CALL = "cnnlab_onednn_conv_"


def _loss_fn(model, train: bool):
    takes_train = "train" in inspect.signature(model.__call__).parameters

    def loss(params, variables, x, key):
        kwargs = {"train": train} if takes_train else {}
        rngs = {"dropout": key} if train else None
        out = model.apply({**variables, "params": params}, x, rngs=rngs,
                          mutable=["batch_stats"] if train and "batch_stats" in variables else False,
                          **kwargs)
        if train and "batch_stats" in variables:
            out = out[0]
        leaves = [leaf for leaf in jax.tree_util.tree_leaves(out) if jnp.issubdtype(leaf.dtype, jnp.floating)]
        # A non-linear loss, so that dL/dy differs per element, on outputs scaled to unit RMS
        # (deep nets in eval mode at init give logits in the hundreds, where sin would turn
        # float32 rounding into large differences).
        return sum(jnp.mean(jnp.sin(1.3 * leaf / (jax.lax.stop_gradient(jnp.sqrt(jnp.mean(leaf ** 2))) + 1e-6)
                                    + 0.2)) for leaf in leaves)
    return loss


def _traced(backend_name: str, fn, *args, x64: bool = False):
    """(loss, flat float64 gradient, oneDNN custom calls in the jaxpr) of fn traced under
    CNNLAB_CONV_BACKEND=backend_name; with x64 every float argument is cast to float64."""
    with conv.backend_override(backend_name), jax.enable_x64(x64):
        if x64:
            args = jax.tree_util.tree_map(
                lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, args)
        grad_fn = jax.value_and_grad(fn)
        calls = str(jax.make_jaxpr(grad_fn)(*args)).count(CUSTOM_CALL)
        loss, grads = jax.jit(grad_fn)(*args)
        flat = np.concatenate([np.asarray(g, np.float64).ravel() for g in jax.tree_util.tree_leaves(grads)])
    return float(loss), flat, calls


def compare(name: str, batch: int = 2, train: bool = False, side: int = 0, seed: int = 0) -> dict:
    """Loss and gradients of model `name` with XLA's and oneDNN's float32 convolutions, and a
    float64 reference (XLA); a result row. ``grad_rel`` is |g_onednn - g_xla| / |g_xla|,
    ``*_err64`` each float32 gradient's relative L2 distance to the float64 one."""
    if conv.backend().name != "onednn":
        raise RuntimeError(f"oneDNN's kernels are not in use here: {conv.backend().reason}")
    model = models.create(name, num_classes=5, **KWARGS.get(name, {}))
    side = side or max(MIN_SIDE, input_size.smallest_square_size(model, 3, start=MIN_SIDE))
    key_x, key_init, key_drop = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(key_x, (batch, side, side, 3), jnp.float32)  # (B, H, W, 3)
    with conv.backend_override("xla"):  # initialise with the same kernels both times
        variables = dict(jax.jit(model.init)(key_init, x))
    params = variables.pop("params")
    fn = _loss_fn(model, train)
    # the reference computes in float64 too (the Keras-style convnets default to float32 compute)
    model_64 = models.create(name, num_classes=5, dtype=jnp.float64, **KWARGS.get(name, {}))
    loss_64, g_64, _ = _traced("xla", _loss_fn(model_64, train), params, variables, x, key_drop, x64=True)
    loss_x, g_x, _ = _traced("xla", fn, params, variables, x, key_drop)
    loss_o, g_o, calls = _traced("onednn", fn, params, variables, x, key_drop)  # every covered call
    norm = max(float(np.linalg.norm(g_64)), 1e-30)
    return dict(model=name, side=side, batch=batch, train=train, onednn_calls=calls,
                loss_xla=loss_x, loss_onednn=loss_o, loss_float64=loss_64,
                loss_rel=abs(loss_x - loss_o) / max(abs(loss_x), 1e-12),
                grad_rel=float(np.linalg.norm(g_o - g_x)) / norm,
                xla_err64=float(np.linalg.norm(g_x - g_64)) / norm,
                onednn_err64=float(np.linalg.norm(g_o - g_64)) / norm)


def define_flags():
    """The command line's flags (defined only when run as a program: the tests import compare)."""
    flags.DEFINE_list("models", [], "Models to compare (default: every registered model).")
    flags.DEFINE_bool("train", False, "Train mode (batch statistics, dropout) instead of eval mode.")
    flags.DEFINE_string("out", "benchmarks/results/conv_backend_equality.json", "JSON results.")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    rows = []
    for name in FLAGS.models or models.available():
        try:
            row = compare(name, train=FLAGS.train)
        except Exception as err:  # one model's failure is a row, not the end of the run
            rows.append(dict(model=name, error=f"{type(err).__name__}: {err}"[:500]))
            print(f"{name:20s} FAILED {rows[-1]['error']}", flush=True)
            continue
        rows.append(row)
        print(f"{name:20s} {row['side']:4d}px oneDNN calls {row['onednn_calls']:4d}  loss rel "
              f"{row['loss_rel']:.1e}  grad rel L2 {row['grad_rel']:.1e}  to float64: XLA {row['xla_err64']:.1e}, "
              f"oneDNN {row['onednn_err64']:.1e}", flush=True)
    with open(FLAGS.out, "w") as f:
        json.dump(dict(cpu=platform.processor() or platform.machine(), jax=jax.__version__, rows=rows), f, indent=1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
