"""The one task registry: every named task is a row of one table, ``name -> (loader, description)``.

``load_task`` is the one place that decides what a task source is:

* a registered name: the shipped offline tasks (``scripts/make_builtin_tasks.py``: nothing downloads), the
  dataset tasks of :mod:`neuronllm_tl.tasks.datasets` (hub, or local ``data_files=``), or a task a user added
  with :func:`register_task` (or a package, through the ``neuronllm_tl.tasks`` entry points);
* a path to a ``.jsonl`` of questions, one ``{"question", "options", "answer"[, "context", "id"]}`` a line.

========================= ========== ===============================================================
task                      source     what
========================= ========== ===============================================================
``sentiment-mini``        built-in   the sentiment of short made-up reviews (2 options)
``capitals-mini``         built-in   a country's capital, or a capital's country (4 options)
``topics-mini``           built-in   the topic of made-up headlines (world/sports/business/science)
``capitals-gen``          built-in   free text: a country's capital or a capital's country (248 examples)
``antonyms-gen``          built-in   free text: a word's opposite (355 examples)
``arithmetic-gen``        built-in   free text: one addition or subtraction up to 20 (300 examples)
``mmlu`` ... ``ag_news``  dataset    see :mod:`neuronllm_tl.tasks.datasets`
========================= ========== ===============================================================

A loader is called as ``loader(**options)`` with the caller's options, plus ``data_files=`` and
``invalid_rows=`` when the caller sets them (not None / not ``"error"``); ``load_task`` then applies
``limit`` (the first examples) and ``name`` (the caller's name always wins) the same way for every source.

Example:
    >>> task = load_task("sentiment-mini", answer_format="cloze")
    >>> load_task("tiny.jsonl").name                                # a .jsonl of questions: named by its stem
    'tiny'
    >>> _ = open("dev.tsv", "w").write("sentence\\tlabel\\nit was great .\\t1\\nit was awful .\\t0\\n\\t1\\n")
    >>> sst2 = load_task("sst2", data_files="dev.tsv", invalid_rows="skip", name="my-sst2")
    >>> len(sst2), sst2.skipped_rows                                # the empty sentence is skipped, and said
    (2, (3,))
    >>> rows = [{"question": "2 + 2 =", "options": ["4", "5"], "answer": "4"}]   # "answer": an index or the text
    >>> register_task("arith", lambda **o: Task.from_examples(rows, name="arith", **o), description="sums")
    >>> unregister_task("arith")
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from neuronllm_tl.registry import TASK_ENTRY_POINTS, Registry
from neuronllm_tl.tasks.datasets import DATASET_OPTIONS, DATASET_TASKS, load_dataset_source
from neuronllm_tl.tasks.row_conversion import InvalidRows, check_invalid_rows, finish_task, load_question_file
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.tasks.template import QATemplate

TaskLoader = Callable[..., Task]
"""``loader(**options) -> Task``."""
TASK_OPTIONS: tuple[str, ...] = tuple(
    p for p in inspect.signature(Task.from_examples).parameters if p not in ("examples", "name", "skipped_rows")
)
"""Options every task takes (they go to :meth:`Task.from_examples`): answer_format, template, ..."""


@dataclass(frozen=True)
class TaskEntry:
    """One row of the registry."""

    name: str
    loader: TaskLoader
    description: str = ""
    source: str = "registered"
    """``"built-in"`` (ships with the package), ``"dataset"`` or ``"registered"`` (added by :func:`register_task`)."""
    options: tuple[str, ...] | None = None
    """Options the loader takes beyond :data:`TASK_OPTIONS` and ``invalid_rows``; None: any (not checked)."""
    readout: Mapping[str, Any] = field(default_factory=dict)
    """The cloze read-out options this task gets unless the caller sets them (``calibration=``,
    ``cloze_normalization=``, ``shots=``): chosen from measurements, see :data:`READOUT_DEFAULTS`."""


class UnknownTaskError(KeyError):
    def __str__(self) -> str:  # a KeyError would print its message quoted
        return str(self.args[0])


READOUT_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "sentiment-mini": MappingProxyType({"calibration": "pmi"}),
        "ag_news": MappingProxyType({"calibration": "contextual", "shots": 1}),
    }
)
"""Task -> its default cloze read-out (and demonstrations), where one beat the plain summed log-likelihood
with no demonstrations on SmolLM2-135M on fresh held-out examples (exact McNemar test, p < 0.05;
``scripts/measure_readouts.py``, docs/tasks.md). A task not listed reads ``sum``, uncalibrated, 0 shots.
The caller's options always win (``calibration="none", shots=0`` restores the plain read-out)."""


