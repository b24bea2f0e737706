"""Paired confidence intervals of a comparison cell, from the per-example values it stores.

A steered cell (:class:`~neuronllm_tl.comparison.cells.Cell`) holds, per held-out example, accuracy and
p(correct) before and after (each example's mean over its permutations; ``cell.measurement.per_example``),
and the example's content name (:func:`~neuronllm_tl.tasks.identity.example_ids`). Its Δ accuracy and Δ p get
a paired bootstrap interval over those examples (:func:`neuronllm_tl.evaluation.statistics.paired_ci`, 95%,
BCa, seed 0), and two cells measured on the same held-out split can be compared example by example
(:func:`compare_cells`: "A beats B" only when the interval of the difference excludes 0).

Several split seeds: the resampled unit is the distinct example. The seeds split the same examples, so
one example is usually held out under several seeds, and its (seed, example) values are not independent
draws: resampling them as if they were would make the interval too narrow. So each distinct example
(named by its content) is first reduced to one value, the mean over the seeds that held it out, of before
and of after (:func:`pooled_intervals`), or of the paired difference of two methods' Δ
(:func:`compare_seeds`); only then are the distinct examples resampled, by the same scipy helpers. The
interval is that of the mean over distinct examples of those per-example means; with equal split sizes it
is centred near, not exactly at, the mean across seeds that the tables show. Cells of several seeds
without example names (built by hand) cannot be clustered: their intervals are ``None``.

A cell written by an earlier version has no per-example values: it still loads, and its intervals are
``None`` (shown as "–"). It is not rescored, so that a rerun into an old folder recomputes nothing; a
fresh ``--out`` folder gives every row its intervals.

Example:
    >>> from neuronllm_tl.evaluation.measurement import measure
    >>> def degrade_cell(variant, neuron_set):
    ...     m = measure(model, task, nl.Steering.from_mode(neuron_set, "degrade"))
    ...     return Cell("steer", m, task="tiny", variant=variant, mode="degrade", neurons="identified")
    >>> neuronllm_cell = degrade_cell("neuronllm_gxa", neurons)
    >>> random_cell = degrade_cell("random", neurons.random_like(0))
    >>> acc_ci, p_ci = cell_intervals(neuronllm_cell)
    >>> p_ci.n, p_ci.low <= p_ci.estimate <= p_ci.high
    (12, True)
    >>> diff = compare_cells(neuronllm_cell, random_cell, "p")     # the interval of mean(Δp_a - Δp_b)
    >>> diff.beats(direction=-1) == (diff.interval.high < 0)       # degrade: lower Δp is better
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neuronllm_tl.comparison.cells import Cell, as_cell
from neuronllm_tl.evaluation.measurement import Metric
from neuronllm_tl.evaluation.statistics import Difference, Interval, paired_ci, paired_difference

CellLike = Cell | Mapping[str, Any]
"""A :class:`Cell`, or its dict (read by ``Cell.from_dict``)."""
CI_COLUMNS = ["delta_accuracy_ci_low", "delta_accuracy_ci_high", "delta_p_ci_low", "delta_p_ci_high"]
Labelled = tuple[Sequence[str] | None, np.ndarray, np.ndarray]
"""One cell's examples: their names (None: not named), and two paired values per example."""


def _pair(cell: Cell, metric: Metric) -> tuple[np.ndarray, np.ndarray] | None:
    per = cell.measurement.per_example
    if per is None or len(per) < 2:
        return None
    return per.pair(metric)


def example_names(cell: CellLike) -> list[str] | None:
    """The content names of the cell's held-out examples, in the order of its per-example values (None: a
    cell without them)."""
    names = as_cell(cell).example_names
    return None if names is None else list(names)


def per_example_deltas(cell: CellLike, metric: Metric) -> np.ndarray | None:
    """after minus before, per held-out example (None: a cell without per-example values)."""
    pair = _pair(as_cell(cell), metric)
    return None if pair is None else pair[1] - pair[0]


def by_example(parts: Sequence[Labelled]) -> tuple[np.ndarray, np.ndarray] | None:
    """Each distinct example's mean of x and of y over the parts (one per split seed) that hold it, in the
    order examples first appear. Unnamed examples: one part's values as they are; None for several parts."""
    if not parts:
        return None
    if len(parts) == 1 and parts[0][0] is None:
        return parts[0][1], parts[0][2]
    sums: dict[str, list[float]] = {}
    for names, x, y in parts:
        if names is None or len(names) != len(x):
            return None
        for name, xi, yi in zip(names, x, y, strict=True):
            acc = sums.setdefault(name, [0.0, 0.0, 0.0])
            acc[0], acc[1], acc[2] = acc[0] + float(xi), acc[1] + float(yi), acc[2] + 1
    means = np.array([(s[0] / s[2], s[1] / s[2]) for s in sums.values()], dtype=np.float64)
    return means[:, 0], means[:, 1]


