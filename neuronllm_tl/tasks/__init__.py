"""Stage 3 of the pipeline: tasks as multiple-choice questions (QATT): examples, templates, datasets, and the
one task registry.

Example:
    >>> from neuronllm_tl.tasks import load_task
    >>> task = load_task("capitals-mini", limit=10)
    >>> task.fingerprint() == load_task("capitals-mini", limit=10, name="caps").fingerprint()
    True
"""

from neuronllm_tl.tasks.example import MCExample
from neuronllm_tl.tasks.registry import TASKS, TaskEntry, list_tasks, load_task, register_task, unregister_task
from neuronllm_tl.tasks.row_conversion import InvalidRowError
from neuronllm_tl.tasks.task import Question, Task
from neuronllm_tl.tasks.template import QATemplate

__all__ = [
    "TASKS",
    "InvalidRowError",
    "MCExample",
    "QATemplate",
    "Question",
    "Task",
    "TaskEntry",
    "list_tasks",
    "load_task",
    "register_task",
    "unregister_task",
]
