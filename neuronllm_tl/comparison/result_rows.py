"""The rows of a comparison: one per (task, variant, mode), computed from its cells over every split seed.

All changes are signed, after minus before, on the held-out split of each split seed:

* ``delta_accuracy``, ``delta_p``: the change of accuracy and of mean p(correct) (option softmax), as the
  mean across split seeds; ``delta_accuracy_per_seed``/``delta_p_per_seed`` hold each seed's value (in the
  order of ``seeds``), and ``delta_accuracy_sd``/``delta_p_sd`` their sd across seeds (ddof 1; None with
  one seed). ``accuracy_before``, ``p_before``, ... are means across seeds too, and ``n_steered`` is the
  fewest neurons steered under any seed (``n_steered_per_seed``: each seed's);
* ``rac`` = delta_accuracy / accuracy_before and ``rcc`` = delta_p / p_before: the relative accuracy
  change and relative change of p(correct). These are our reading of the NeuronLLM paper's RAC and
  RCC, whose exact definitions are not public; unlike the paper's tables they keep their sign;
* ``random_delta_p`` (mean ± sd over every control set of every split seed): the same mode on random sets
  with the same per-layer counts; ``beyond_random`` = (delta_p - random mean) / random sd, in control sds;
* ``unrelated_delta_p``: the identified set's delta_p on an unrelated task's held-out split (mean across
  seeds), and ``pcr`` = abs(delta_p) / abs(unrelated_delta_p), QRNCA's probability change ratio
  (large = specific);
* ``delta_accuracy_ci``, ``delta_p_ci``: paired 95% bootstrap intervals over the *distinct* held-out
  examples of all split seeds, each example's before and after first averaged over the seeds that held it
  out (one example is usually held out under several seeds, and its values under those seeds are not
  independent; :func:`~neuronllm_tl.comparison.intervals.pooled_intervals`; with one seed, over its
  examples). The interval is that of the mean over distinct examples of those per-example means, which can
  differ a little from ``delta_*`` (the mean across seeds); ``Interval.n`` counts the distinct examples.
  None ("–") for a cell written by an earlier version.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuronllm_tl.comparison.cells import Cell, as_cells
from neuronllm_tl.comparison.intervals import pooled_intervals
from neuronllm_tl.evaluation.statistics import Interval
from neuronllm_tl.steering.modes import MODES

MIN_CONTROLS = 3
"""Fewer random sets than this make no "beyond random" verdict: an sd of one or two sets says nothing."""

RowKey = tuple[str, str, str, str, str]
"""(task, group, variant, method, mode)."""


@dataclass
class ResultRow:
    task: str
    group: str
    variant: str
    method: str
    mode: str
    n_steered: int
    accuracy_before: float
    accuracy_after: float
    delta_accuracy: float
    rac: float | None
    p_before: float
    p_after: float
    delta_p: float
    rcc: float | None
    random_delta_p_mean: float | None = None
    random_delta_p_sd: float | None = None
    random_n: int = 0
    beyond_random: float | None = None
    unrelated_task: str | None = None
    unrelated_delta_p: float | None = None
    pcr: float | None = None
    delta_accuracy_ci: Interval | None = None
    delta_p_ci: Interval | None = None
    unrelated_delta_p_ci: Interval | None = None
    """The paired 95% interval of ``unrelated_delta_p`` (as ``delta_p_ci``): whether the unrelated task moved."""
    seeds: tuple[int, ...] = ()
    n_steered_per_seed: tuple[int, ...] = ()
    delta_accuracy_per_seed: tuple[float, ...] = ()
    delta_p_per_seed: tuple[float, ...] = ()
    delta_accuracy_sd: float | None = None
    delta_p_sd: float | None = None

    @property
    def as_expected(self) -> bool:
        """p(correct) moved in the direction the mode predicts, by more than 2 control sds (of at least
        :data:`MIN_CONTROLS` random sets)."""
        return not self.too_few_controls and self._beyond_in_direction

    @property
    def too_few_controls(self) -> bool:
        return 0 < self.random_n < MIN_CONTROLS

    @property
    def _beyond_in_direction(self) -> bool:
        return self.beyond_random is not None and MODES[self.mode].expected_sign * self.beyond_random > 2

    @property
    def beyond_mark(self) -> str:
        """ " ✓" beside the control sds when the verdict holds; a warning instead when too few sets made it."""
        if self.too_few_controls:
            return f" (only {self.random_n} random sets: no verdict)"
        return " ✓" if self.as_expected else ""


def across_seeds_sd(values: Sequence[float]) -> float | None:
    """The sd across split seeds (ddof 1), None with a single seed."""
    return statistics.stdev(values) if len(values) > 1 else None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _identified_row(key: RowKey, by_seed: dict[int, Cell]) -> ResultRow:
    seeds = sorted(by_seed)
    cells = [by_seed[s] for s in seeds]
    ms = [c.measurement for c in cells]
    da, dp = [m.delta("accuracy") for m in ms], [m.delta("p") for m in ms]
    acc_before, p_before = statistics.fmean(m.accuracy_before for m in ms), statistics.fmean(m.p_before for m in ms)
    acc_after, p_after = statistics.fmean(m.accuracy_after for m in ms), statistics.fmean(m.p_after for m in ms)
    n_steered = tuple(m.n_steered for m in ms)
    row = ResultRow(
        *key,
        min(n_steered),
        acc_before,
        acc_after,
        statistics.fmean(da),
        _ratio(statistics.fmean(da), acc_before),
        p_before,
        p_after,
        statistics.fmean(dp),
        _ratio(statistics.fmean(dp), p_before),
        seeds=tuple(seeds),
        n_steered_per_seed=n_steered,
        delta_accuracy_per_seed=tuple(da),
        delta_p_per_seed=tuple(dp),
        delta_accuracy_sd=across_seeds_sd(da),
        delta_p_sd=across_seeds_sd(dp),
    )
    row.delta_accuracy_ci, row.delta_p_ci = pooled_intervals(cells)
    return row


def _add_controls(row: ResultRow, randoms: list[float]) -> None:
    if not randoms:
        return
    row.random_n = len(randoms)
    row.random_delta_p_mean = statistics.fmean(randoms)
    row.random_delta_p_sd = statistics.stdev(randoms) if len(randoms) > 1 else 0.0
    if row.random_delta_p_sd:
        row.beyond_random = (row.delta_p - row.random_delta_p_mean) / row.random_delta_p_sd


def _add_unrelated(row: ResultRow, unrelated: dict[int, Cell]) -> None:
    if not unrelated:
        return
    first = unrelated[min(unrelated)]
    row.unrelated_task = first.eval_task.removesuffix(":evaluate")
    row.unrelated_delta_p = statistics.fmean(u.delta("p") for u in unrelated.values())
    row.unrelated_delta_p_ci = pooled_intervals(list(unrelated.values()))[1]
    row.pcr = abs(row.delta_p) / abs(row.unrelated_delta_p) if row.unrelated_delta_p else math.inf


def rows_from_cells(cells: Iterable[Cell | Mapping[str, Any]]) -> list[ResultRow]:
    """One row per (task, group, variant, method, mode) that has an identified, target cell."""
    groups: dict[RowKey, dict[str, list[Cell]]] = {}
    for c in as_cells(cells):
        if c.kind != "steer":
            continue
        key = (c.task, c.group, c.variant, c.method, c.mode)
        slot = "unrelated" if c.eval == "unrelated" else c.neurons
        groups.setdefault(key, {}).setdefault(slot, []).append(c)
    rows = []
    for key, slots in groups.items():
        if "identified" not in slots:
            continue
        row = _identified_row(key, {c.split_seed: c for c in slots["identified"]})
        _add_controls(row, [r.delta("p") for r in slots.get("random", [])])
        _add_unrelated(row, {u.split_seed: u for u in slots.get("unrelated", [])})
        rows.append(row)
    return rows


__all__ = ["MIN_CONTROLS", "ResultRow", "across_seeds_sd", "rows_from_cells"]
