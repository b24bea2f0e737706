"""How the command line gets its model and its tasks (the one task loader, with its counts printed)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from neuronllm_tl.models.loading import load_model
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.tasks.identity import example_ids
from neuronllm_tl.tasks.registry import load_task
from neuronllm_tl.tasks.task import Task

TASK_FLAGS = (
    "task",
    "name",
    "format",
    "permutations",
    "normalization",
    "calibration",
    "shots",
    "seed",
    "limit",
    "data_files",
    "subjects",
    "invalid_rows",
)
"""The flags that say which task and how it is read: a neuron set records them, so `evaluate` can reload it."""

TINY_MODEL = "tiny-random"
"""A random 3-layer model for smoke tests; its results mean nothing."""


TINY_TASKS = ("tiny-qa", "tiny-qa-reversed")
"""Built-in tasks in the tiny model's vocabulary: the defaults of ``demo`` and ``compare`` under ``--model
tiny-random`` (the real tasks' words are unknown to its 50-token tokenizer)."""


def model_from_args(name: str) -> HookedModel:
    if name == TINY_MODEL:
        import torch

        from neuronllm_tl.testing import tiny_model

        torch.manual_seed(0)
        return tiny_model()
    try:
        return load_model(name)
    except OSError as e:  # the CLI also has the tiny model: name it beside the loader's built-in names
        raise OSError(f"{e} Here, --model {TINY_MODEL} is a random 3-layer model for smoke tests.") from None


def default_tasks(model: str, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The default tasks of a command for ``model``: the tiny ones under ``--model tiny-random``."""
    return TINY_TASKS[: len(defaults)] if model == TINY_MODEL else defaults


@contextmanager
def tiny_tasks_for(model: str | None) -> Iterator[None]:
    """Within it, under ``--model tiny-random``, the tiny tasks are registered (and unregistered after, so a
    command leaves the registry as it found it)."""
    from neuronllm_tl.tasks.registry import list_tasks, register_task, unregister_task
    from neuronllm_tl.testing.tasks import TINY_TEMPLATE, tiny_examples

    added = [name for name in TINY_TASKS if model == TINY_MODEL and name not in list_tasks()]
    for name, rows in zip(TINY_TASKS, (tiny_examples(), tiny_examples()[::-1]), strict=True):
        if name in added:
            register_task(
                name,
                lambda rows=rows, name=name, **options: Task.from_examples(
                    rows, name=name, **{"template": TINY_TEMPLATE, **options}
                ),
                description="twelve questions in the tiny model's vocabulary (--model tiny-random smoke runs)",
            )
    try:
        yield
    finally:
        for name in added:
            unregister_task(name)


def task_from_args(args: argparse.Namespace, *, default: str | None = None, source: str | None = None) -> Task:
    """``load_task`` with the task flags; prints how many invalid rows were skipped, and which."""
    options: dict[str, Any] = dict(n_permutations=args.permutations, seed=args.seed)
    if args.format is not None:  # None: the task's own (cloze, or generate for free-text examples)
        options["answer_format"] = args.format
    flags = (("cloze_normalization", args.normalization), ("calibration", args.calibration), ("shots", args.shots))
    for option, value in flags:
        if value is not None:  # None: the task's default read-out
            options[option] = value
    if args.subjects:
        options["subjects"] = args.subjects
    source = source or args.task or default
    if source is None:
        raise ValueError("name a task: --task NAME (see `neuronllm-tl tasks`) or --task path/to/questions.jsonl.")
    data_files = args.data_files[0] if args.data_files and len(args.data_files) == 1 else args.data_files
    task = load_task(
        source,
        name=getattr(args, "name", None),
        data_files=data_files,
        invalid_rows=args.invalid_rows,
        limit=args.limit,
        **options,
    )
    report_skipped(task)
    return task


def report_skipped(task: Task) -> None:
    skipped = getattr(task, "skipped_rows", ())
    if skipped:
        first = ", ".join(str(r) for r in skipped[:5])
        more = ", ..." if len(skipped) > 5 else ""
        print(
            f"task {task.name}: skipped {len(skipped)} invalid row(s) (rows {first}{more}); {len(task)} examples kept."
        )


def evaluation_task(args: argparse.Namespace, neurons: NeuronSet, *, default: str | None = None) -> Task:
    """``--task``, else the task the set was identified from (restricted to its held-out split, if it has one)."""
    source = neurons.metadata.get("task_source")
    if args.task is not None or source is None:
        return task_from_args(args, default=default)
    task = task_from_args(argparse.Namespace(**{**vars(args), **source}))
    held = neurons.metadata.get("held_out_examples")
    if held is not None:
        wanted = set(held)
        task = task.subset([i for i, e in enumerate(example_ids(task)) if e in wanted], name=f"{task.name}:held-out")
        print(f"no --task: the set's held-out split of {source['task']}, {len(task)} examples")
    else:
        print(f"no --task: the task the set was identified from, {source['task']}")
    return task