GENERATION_TASKS: Mapping[str, str] = MappingProxyType(
    {
        "capitals-gen": "free text: a country's capital, or a capital's country (capitals-mini's countries)",
        "antonyms-gen": "free text: a word's opposite",
        "arithmetic-gen": "free text: one addition or subtraction of numbers up to 20",
    }
)
"""The built-in generation tasks (``answer_format="generate"``; see :mod:`neuronllm_tl.tasks.generation`)."""
GENERATION_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "capitals-gen": "You are a geography expert. Answer the question about capital cities in a few words.",
        "antonyms-gen": "You are a language teacher. Answer with one word.",
        "arithmetic-gen": "You are a calculator. Answer with the number only.",
    }
)


def _shipped(name: str, header: str) -> TaskLoader:
    """Loader of a task shipped in ``neuronllm_tl/tasks/data/<name>.jsonl``."""

    def load(*, invalid_rows: InvalidRows = "error", **task_options: Any) -> Task:
        task_options.setdefault("template", QATemplate(header=header))
        data = resources.files("neuronllm_tl.tasks").joinpath("data").joinpath(f"{name}.jsonl")
        with resources.as_file(data) as path:
            return load_question_file(path, name=name, invalid_rows=invalid_rows, **task_options)

    return load


_SHIPPED: tuple[TaskEntry, ...] = tuple(
    replace(entry, readout=READOUT_DEFAULTS.get(entry.name, entry.readout))
    for entry in (
        TaskEntry(
            "sentiment-mini",
            _shipped(
                "sentiment-mini",
                "You are a sentiment classifier. Read the review and say "
                "whether its sentiment is positive or negative.",
            ),
            "sentiment of made-up reviews, 2 options",
            "built-in",
            (),
        ),
        TaskEntry(
            "capitals-mini",
            _shipped("capitals-mini", "You are a geography expert. Answer the question about capital cities."),
            "capital of a country (2/3) or country of a capital (1/3), 4 options",
            "built-in",
            (),
        ),
        TaskEntry(
            "topics-mini",
            _shipped("topics-mini", "You are a news editor. Read the headline and give its topic."),
            "topic of made-up headlines, 4 options",
            "built-in",
            (),
        ),
        *(
            TaskEntry(name, _shipped(name, GENERATION_HEADERS[name]), description, "built-in", ())
            for name, description in GENERATION_TASKS.items()
        ),
        *(
            TaskEntry(
                spec.name,
                partial(load_dataset_source, spec),
                f"{spec.kind}: {spec.description}",
                "dataset",
                DATASET_OPTIONS,
            )
            for spec in DATASET_TASKS.values()
        ),
    )
)
_TASKS: Registry[TaskEntry] = Registry("task", entry_points=TASK_ENTRY_POINTS)
for _entry in _SHIPPED:
    _TASKS.register(_entry.name, _entry)
TASKS: Mapping[str, TaskEntry] = _TASKS.view
"""The registry, read-only (a live view: it shows tasks registered later, also by other packages through the
``neuronllm_tl.tasks`` entry-point group: :mod:`neuronllm_tl.registry`)."""
BUILTIN_TASKS: tuple[str, ...] = tuple(e.name for e in _SHIPPED if e.source == "built-in")


def list_tasks() -> dict[str, str]:
    """Every registered task: name -> description."""
    return {name: entry.description for name, entry in TASKS.items()}


def register_task(name: str, loader: TaskLoader, *, description: str = "", overwrite: bool = False) -> None:
    """Add a task: ``load_task(name, **options)`` will return ``loader(**options)`` (renamed/limited as asked)."""
    if not callable(loader):
        raise TypeError(f"loader must be a callable loader(**options) -> Task, got {type(loader).__name__}.")
    if name in TASKS and not overwrite:  # the registry's own refusal, with what the name already holds
        old = TASKS[name]
        raise ValueError(
            f"task {name!r} is already registered ({old.source}: {old.description or 'no description'}); "
            "pass overwrite=True to replace it, or choose another name."
        )
    _TASKS.register(name, TaskEntry(name, loader, description, "registered", None), overwrite=overwrite)


def unregister_task(name: str) -> None:
    """Remove a task from the registry (a built-in one too; reimport the package to get it back)."""
    if name not in TASKS:
        raise UnknownTaskError(f"task {name!r} is not registered; registered tasks: {sorted(TASKS)}.")
    _TASKS.unregister(name)


