"""The base experiment config every file in `configs/` starts from.

Every field a run reads exists here with its default, so any of them can be
overridden from the command line (`--config.train.epochs=3`) and a typo is
rejected instead of silently ignored.
"""
import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = ml_collections.ConfigDict({"name": "mnist_cnn"})
    c.data = ml_collections.ConfigDict({
        "name": "shapes",
        "train_split": "train",
        "eval_split": "validation",
        "test_split": "test",
    })
    c.task = ml_collections.ConfigDict({"name": "classification", "label_smoothing": 0.0})

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"
    c.optim.lr = 1e-3
    c.optim.momentum = 0.0  # Keras default for SGD and RMSprop; SGD configs set 0.9
    c.optim.nesterov = False
    c.optim.weight_decay = 0.0
    c.optim.schedule = "constant"
    c.optim.decay = 0.0
    c.optim.decay_rate = 0.1
    c.optim.decay_steps = 0
    c.optim.warmup_steps = 0
    c.optim.clip_norm = 0.0
    c.optim.freeze = ()

    c.train = ml_collections.ConfigDict()
    c.train.epochs = 1
    c.train.steps = 0  # > 0 overrides epochs
    c.train.batch_size = 64
    c.train.eval_batch_size = 0  # 0: same as batch_size
    c.train.seed = 0
    c.train.parallel = "jit"  # or "pmap"
    c.train.dtype = "float32"  # "bfloat16": mixed precision (params stay float32)
    c.train.log_every = 0  # 0: min(steps per epoch, 100)
    c.train.eval_every = 0  # 0: once per epoch
    c.train.checkpoint_every = 0  # 0: once per epoch
    c.train.keep_checkpoints = 2
    c.train.best_metric = "val/accuracy"
    c.train.best_mode = "max"
    c.train.early_stopping = ml_collections.ConfigDict(
        {"metric": "val/accuracy", "patience": 0, "mode": "max", "min_delta": 0.0})
    c.train.curves = True
    return c
