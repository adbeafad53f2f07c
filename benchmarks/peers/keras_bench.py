"""Training throughput of the benchmark models in Keras 3 (`model.fit`).

Import only after `KERAS_BACKEND` is set (the worker sets `jax`); this
module never imports cnnlab, so Keras runs with XLA's default flags, as a
Keras user would.
"""
import time

import keras

from benchmarks import measure, specs
from benchmarks.peers import keras_models


class EpochTimer(keras.callbacks.Callback):
    """Records the wall and CPU time of every epoch and the wall time of the very first batch."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds, self.epoch_cpu_seconds, self.first_batch_s = [], [], None
        self._start = self._cpu_start = self._train_start = None

    def on_train_begin(self, logs=None):
        self._train_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.first_batch_s is None:
            self.first_batch_s = time.perf_counter() - self._train_start

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._cpu_start = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)
        self.epoch_cpu_seconds.append(time.process_time() - self._cpu_start)


def build_model(spec: specs.BenchModel, seed: int = 0, lr_decay_per_epoch: float = 1.0, steps_per_epoch: int = 1):
    """The compiled Keras model: Adam (lr 1e-3, eps 1e-7), sparse softmax cross-entropy, accuracy.

    With `lr_decay_per_epoch` < 1 the rate is a staircase ExponentialDecay per epoch."""
    keras.utils.set_random_seed(seed)
    model = keras_models.build(spec.name, spec.image_shape, specs.NUM_CLASSES)
    lr = specs.LEARNING_RATE
    if lr_decay_per_epoch != 1.0:
        lr = keras.optimizers.schedules.ExponentialDecay(lr, steps_per_epoch, lr_decay_per_epoch, staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(lr, epsilon=specs.ADAM_EPS),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def measure_keras(spec: specs.BenchModel, batch_size: int, steps: int, repeats: int) -> dict:
    """`model.fit` for 1 + `repeats` epochs of `steps` batches; the first epoch is warm-up."""
    model = build_model(spec)
    images, labels = specs.synthetic_data(spec.image_shape, steps * batch_size)
    timer = EpochTimer()
    history = model.fit(images, labels, batch_size=batch_size, epochs=repeats + 1, verbose=0,
                        callbacks=[timer])
    loss = history.history["loss"][-1]
    if loss != loss:
        raise FloatingPointError(f"{spec.name}: the Keras training loss became NaN.")
    note = f"keras {keras.__version__}, backend {keras.backend.backend()}"
    return measure.result_row(spec.name, "keras", batch_size, steps, timer.epoch_seconds[1:],
                              timer.first_batch_s, note=note,
                              repeat_cpu_seconds=timer.epoch_cpu_seconds[1:])