def load_task(
    source: str | Path,
    *,
    name: str | None = None,
    data_files: str | Path | Sequence[str | Path] | None = None,
    invalid_rows: InvalidRows = "error",
    limit: int | None = None,
    **task_options: Any,
) -> Task:
    """A task from a registered name (built-in, dataset, registered) or a path to a ``.jsonl`` of questions.

    Args:
        name: The task's name (default: the registered name, or the file's stem); it always wins.
        data_files: Local copies of a dataset task (csv, tsv, jsonl, json, parquet).
        invalid_rows: ``"error"`` stops at the first invalid row, naming it; ``"skip"`` drops invalid rows
            (empty text, unknown label, invalid example) and records them in ``task.skipped_rows``.
        limit: Keep the first ``limit`` examples (dataset tasks are shuffled with ``shuffle_seed`` first).
        task_options: :data:`TASK_OPTIONS` (answer_format, template, n_permutations, seed, ...), and for a
            dataset task :data:`DATASET_OPTIONS` (subjects, columns, label_column, labels, split, shuffle_seed).
            ``shots=k``: k label-balanced demonstrations drawn from the (limited) task's examples and removed
            from them (:meth:`Task.with_shots`); ``Task.split(..., shots=k)`` draws them from the
            identification split instead.
    """
    check_invalid_rows(invalid_rows)
    entry = _resolve(source)
    options = dict(task_options)
    if entry is not None and options.get("answer_format", "cloze") == "cloze":
        options = {**entry.readout, **options}
    shots = options.pop("shots", 0)
    if data_files is not None:
        options["data_files"] = data_files
    if entry is None:
        _check_options(f"the task file {source}", options, ())
        task = load_question_file(source, invalid_rows=invalid_rows, **options)
    else:
        if invalid_rows != "error":
            options["invalid_rows"] = invalid_rows
        if entry.options is not None:
            _check_options(f"the {entry.source} task {entry.name!r}", options, entry.options)
        task = entry.loader(**options)
        if not isinstance(task, Task):
            raise TypeError(f"the loader of task {entry.name!r} returned a {type(task).__name__}, not a Task.")
    task = finish_task(task, name=name, limit=limit)
    return task.with_shots(shots, seed=task.seed) if shots else task


def load_task_file(path: str | Path, *, name: str | None = None, limit: int | None = None, **options: Any) -> Task:
    """A task from a JSONL file of questions, whatever its extension (``load_task`` wants ``.jsonl``)."""
    return finish_task(load_question_file(path, **options), name=name, limit=limit)


def default_task_name(source: str | Path) -> str:
    """The name ``load_task(source)`` gives a task without ``name=``: a registered name itself, a ``.jsonl``
    path its file's stem (``data/mine.jsonl`` -> ``mine``), as every command prints it."""
    if isinstance(source, str) and source in TASKS:
        return source
    return Path(source).stem if Path(source).suffix.lower() == ".jsonl" else str(source)


def _resolve(source: str | Path) -> TaskEntry | None:
    """The registry row of ``source``, or None when it is a ``.jsonl`` path."""
    if isinstance(source, str) and source in TASKS:
        return TASKS[source]
    path = Path(source)
    if path.suffix.lower() == ".jsonl":
        return None
    if path.is_file():
        raise ValueError(
            f"{path}: a task file must be a .jsonl of questions ({{question, options, answer}} a line). For a "
            "labelled table (csv, tsv, parquet) use load_task('<dataset task>', data_files=..., columns=..., "
            "label_column=..., labels=...) or load_classification_task."
        )
    groups = {s: sorted(n for n, e in TASKS.items() if e.source == s) for s in ("built-in", "dataset", "registered")}
    raise UnknownTaskError(
        f"unknown task {source!r}; built-in tasks: {groups['built-in']}, dataset tasks: {groups['dataset']}"
        + (f", registered: {groups['registered']}" if groups["registered"] else "")
        + ". For your own questions pass a path to a .jsonl file; register_task adds a name."
    )


def _check_options(what: str, options: Mapping[str, Any], extra: Sequence[str]) -> None:
    unknown = sorted(set(options) - {*TASK_OPTIONS, "invalid_rows", *extra})
    if not unknown:
        return
    dataset_only = [o for o in unknown if o in DATASET_OPTIONS]
    if dataset_only:
        datasets = sorted(n for n, e in TASKS.items() if e.source == "dataset")
        one = len(dataset_only) == 1
        raise ValueError(
            f"{', '.join(o + '=' for o in dataset_only)} appl{'ies' if one else 'y'} to the dataset tasks "
            f"{datasets}, not to {what}; drop {'it' if one else 'them'}."
        )
    raise ValueError(
        f"unknown option(s) {unknown} for {what}; it takes {sorted({*TASK_OPTIONS, *extra})} and invalid_rows."
    )
