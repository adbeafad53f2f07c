"""Tasks: one small object per task that owns its loss and metrics."""
from cnnlab.tasks.base import Task, ratio_metrics, valid_mask
from cnnlab.tasks.classification import Classification

_TASKS = {"classification": Classification}


def register(name, cls):
    """Adds a task class to the registry used by `create`."""
    _TASKS[name] = cls
    return cls


def available():
    return sorted(_TASKS)


def create(name: str, **kwargs) -> Task:
    """Builds a task by name, e.g. create('classification', num_classes=10)."""
    if name not in _TASKS:
        raise ValueError(f"config.task.name={name!r} is not a known task; choose one of {available()}.")
    try:
        return _TASKS[name](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad settings for task {name!r}: {e}") from None
from cnnlab.tasks import detection, localization  # noqa: E402,F401  (register their tasks)
from cnnlab.tasks import segmentation  # noqa: E402,F401  (registers the segmentation task)
