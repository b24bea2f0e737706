"""Named tasks: data + template, lm-evaluation-harness style.

The tasks that ship with the package were written for this project (``scripts/make_builtin_tasks.py``)
so that the demo and the tests never download anything:

* ``sentiment-mini``: the sentiment of short made-up reviews (2 options);
* ``capitals-mini``: the capital of a country (4 options, distractors are other capitals);
* ``topics-mini``: the topic of made-up headlines (world / sports / business / science).

Example:
    >>> task = load_task("sentiment-mini", answer_format="cloze")
    >>> load_task_file("my_questions.jsonl", name="mine")   # {"question", "options", "answer"} per line
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from neuronllm_tl.tasks.task import Task
from neuronllm_tl.tasks.template import QATemplate


@dataclass(frozen=True)
class TaskSpec:
    data_file: str
    template: QATemplate
    description: str


BUILTIN_TASKS: dict[str, TaskSpec] = {
    "sentiment-mini": TaskSpec(
        "sentiment-mini.jsonl",
        QATemplate(header="You are a sentiment classifier. Read the review and say whether its sentiment is positive or negative."),
        "sentiment of made-up reviews, 2 options",
    ),
    "capitals-mini": TaskSpec(
        "capitals-mini.jsonl",
        QATemplate(header="You are a geography expert. Answer the question about capital cities."),
        "capital city of a country, 4 options",
    ),
    "topics-mini": TaskSpec(
        "topics-mini.jsonl",
        QATemplate(header="You are a news editor. Read the headline and give its topic."),
        "topic of made-up headlines, 4 options",
    ),
}


def list_tasks() -> dict[str, str]:
    return {name: spec.description for name, spec in BUILTIN_TASKS.items()}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {n}: not valid JSON ({e.msg}); each line must be one JSON object.") from None
    if not rows:
        raise ValueError(f"{path} holds no examples; write one JSON object per line.")
    return rows


def load_task_file(path: str | Path, *, name: str | None = None, **task_options: Any) -> Task:
    """A task from a JSONL file with ``question``, ``options``, ``answer`` (and optional ``context``)."""
    rows = read_jsonl(path)
    try:
        return Task.from_examples(rows, name=name or Path(path).stem, **task_options)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{path}: {e}") from None


def load_task(name: str, *, limit: int | None = None, **task_options: Any) -> Task:
    """A built-in task by name; ``task_options`` go to :meth:`Task.from_examples` (answer_format, ...)."""
    if name not in BUILTIN_TASKS:
        raise KeyError(f"unknown task {name!r}; built-in tasks: {sorted(BUILTIN_TASKS)}. For a file use load_task_file(path).")
    spec = BUILTIN_TASKS[name]
    task_options.setdefault("template", spec.template)
    data = resources.files("neuronllm_tl.tasks").joinpath("data", spec.data_file)
    with resources.as_file(data) as path:
        task = load_task_file(path, name=name, **task_options)
    return task.subset(range(min(limit, len(task))), name=name) if limit else task
