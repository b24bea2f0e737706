"""Rows in, examples out: the one place that decides what an invalid row does.

Every task source is a sequence of numbered rows (lines of a ``.jsonl`` of questions, rows of a csv,
tsv, parquet or hub split) and a converter that turns one row into an :class:`MCExample`. A
converter raises ``ValueError`` / ``TypeError`` for an *invalid* row (empty text, a label outside the
label set, an example that fails its checks) and returns ``None`` for a row the source documents as
junk (MMLU's two rows without an answer letter), which is dropped silently.

``invalid_rows="error"`` (the default) stops at the first invalid row with an :class:`InvalidRowError`
naming the source and the row; ``invalid_rows="skip"`` drops invalid rows and records their numbers
on the task (``task.skipped_rows``), so one blank sentence in 2,000 does not stop a dataset.
Rows are numbered from 1: the line number in a ``.jsonl`` of questions, the data row (header not
counted, files in the order given) in a table.

Example:
    >>> from pathlib import Path
    >>> rows = [{"question": "2 + 2 =", "options": ["4", "5"], "answer": 0},
    ...         {"question": "1 + 1 =", "options": ["2", "2"], "answer": 0},
    ...         {"question": "3 + 3 =", "options": ["6", "7"], "answer": 0}]
    >>> _ = Path("questions.jsonl").write_text("".join(json.dumps(r) + "\\n" for r in rows))
    >>> task = load_question_file("questions.jsonl", invalid_rows="skip")
    >>> len(task), task.skipped_rows          # line 2 has a repeated option
    (2, (2,))
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from neuronllm_tl.checks import is_positive_int
from neuronllm_tl.tasks.example import MCExample
from neuronllm_tl.tasks.generation import GenerationExample, as_any_example
from neuronllm_tl.tasks.task import Task

InvalidRows = Literal["error", "skip"]
INVALID_ROWS: tuple[str, ...] = ("error", "skip")
RowConverter = Callable[[Any, int], "MCExample | None"]
"""(row, 1-based row number) -> an example, or None for a documented junk row; raises for an invalid row."""


class InvalidRowError(ValueError):
    """An invalid row under ``invalid_rows="error"``; ``where`` is the source, ``row`` the row number."""

    def __init__(self, message: str, *, where: str, row: int) -> None:
        super().__init__(message)
        self.where, self.row = where, row


@dataclass(frozen=True)
class ConvertedRows:
    examples: list[MCExample]
    skipped: tuple[int, ...]
    """Row numbers of invalid rows dropped under ``invalid_rows="skip"``."""
    dropped: int
    """Documented junk rows the converter returned ``None`` for."""


def check_invalid_rows(invalid_rows: str) -> None:
    if invalid_rows not in INVALID_ROWS:
        raise ValueError(f"invalid_rows must be one of {INVALID_ROWS}, got {invalid_rows!r}.")


def convert_rows(
    rows: Iterable[tuple[int, Any]],
    convert: RowConverter,
    *,
    where: str,
    invalid_rows: InvalidRows,
    unit: str = "row",
) -> ConvertedRows:
    """Convert numbered rows; an invalid one raises (``"error"``) or is skipped and recorded (``"skip"``)."""
    check_invalid_rows(invalid_rows)
    examples: list[MCExample] = []
    skipped: list[int] = []
    dropped = 0
    for number, row in rows:
        try:
            ex = convert(row, number)
        except (ValueError, TypeError) as e:
            if invalid_rows == "error":
                raise InvalidRowError(
                    f'{where}, {unit} {number}: {e} Fix the {unit}, or pass invalid_rows="skip" (command line: '
                    f"--invalid-rows skip) to drop invalid {unit}s (their numbers are kept in task.skipped_rows).",
                    where=where,
                    row=number,
                ) from None
            skipped.append(number)
        else:
            if ex is None:
                dropped += 1
            else:
                examples.append(ex)
    return ConvertedRows(examples, tuple(skipped), dropped)


def no_examples_message(where: str, converted: ConvertedRows) -> str:
    """Why a source gave no example: empty, or every row invalid or junk."""
    reasons = []
    if converted.skipped:
        reasons.append(f"{len(converted.skipped)} invalid rows skipped, e.g. {list(converted.skipped[:5])}")
    if converted.dropped:
        reasons.append(f"{converted.dropped} rows dropped as unusable")
    return f"{where} holds no examples" + (f" ({'; '.join(reasons)})" if reasons else "") + "."


def _question_row(row: str, number: int) -> MCExample:
    try:
        data = json.loads(row)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg}); each line must be one JSON object.") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}.")
    return as_any_example(data)


def load_question_file(
    path: str | Path, *, name: str | None = None, invalid_rows: InvalidRows = "error", **task_options: Any
) -> Task:
    """A task from a ``.jsonl`` with ``question``, ``options``, ``answer`` (and optional ``context``, ``id``), or of
    generation examples (``prompt``, ``references``, optional ``distractors``): then ``answer_format`` is "generate"."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"task file {path} does not exist.")
    with open(path) as f:
        lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    converted = convert_rows(lines, _question_row, where=str(path), invalid_rows=invalid_rows, unit="line")
    if not converted.examples:
        raise ValueError(no_examples_message(str(path), converted) + " Write one JSON object per line.")
    if all(isinstance(e, GenerationExample) for e in converted.examples):
        task_options.setdefault("answer_format", "generate")
    try:
        return Task.from_examples(
            converted.examples, name=name or path.stem, skipped_rows=converted.skipped, **task_options
        )
    except (ValueError, TypeError) as e:
        raise type(e)(f"{path}: {e}") from None


def finish_task(task: Task, *, name: str | None = None, limit: int | None = None) -> Task:
    """The first ``limit`` examples (all when None), under the caller's ``name`` when given."""
    if limit is not None:
        if not is_positive_int(limit):
            raise ValueError(f"limit must be None (every example) or an int >= 1, got {limit!r}.")
        task = task.subset(range(min(limit, len(task))))
    return task.with_options(name=name) if name is not None else task
