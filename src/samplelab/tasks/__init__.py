"""Task registry: importing this package registers every built-in task."""

from samplelab.tasks import images, manifold, qstr, setfind, setfind2, text  # noqa: F401  (registers)
from samplelab.tasks.base import TASKS, Task, TaskConfig, build_task

__all__ = ["TASKS", "Task", "TaskConfig", "build_task"]
