"""``results.csv`` and ``pairwise.csv``: the comparison's rows and pairs as CSV, and read back as typed values.

``results.csv`` has one line per :class:`~neuronllm_tl.comparison.result_rows.ResultRow`: the columns of
:data:`COLUMNS`, where ``delta_accuracy`` and ``delta_p`` (and the before/after values) are means across split
seeds, ``*_ci_low``/``*_ci_high`` the paired 95% interval over the distinct held-out examples of every seed,
``seeds`` the split seeds and ``*_per_seed`` each seed's value (``;``-separated, in the order of ``seeds``),
and ``*_sd`` the sd across seeds (ddof 1; empty with one seed). ``pairwise.csv`` has one line per
:class:`~neuronllm_tl.comparison.pairwise.PairResult` (:data:`~neuronllm_tl.comparison.pairwise.PAIR_COLUMNS`).

The report (:mod:`neuronllm_tl.reporting`) renders a folder without a model: it reads both files back with
:func:`read_rows` and :func:`read_pairs` and builds the same tables as ``results.md``
(:mod:`neuronllm_tl.comparison.result_tables`). A CSV of an earlier version lacks some columns: they read as None.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from neuronllm_tl.comparison.intervals import CI_COLUMNS, ci_columns
from neuronllm_tl.comparison.pairwise import PAIR_COLUMNS, PairResult
from neuronllm_tl.comparison.result_rows import ResultRow
from neuronllm_tl.evaluation.statistics import Difference, Interval
from neuronllm_tl.steering.modes import MODES
from neuronllm_tl.tables import num

PER_SEED_COLUMNS = [
    "seeds",
    "n_steered_per_seed",
    "delta_accuracy_per_seed",
    "delta_accuracy_sd",
    "delta_p_per_seed",
    "delta_p_sd",
]
_ROW_COLUMNS = [
    "task",
    "group",
    "variant",
    "method",
    "mode",
    "n_steered",
    "accuracy_before",
    "accuracy_after",
    "delta_accuracy",
    "rac",
    "p_before",
    "p_after",
    "delta_p",
    "rcc",
    "random_delta_p_mean",
    "random_delta_p_sd",
    "random_n",
    "beyond_random",
    "unrelated_task",
    "unrelated_delta_p",
    "pcr",
]
UNRELATED_CI_COLUMNS = list(ci_columns(unrelated_delta_p=None))  # the names csv_fields writes
COLUMNS = [*_ROW_COLUMNS, *CI_COLUMNS, *UNRELATED_CI_COLUMNS, *PER_SEED_COLUMNS]
CsvRow = Mapping[str, str]


def csv_fields(r: ResultRow) -> dict[str, Any]:
    out = {k: v for k, v in asdict(r).items() if k in COLUMNS}
    for k in PER_SEED_COLUMNS:
        if isinstance(out[k], tuple):
            out[k] = ";".join(map(str, out[k]))
    intervals = ci_columns(
        delta_accuracy=r.delta_accuracy_ci, delta_p=r.delta_p_ci, unrelated_delta_p=r.unrelated_delta_p_ci
    )
    return out | intervals


def write_rows(rows: Iterable[ResultRow], path: Path) -> Path:
    return _write(path, COLUMNS, (csv_fields(r) for r in rows))


def write_pairs(pairs: Iterable[PairResult], path: Path) -> Path:
    return _write(path, PAIR_COLUMNS, (p.row() for p in pairs))


def _write(path: Path, columns: Sequence[str], lines: Iterable[Mapping[str, Any]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(lines)
    return path


_FLOATS = {f.name for f in fields(ResultRow) if "float" in str(f.type)}
_INTS = {"n_steered", "random_n"}


def _value(name: str, text: str | None) -> Any:
    if name in _INTS:
        return int(num(text) or 0)
    if name in _FLOATS:
        return num(text)
    return text or ("" if name in ("task", "group", "variant", "method", "mode") else None)


def _seq(text: str | None, kind: type) -> tuple[Any, ...]:
    return tuple(kind(float(x)) for x in (text or "").split(";") if x.strip())


def _interval(line: CsvRow, name: str, estimate: float) -> Interval | None:
    low, high = num(line.get(f"{name}_ci_low")), num(line.get(f"{name}_ci_high"))
    return None if low is None or high is None else Interval(estimate, low, high)


def read_rows(lines: Iterable[CsvRow]) -> list[ResultRow]:
    """The rows of ``results.csv`` (lines without a known mode are skipped: written by another version)."""
    out = []
    for line in lines:
        if line.get("mode") not in MODES:
            continue
        row = ResultRow(**{k: _value(k, line.get(k)) for k in _ROW_COLUMNS})
        row.delta_accuracy = row.delta_accuracy or 0.0
        row.delta_p = row.delta_p or 0.0
        row.delta_accuracy_ci = _interval(line, "delta_accuracy", row.delta_accuracy)
        row.delta_p_ci = _interval(line, "delta_p", row.delta_p)
        if row.unrelated_delta_p is not None:
            row.unrelated_delta_p_ci = _interval(line, "unrelated_delta_p", row.unrelated_delta_p)
        row.seeds = _seq(line.get("seeds"), int)
        row.n_steered_per_seed = _seq(line.get("n_steered_per_seed"), int)
        row.delta_accuracy_per_seed = _seq(line.get("delta_accuracy_per_seed"), float)
        row.delta_p_per_seed = _seq(line.get("delta_p_per_seed"), float)
        row.delta_accuracy_sd, row.delta_p_sd = num(line.get("delta_accuracy_sd")), num(line.get("delta_p_sd"))
        out.append(row)
    return out


def read_pairs(lines: Iterable[CsvRow]) -> list[PairResult]:
    """The pairs of ``pairwise.csv`` (an unreadable line, e.g. of a mode this version lacks, is skipped)."""
    out = []
    for line in lines:
        numbers = [num(line.get(k)) for k in ("a_delta_p", "b_delta_p", "difference", "ci_low", "ci_high", "p_value")]
        if None in numbers or line.get("mode") not in MODES:
            continue
        a_dp, b_dp, diff, low, high, p_value = (float(x) for x in numbers if x is not None)
        interval = Interval(diff, low, high, n=int(num(line.get("n")) or 0))
        seeds = _seq(line.get("seeds"), int)
        task, group, mode, a, b = (line.get(k) or "" for k in ("task", "group", "mode", "a", "b"))
        out.append(PairResult(task, group, mode, a, b, seeds, a_dp, b_dp, Difference(interval, p_value)))
    return out


__all__ = ["COLUMNS", "PER_SEED_COLUMNS", "csv_fields", "read_pairs", "read_rows", "write_pairs", "write_rows"]
