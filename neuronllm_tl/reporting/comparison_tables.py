"""The tables of a ``compare`` run, read from its ``results.csv`` (one table per task, one per ablation).

The columns are those of ``results.md`` (:mod:`neuronllm_tl.comparison.report`): a CSV written by an
earlier version, without the interval columns, shows "–" there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from neuronllm_tl.reporting.tables import Cell, Table, fmt, num, number_cell
from neuronllm_tl.steering.modes import MODES

_MAIN_HEADER = (
    "method",
    "mode",
    "n",
    "acc. before → after",
    "Δ acc.",
    "p before → after",
    "Δ p",
    "Δ p CI",
    "RCC",
    "random Δ p (mean ± sd)",
    "beyond random (sd)",
    "unrelated Δ p",
    "PCR",
)
_ABLATION_HEADER = (
    "task",
    "setting",
    "mode",
    "n",
    "acc. before → after",
    "Δ acc.",
    "p before → after",
    "Δ p",
    "Δ p CI",
)
MAIN_CAPTION = (
    "Δ: after minus before, on the held-out split. CI: paired 95% bootstrap over held-out examples (bold: excludes 0; "
    "–: a cell from an earlier version). ✓: Δ p is more than 2 control sds beyond the random mean, in the direction "
    "the mode predicts. PCR: |Δ p| / |Δ p on the unrelated task| (large = specific)."
)

Row = Mapping[str, str]


def _ci_cell(row: Row, name: str, spec: str) -> Cell:
    low, high = num(row.get(f"{name}_ci_low")), num(row.get(f"{name}_ci_high"))
    if low is None or high is None:
        return Cell("–")
    return Cell(f"[{fmt(low, spec)}, {fmt(high, spec)}]", low, "sig" if low > 0 or high < 0 else "")


def _before_after(row: Row, before: str, after: str) -> Cell:
    return Cell(f"{fmt(row.get(before), '.3f')} → {fmt(row.get(after), '.3f')}", num(row.get(after)))


def _beyond_cell(row: Row) -> Cell:
    beyond = num(row.get("beyond_random"))
    mode = MODES.get(row.get("mode", ""))
    mark = " ✓" if beyond is not None and mode is not None and mode.expected_sign * beyond > 2 else ""
    return Cell(fmt(beyond, "+.1f") + mark, beyond)


def _random_cell(row: Row) -> Cell:
    if not num(row.get("random_n")):
        return Cell("–")
    mean = num(row.get("random_delta_p_mean"))
    return Cell(f"{fmt(mean, '+.4f')} ± {fmt(row.get('random_delta_p_sd'), '.4f')}", mean)


def _main_cells(row: Row) -> list[Cell]:
    return [
        Cell(row.get("variant", "")),
        Cell(row.get("mode", "")),
        number_cell(row.get("n_steered"), ".0f", signed=False),
        _before_after(row, "accuracy_before", "accuracy_after"),
        number_cell(row.get("delta_accuracy")),
        _before_after(row, "p_before", "p_after"),
        number_cell(row.get("delta_p"), "+.4f"),
        _ci_cell(row, "delta_p", "+.4f"),
        number_cell(row.get("rcc"), "+.2f"),
        _random_cell(row),
        _beyond_cell(row),
        number_cell(row.get("unrelated_delta_p"), "+.4f"),
        number_cell(row.get("pcr"), ".1f", signed=False),
    ]


def _ablation_cells(row: Row) -> list[Cell]:
    return [
        Cell(task_name(row.get("task", ""))),
        Cell(row.get("variant", "")),
        Cell(row.get("mode", "")),
        number_cell(row.get("n_steered"), ".0f", signed=False),
        _before_after(row, "accuracy_before", "accuracy_after"),
        number_cell(row.get("delta_accuracy")),
        _before_after(row, "p_before", "p_after"),
        number_cell(row.get("delta_p"), "+.4f"),
        _ci_cell(row, "delta_p", "+.4f"),
    ]


def task_name(task: str) -> str:
    """A task as the tables name it: a ``.jsonl`` path by its file name."""
    return Path(task).name


def comparison_tables(rows: Sequence[Row]) -> list[Table]:
    """One table of every method per task (group ``main``), then one per ablation group."""
    tables = []
    tasks = list(dict.fromkeys(r.get("task", "") for r in rows if r.get("group") == "main"))
    for task in tasks:
        cells = [_main_cells(r) for r in rows if r.get("group") == "main" and r.get("task") == task]
        tables.append(Table(f"{task_name(task)}: methods", _MAIN_HEADER, cells, MAIN_CAPTION))
    groups = list(dict.fromkeys(r.get("group", "") for r in rows if r.get("group") != "main"))
    for group in groups:
        cells = [_ablation_cells(r) for r in rows if r.get("group") == group]
        tables.append(Table(f"Ablation: {group}", _ABLATION_HEADER, cells))
    return tables


__all__ = ["comparison_tables", "task_name"]
