"""The same benchmark models in the peer frameworks: Keras 3 (JAX backend) and PyTorch.

Each module imports its framework at import time, so import them only when
that framework is installed (`benchmarks.peers.available()` tells).
"""
import importlib.util

FRAMEWORK_MODULES = {"keras": "keras", "torch": "torch"}


def available(framework: str) -> bool:
    """True when the peer framework's package can be imported."""
    if framework not in FRAMEWORK_MODULES:
        raise ValueError(f"unknown peer {framework!r}; choose from {sorted(FRAMEWORK_MODULES)}.")
    return importlib.util.find_spec(FRAMEWORK_MODULES[framework]) is not None
