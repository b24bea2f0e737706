"""Paired confidence intervals of a comparison cell, from the per-example values it stores.

A steered cell holds, per held-out example, accuracy and p(correct) before and after (each example's
mean over its permutations; ``cell["per_example"]``). Its Δ accuracy and Δ p get a paired bootstrap
interval over those examples (:func:`neuronllm_tl.evaluation.statistics.paired_ci`, 95%, BCa, seed 0),
and two cells measured on the same held-out split can be compared example by example
(:func:`compare_cells`: "A beats B" only when the interval of the difference excludes 0).

A cell written by an earlier version has no per-example values: it still loads, and its intervals are
``None`` (shown as "–"). It is not rescored, so that a rerun into an old folder recomputes nothing; a
fresh ``--out`` folder gives every row its intervals.

Example:
    >>> acc_ci, p_ci = cell_intervals(cell)
    >>> compare_cells(neuronllm_cell, kn_cell, "p").beats(direction=-1)   # degrade: lower Δp is better
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from neuronllm_tl.evaluation.statistics import Difference, Interval, paired_ci, paired_difference

Metric = Literal["accuracy", "p"]
CI_COLUMNS = ["delta_accuracy_ci_low", "delta_accuracy_ci_high", "delta_p_ci_low", "delta_p_ci_high"]


def _pair(cell: dict[str, Any], metric: Metric) -> tuple[list[float], list[float]] | None:
    values = cell.get("per_example")
    if not values or len(values[f"{metric}_before"]) < 2:
        return None
    return values[f"{metric}_before"], values[f"{metric}_after"]


def per_example_deltas(cell: dict[str, Any], metric: Metric) -> np.ndarray | None:
    """after minus before, per held-out example (None: a cell without per-example values)."""
    pair = _pair(cell, metric)
    return None if pair is None else np.asarray(pair[1], dtype=np.float64) - np.asarray(pair[0], dtype=np.float64)


def cell_intervals(cell: dict[str, Any]) -> tuple[Interval | None, Interval | None]:
    """Paired 95% intervals of the cell's Δ accuracy and Δ p (None without per-example values)."""
    acc, p = _pair(cell, "accuracy"), _pair(cell, "p")
    return (None if acc is None else paired_ci(*acc)), (None if p is None else paired_ci(*p))


def compare_cells(a: dict[str, Any], b: dict[str, Any], metric: Metric = "p") -> Difference:
    """Cell a against cell b on the same held-out examples: the interval of mean(Δa - Δb) and a p-value."""
    if a.get("eval_task") != b.get("eval_task"):
        raise ValueError(f"cells measured on different splits ({a.get('eval_task')} and {b.get('eval_task')}).")
    da, db = per_example_deltas(a, metric), per_example_deltas(b, metric)
    if da is None or db is None:
        raise ValueError("a cell has no per-example values (written by an earlier version): rerun it.")
    return paired_difference(da, db)


def ci_columns(delta_accuracy_ci: Interval | None, delta_p_ci: Interval | None) -> dict[str, float | None]:
    """The CSV columns of a row's two intervals (empty where there is none)."""
    out: dict[str, float | None] = {}
    for name, ci in (("delta_accuracy", delta_accuracy_ci), ("delta_p", delta_p_ci)):
        out[f"{name}_ci_low"] = None if ci is None else ci.low
        out[f"{name}_ci_high"] = None if ci is None else ci.high
    return out


__all__ = ["CI_COLUMNS", "cell_intervals", "ci_columns", "compare_cells", "per_example_deltas"]
