"""cnnlab: convolutional neural networks for computer vision in JAX/Flax."""
from cnnlab import xla_flags as _xla_flags

_xla_flags.apply_defaults()

__version__ = "0.1.0"
from cnnlab.models.summary import summary  # noqa: E402
