"""Default XLA flags that make convolution training fast on CPU.

XLA:CPU in jax 0.10 routes convolutions and dots to YNNPACK fusions that run
at 3-20 GFLOP/s on AVX2 machines; turning those individual fusions off lets
XLA's own Eigen kernels run them at 47-91 GFLOP/s (3.5-4x faster training,
same numbers to 1e-4). The flags must be in ``XLA_FLAGS`` before jax starts
its CPU backend, so ``import cnnlab`` adds them to the environment.

Opt out with ``CNNLAB_DEFAULT_XLA_FLAGS=0``. A flag the user already set in
``XLA_FLAGS`` is never overridden.
"""
import os

CPU_FLAGS = (
    "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution,-individual_dot",
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
