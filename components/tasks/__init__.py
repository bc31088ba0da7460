"""Task types by the spec's declaration: `task_of(spec)` is the one place that maps one to the other."""

from __future__ import annotations

from components.common.specs.base import Binary, DatasetSpec, Multiclass, Regression, TaskKind
from components.tasks.base import Check, Task, TaskMetrics, UnscorableOutputError

__all__ = ["Check", "Task", "TaskMetrics", "UnscorableOutputError", "task_for", "task_of"]


def task_for(kind: TaskKind) -> Task:
    if isinstance(kind, Binary):
        from components.tasks.binary import BinaryTask

        return BinaryTask()
    if isinstance(kind, Multiclass):
        from components.tasks.multiclass import MulticlassTask

        return MulticlassTask(kind.classes)
    if isinstance(kind, Regression):
        from components.tasks.regression import RegressionTask

        return RegressionTask(kind.log_target)
    raise TypeError(f"unknown task declaration {kind!r}")


def task_of(spec: DatasetSpec) -> Task:
    return task_for(spec.task)
