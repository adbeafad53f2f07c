"""Tasks: one small object per task that owns its loss, metrics and prediction decoding.

Each task class derives from `Task` and registers itself with `@register(name)`.
"""
from cnnlab.tasks.base import Task, create, names, ratio_metrics, register, valid_mask
from cnnlab.tasks import classification, detection, localization, segmentation  # noqa: F401,E402

available = names  # the older name
