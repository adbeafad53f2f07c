"""Issue #17's gate: one convolution layer, forward + both gradients, oneDNN (via jax.ffi) vs XLA.

python -m benchmarks.onednn_gate [--repeats=7] [--out=benchmarks/results/onednn_gate.json]

Both sides run inside one jitted function per layer computing (y, dL/dx, dL/dw), in the same
process, with the repeats interleaved so that load on the machine hits both alike. XLA runs
with cnnlab's default CPU flags (`import cnnlab`), its convolutions on XLA's own kernels;
oneDNN with the threads its runtime gives itself. Wall and process-CPU time are both kept.
Needs `pip install onednn onednn-devel` and a C++ compiler.
"""
import json
import os
import platform
import statistics

from absl import app, flags

import cnnlab  # noqa: F401  (sets cnnlab's XLA flags before jax starts)
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from benchmarks.measure import RepeatTimer, cpu_description
from cnnlab.ops import onednn

_REPEATS = flags.DEFINE_integer("repeats", 7, "Timed repeats per side and layer (interleaved).")
_CALLS = flags.DEFINE_integer("calls", 3, "Calls per timed repeat.")
_OUT = flags.DEFINE_string("out", "benchmarks/results/onednn_gate.json", "JSON results.")

# (label, batch, H=W, C_in, C_out, kernel, padding): the four costliest 3x3 layers of ResNet-18
# (CIFAR stem) and the four layers of the Keras CIFAR-10 convnet, at the benchmark batch 128.
LAYERS = (
    ("resnet18 layer1 32x32 64->64", 128, 32, 64, 64, 3, ((1, 1), (1, 1))),
    ("resnet18 layer2 16x16 128->128", 128, 16, 128, 128, 3, ((1, 1), (1, 1))),
    ("resnet18 layer3 8x8 256->256", 128, 8, 256, 256, 3, ((1, 1), (1, 1))),
    ("resnet18 layer4 4x4 512->512", 128, 4, 512, 512, 3, ((1, 1), (1, 1))),
    ("cifar10_cnn conv1 32x32 3->32 same", 128, 32, 3, 32, 3, ((1, 1), (1, 1))),
    ("cifar10_cnn conv2 32x32 32->32 valid", 128, 32, 32, 32, 3, ((0, 0), (0, 0))),
    ("cifar10_cnn conv3 15x15 32->64 same", 128, 15, 32, 64, 3, ((1, 1), (1, 1))),
    ("cifar10_cnn conv4 15x15 64->64 valid", 128, 15, 64, 64, 3, ((0, 0), (0, 0))),
)
GATE = 1.3


def xla_conv(x, w, stride, pads, dilation):
    return lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def layer_fn(conv, pads):
    """jit of (x, w, dy) -> (y, dx, dw): one layer's forward and both gradients."""
    def fn(x, w, dy):
        y, vjp = jax.vjp(lambda x, w: conv(x, w, (1, 1), pads, (1, 1)), x, w)
        return (y,) + vjp(dy)
    return jax.jit(fn)


def torch_layer_fn(x, w, dy, pads):
    """PyTorch's (oneDNN) forward and both gradients of the same layer, channels_last; None if absent."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count())
    (pt, pb), (pl, pr) = pads
    if pt != pb or pl != pr:
        return None
    tx = torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    tw = torch.from_numpy(np.asarray(w)).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    tdy = torch.from_numpy(np.asarray(dy)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    tx.requires_grad_(True)
    tw.requires_grad_(True)

    def fn():
        y = torch.nn.functional.conv2d(tx, tw, padding=(pt, pl))
        dx, dw = torch.autograd.grad(y, (tx, tw), tdy)
        return y, dx, dw
    return fn


def relative_error(a, b) -> float:
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def measure(layer, repeats: int, calls: int) -> dict:
    label, n, hw, c_in, c_out, k, pads = layer
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], (n, hw, hw, c_in))
    w = jax.random.normal(keys[1], (k, k, c_in, c_out)) / np.sqrt(k * k * c_in)
    ho = hw + pads[0][0] + pads[0][1] - k + 1
    dy = jax.random.normal(keys[2], (n, ho, ho, c_out))
    fns = {"xla": layer_fn(xla_conv, pads), "onednn": layer_fn(onednn.conv2d, pads)}
    outs = {name: jax.block_until_ready(fn(x, w, dy)) for name, fn in fns.items()}
    errors = [relative_error(a, b) for a, b in zip(outs["onednn"], outs["xla"])]
    calls_of = {name: (lambda fn=fn: jax.block_until_ready(fn(x, w, dy))) for name, fn in fns.items()}
    torch_fn = torch_layer_fn(x, w, dy, pads)
    if torch_fn is not None:
        torch_fn()
        calls_of["torch"] = torch_fn
    timers = {name: RepeatTimer() for name in calls_of}
    for _ in range(repeats):
        for name, fn in calls_of.items():
            with timers[name]:
                for _ in range(calls):
                    fn()
    gflop = 3 * 2.0 * n * ho * ho * k * k * c_in * c_out / 1e9  # forward + two gradients
    row = {"layer": label, "gflop": gflop, "rel_error_y_dx_dw": errors}
    for name, t in timers.items():
        ms = statistics.median(t.wall) / calls * 1e3
        row[name] = {"ms": ms, "gflop_per_s": gflop / ms * 1e3,
                     "cpu_ms": statistics.median(t.cpu) / calls * 1e3}
    row["speedup"] = row["xla"]["ms"] / row["onednn"]["ms"]
    row["cpu_speedup"] = row["xla"]["cpu_ms"] / row["onednn"]["cpu_ms"]
    return row


def markdown(rows) -> str:
    lines = ["| layer (batch 128) | GFLOP | XLA ms | oneDNN ms | torch ms | XLA GFLOP/s | oneDNN GFLOP/s | speedup (wall) | speedup (CPU time) | max rel. error y, dx, dw |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        torch_ms = f"{r['torch']['ms']:.1f}" if "torch" in r else "-"
        lines.append(f"| {r['layer']} | {r['gflop']:.2f} | {r['xla']['ms']:.1f} | {r['onednn']['ms']:.1f} | {torch_ms} | "
                     f"{r['xla']['gflop_per_s']:.0f} | {r['onednn']['gflop_per_s']:.0f} | {r['speedup']:.2f} | "
                     f"{r['cpu_speedup']:.2f} | " + ", ".join(f"{e:.1e}" for e in r["rel_error_y_dx_dw"]) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    loaded, why = onednn.status()
    if not loaded:
        raise SystemExit(f"oneDNN kernels unavailable: {why}")
    load_before = os.getloadavg()[0]
    rows = []
    for layer in LAYERS:
        rows.append(measure(layer, _REPEATS.value, _CALLS.value))
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    result = {"machine": cpu_description(), "cores": os.cpu_count(), "python": platform.python_version(),
              "jax": jax.__version__, "xla_flags": os.environ.get("XLA_FLAGS", ""),
              "load_before": load_before, "load_after": os.getloadavg()[0], "gate": GATE, "rows": rows,
              "passes": [r["speedup"] >= GATE for r in rows]}
    os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
    with open(_OUT.value, "w") as f:
        json.dump(result, f, indent=1)
    print(markdown(rows))
    print(f"load average {load_before:.2f} before, {result['load_after']:.2f} after; "
          f"{sum(result['passes'])}/{len(rows)} layers at >= {GATE}x")


if __name__ == "__main__":
    app.run(main)
