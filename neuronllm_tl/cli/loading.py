"""How the command line gets its model and its tasks (the one task loader, with its counts printed)."""

from __future__ import annotations

import argparse
from typing import Any

from neuronllm_tl.models.loading import load_model
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.tasks.registry import load_task
from neuronllm_tl.tasks.task import Task

TINY_MODEL = "tiny-random"
"""A random 3-layer model for smoke tests; its results mean nothing."""


def model_from_args(name: str) -> HookedModel:
    if name == TINY_MODEL:
        import torch

        from neuronllm_tl.testing import tiny_model

        torch.manual_seed(0)
        return tiny_model()
    return load_model(name)


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
