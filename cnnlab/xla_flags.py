"""Default XLA flags that make convolution training fast on CPU.

XLA:CPU in jax 0.10 routes convolutions to YNNPACK fusions that train the
convnets here 1.1-2.8x slower than XLA's own Eigen kernels (same numbers to
1e-4), so ``import cnnlab`` turns the individual convolution fusions off.
Dots stay on YNNPACK, XLA's default: on Zen 3 (AVX2) a 2048 float32 matmul
runs at 137 GFLOP/s there against 112 on Eigen, on Zen 5 (AVX-512) at the
same rate either way, and on Zen 5 all four benchmark models train faster
with it when XLA runs their convolutions (MNIST 5,314 vs 4,199 images/s,
CIFAR-10 623 vs 601, ResNet-18 33.3 vs 32.4, VGG16 17.7 vs 16.1);
`benchmarks/xla_flag_choice.py` measures the three choices. Convolutions
that run in oneDNN (`cnnlab.ops.onednn`) are custom calls no flag touches.
The flags must be in ``XLA_FLAGS`` before jax starts its CPU backend, so
``import cnnlab`` adds them to the environment.

Opt out with ``CNNLAB_DEFAULT_XLA_FLAGS=0``. A flag the user already set in
``XLA_FLAGS`` is never overridden.
"""
import os

CPU_FLAGS = (
    "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
)


def apply_defaults(environ=os.environ) -> str:
    """Appends cnnlab's CPU flags to ``XLA_FLAGS`` unless disabled or already set."""
    if environ.get("CNNLAB_DEFAULT_XLA_FLAGS", "1") == "0":
        return environ.get("XLA_FLAGS", "")
    current = environ.get("XLA_FLAGS", "")
    extra = [f for f in CPU_FLAGS if f.split("=")[0] not in current]
    if extra:
        environ["XLA_FLAGS"] = " ".join([current] + extra).strip()
    return environ["XLA_FLAGS"]
