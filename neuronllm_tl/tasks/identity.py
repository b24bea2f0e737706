"""Each example's identity by its content, so that an example can be recognised in any task that holds it.

An example's id is the first 16 hex digits of the sha256 of its question, context, options and answer
(canonical JSON), not of its optional ``id`` field (the task fingerprint does not cover it). The same
example has the same id under every split, seed and read-out; a neuron set records the ids of the
examples that identified it (``metadata["identified_examples"]``), and evaluation leaves those out
(:mod:`neuronllm_tl.evaluation.held_out`).

Example:
    >>> ident, held_out = task.split(0.5, seed=0)
    >>> set(example_ids(ident)) & set(example_ids(held_out))
    set()
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from neuronllm_tl.tasks.example import MCExample
from neuronllm_tl.tasks.task import Task


def example_id(example: MCExample) -> str:
    content = {
        "question": example.question,
        "context": example.context,
        "options": list(example.options),
        "answer": example.answer,
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def example_ids(task: Task | Iterable[MCExample]) -> list[str]:
    """The id of every example of ``task`` (or of the given examples), in order."""
    examples = task.examples if isinstance(task, Task) else task
    return [example_id(e) for e in examples]


__all__ = ["example_id", "example_ids"]
