"""Training throughput of the benchmark models in PyTorch: eager channels_last, or torch.compile."""
import time

import torch
from torch import nn

from benchmarks import measure, specs
from benchmarks.peers import torch_models


def channels_last_batches(images, labels, batch_size):
    """NHWC numpy (N, H, W, C) -> list of (x, y): x an NCHW view with channels_last strides (no copy)."""
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2)  # (N, C, H, W), NHWC in memory
    y_all = torch.from_numpy(labels).long()
    n = images.shape[0] // batch_size
    return [(x_all[i * batch_size:(i + 1) * batch_size], y_all[i * batch_size:(i + 1) * batch_size])
            for i in range(n)]


def make_train_step(model, compiled: bool, lr_decay_per_epoch: float = 1.0):
    """step(x, y) -> loss: Adam (lr 1e-3, eps 1e-7) on softmax cross-entropy.

    `step.end_epoch()` multiplies the learning rate by `lr_decay_per_epoch`."""
    optimizer = torch.optim.Adam(model.parameters(), lr=specs.LEARNING_RATE, eps=specs.ADAM_EPS)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=lr_decay_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    forward = torch.compile(model) if compiled else model

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward(x), y)
        loss.backward()
        optimizer.step()
        return loss

    step.end_epoch = scheduler.step
    return step


def build_model(spec: specs.BenchModel, seed: int = 0):
    """The PyTorch model for `spec`, channels_last, in training mode."""
    torch.manual_seed(seed)
    model = torch_models.build(spec.name, spec.image_shape, specs.NUM_CLASSES)
    return model.to(memory_format=torch.channels_last).train()


def measure_torch(spec: specs.BenchModel, batch_size: int, steps: int, repeats: int,
                  compiled: bool = False) -> dict:
    """Trains `repeats` x `steps` steps after one warm-up step; returns a result row."""
    system = "torch compile" if compiled else "torch eager"
    step = make_train_step(build_model(spec), compiled)
    images, labels = specs.synthetic_data(spec.image_shape, steps * batch_size)
    batches = channels_last_batches(images, labels, batch_size)

    start = time.perf_counter()
    loss = step(*batches[0])
    if compiled:  # the backward graph compiles on the second call's shapes too
        loss = step(*batches[0])
    first_step_s = time.perf_counter() - start

    timer = measure.RepeatTimer()
    for _ in range(repeats):
        with timer:
            for x, y in batches:
                loss = step(x, y)
            loss = float(loss.detach())  # waits for the last step
    if loss != loss:
        raise FloatingPointError(f"{spec.name}: the PyTorch training loss became NaN.")
    note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    return measure.result_row(spec.name, system, batch_size, steps, timer.wall, first_step_s,
                              note=note, repeat_cpu_seconds=timer.cpu)