def cell_intervals(cell: CellLike) -> tuple[Interval | None, Interval | None]:
    """Paired 95% intervals of the cell's Δ accuracy and Δ p (None without per-example values)."""
    return as_cell(cell).measurement.intervals()


def _labelled(cell: Cell, metric: Metric) -> Labelled | None:
    pair = _pair(cell, metric)
    if pair is None:
        return None
    return example_names(cell), pair[0], pair[1]


def pooled_intervals(cells: Sequence[CellLike]) -> tuple[Interval | None, Interval | None]:
    """Paired 95% intervals of Δ accuracy and Δ p over the distinct held-out examples of ``cells`` (one per
    split seed), each example's before and after first averaged over the seeds that held it out; None when a
    cell has no per-example values, or several cells do not name their examples. One cell: :func:`cell_intervals`."""
    typed = [as_cell(c) for c in cells]
    out: list[Interval | None] = []
    metrics: tuple[Metric, Metric] = ("accuracy", "p")
    for metric in metrics:
        parts = [_labelled(c, metric) for c in typed]
        values = by_example([p for p in parts if p is not None]) if None not in parts else None
        out.append(None if values is None or len(values[0]) < 2 else paired_ci(*values))
    return out[0], out[1]


def _paired_deltas(a: CellLike, b: CellLike, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_cell(a), as_cell(b)
    if (a.eval_task, a.split_seed) != (b.eval_task, b.split_seed):
        raise ValueError(
            f"cells measured on different splits ({[a.eval_task, a.split_seed]}, {[b.eval_task, b.split_seed]})."
        )
    da, db = per_example_deltas(a, metric), per_example_deltas(b, metric)
    if da is None or db is None:
        raise ValueError("a cell has no per-example values (written by an earlier version): rerun it.")
    if da.shape != db.shape:
        raise ValueError(f"cells of one split with {len(da)} and {len(db)} examples: they cannot be paired.")
    names_a, names_b = example_names(a), example_names(b)
    if names_a is not None and names_b is not None and names_a != names_b:
        raise ValueError("cells of one split hold different examples (their example names differ).")
    return da, db


def compare_cells(a: CellLike, b: CellLike, metric: Metric = "p") -> Difference:
    """Cell a against cell b on the same held-out examples: the interval of mean(Δa - Δb) and a p-value."""
    return paired_difference(*_paired_deltas(a, b, metric))


def common_seeds(a: Mapping[int, CellLike], b: Mapping[int, CellLike]) -> list[int]:
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"no split seed in common (seeds {sorted(a)} and {sorted(b)}).")
    return seeds


def compare_seeds(a: Mapping[int, CellLike], b: Mapping[int, CellLike], metric: Metric = "p") -> Difference:
    """Two methods' cells by split seed, paired by seed and by held-out example within a seed, over the seeds
    both have; each distinct example's Δa and Δb are averaged over those seeds that held it out, and the
    interval of mean(Δa - Δb) and the permutation p-value are over distinct examples."""
    seeds = common_seeds(a, b)
    parts = [(example_names(a[s]), *_paired_deltas(a[s], b[s], metric)) for s in seeds]
    values = by_example(parts)
    if values is None:
        raise ValueError(f"cells of split seeds {seeds} do not name their examples: they cannot be pooled.")
    return paired_difference(*values)


def example_mean_delta(by_seed: Mapping[int, CellLike], seeds: Sequence[int], metric: Metric = "p") -> float:
    """The mean over distinct held-out examples of each example's Δ averaged over ``seeds`` that held it out
    (the estimate :func:`compare_seeds` takes the difference of)."""
    parts = [_labelled(as_cell(by_seed[s]), metric) for s in seeds]
    values = by_example([p for p in parts if p is not None]) if None not in parts else None
    if values is None:
        raise ValueError(f"cells of split seeds {list(seeds)} lack per-example values or example names.")
    return float(np.mean(values[1] - values[0]))


def ci_columns(**intervals: Interval | None) -> dict[str, float | None]:
    """The CSV columns ``{name}_ci_low`` and ``{name}_ci_high`` of each named interval (empty where there is none)."""
    out: dict[str, float | None] = {}
    for name, ci in intervals.items():
        out[f"{name}_ci_low"] = None if ci is None else ci.low
        out[f"{name}_ci_high"] = None if ci is None else ci.high
    return out


__all__ = [
    "CI_COLUMNS",
    "by_example",
    "cell_intervals",
    "ci_columns",
    "common_seeds",
    "compare_cells",
    "compare_seeds",
    "example_mean_delta",
    "example_names",
    "per_example_deltas",
    "pooled_intervals",
]
