"""Training: state, the one step, jit/pmap, optimizers, checkpoints and the loop."""
from cnnlab.train.config_check import ConfigError
from cnnlab.train.loop import (NonFiniteLoss, TrainingError, evaluate, load_config,
                               restore_for_inference, run)
