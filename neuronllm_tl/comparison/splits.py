"""The identification and held-out splits of a comparison's tasks, one pair per split seed.

Each task is loaded once per read-out (with its ``CompareConfig.task_options``), cut to its first
``n_identify + n_eval`` examples, and split with each seed of ``CompareConfig.seeds``: the same examples,
a different draw of which are held out. With ``CompareConfig.shots[task] = k``, ``Task.split`` draws k
label-balanced demonstrations from that seed's identification part (they leave it, so it identifies on
``n_identify - k`` examples) and shows them before every question of both parts.

An example can be held out under several seeds. :func:`~neuronllm_tl.tasks.identity.example_ids` names each
example of a split by its content (a digest of its question, context, options and answer), so that the
report can tell the same example under two seeds apart from two different ones
(:mod:`neuronllm_tl.comparison.intervals`).

Example:
    >>> config = CompareConfig(tasks=("capitals-mini",), n_identify=24, n_eval=24, seeds=(0, 1))
    >>> s = make_splits(config, "capitals-mini", "cloze", 3, seed=1)
    >>> len(s.identify), len(s.evaluate)
    (24, 24)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from neuronllm_tl.comparison.cells import Cell
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.tasks.identity import example_ids
from neuronllm_tl.tasks.registry import load_task
from neuronllm_tl.tasks.task import Task


@dataclass(frozen=True)
class Splits:
    identify: Task
    evaluate: Task
    seed: int


def make_splits(config: CompareConfig, task: str, answer_format: str, n_permutations: int, *, seed: int) -> Splits:
    """``task``'s (identification, held-out) pair under split seed ``seed``."""
    full = load_task(
        task,
        data_files=(config.data_files or {}).get(task),
        answer_format=answer_format,
        n_permutations=n_permutations,
        seed=0,
        **dict((config.task_options or {}).get(task, {})),
    )
    if len(full) < 2:
        raise ValueError(f"task {task!r} has {len(full)} example(s); the protocol needs two splits.")
    n = min(len(full), config.n_identify + config.n_eval)
    fraction = config.n_identify / (config.n_identify + config.n_eval)
    shots = (config.shots or {}).get(task, 0)
    identify, evaluate = full.subset(range(n)).split(fraction, seed=seed, shots=shots)
    return Splits(identify, evaluate, seed)


def label(task: Task, seed: int) -> str:
    """A split's readable name in the store's manifest: its name, split seed, read-out and questions per
    example (one comparison asks the same split in several formats, e.g. the permutations ablation)."""
    return f"{task.name} [seed {seed}, {task.answer_format}, {task.effective_permutations} question(s) per example]"


def with_example_ids(cell: Cell, task: Task) -> Cell:
    """``cell`` with its examples named: a cell whose per-example values lack the names (stored by an earlier
    version) gets those of ``task``, the held-out split it was measured on (its content key covers it)."""
    per = cell.measurement.per_example
    if per is None or per.example_ids is not None:
        return cell
    named = replace(per, example_ids=tuple(example_ids(task)))
    return replace(cell, measurement=replace(cell.measurement, per_example=named))


__all__ = ["Splits", "label", "make_splits", "with_example_ids"]
