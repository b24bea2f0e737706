"""Who beats whom: every pair of methods of a task, group and mode, compared on the same held-out examples.

Two variants' identified sets are compared by the per-example Δ p(correct) (after minus before) of their
target cells, paired by split seed and by held-out example within a seed
(:func:`~neuronllm_tl.comparison.intervals.compare_seeds`). The unit is the distinct example: one example
is usually held out under several seeds, so each example's difference Δp_a - Δp_b is first averaged over
the seeds (both variants have) that held it out, and the paired 95% bootstrap interval of the mean
difference and the paired permutation p-value (:func:`~neuronllm_tl.evaluation.statistics.paired_difference`)
resample distinct examples (``n`` in ``pairwise.csv``). ``a_delta_p`` and ``b_delta_p`` are the same kind of
mean (over distinct examples of each example's mean Δ p over those seeds), so that
``difference = a_delta_p - b_delta_p``; they can differ a little from the tables' mean across seeds.
A variant **beats** another only when that interval excludes 0 on the side the mode predicts
(:data:`~neuronllm_tl.steering.modes.MODES`' ``expected_sign``: up for enhance, down for degrade, ...);
otherwise the two **tie**. The p-value is reported beside it, not used for the verdict.

:func:`standings` keeps it compact: per task, group and mode, the best variant (the largest mean Δ p in
the expected direction) and the others it beats or ties with.

Example:
    >>> from neuronllm_tl.evaluation.measurement import measure
    >>> cells = [
    ...     Cell("steer", measure(model, task, nl.Steering.from_mode(s, "degrade")), task="tiny", variant=v,
    ...          group="main", mode="degrade", neurons="identified")
    ...     for v, s in [("neuronllm_gxa", neurons), ("random", neurons.random_like(0))]
    ... ]
    >>> pairs = pairwise(cells)                        # every pair of variants of a task, group and mode
    >>> [(p.task, p.mode, p.a, p.b) for p in pairs]    # p.verdict: "tie", or "<a> beats <b>"
    [('tiny', 'degrade', 'neuronllm_gxa', 'random')]
    >>> s = standings(pairs)[0]                        # the best by mean Δ p, and the others it beats or ties with
    >>> sorted([s.best, *(p.b for p in s.beats + s.ties + s.beaten_by)])
    ['neuronllm_gxa', 'random']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from neuronllm_tl.comparison.cells import Cell, as_cells
from neuronllm_tl.comparison.intervals import compare_seeds, example_mean_delta
from neuronllm_tl.evaluation.statistics import Difference
from neuronllm_tl.steering.modes import MODES

PAIR_COLUMNS = [
    "task",
    "group",
    "mode",
    "a",
    "b",
    "seeds",
    "n",
    "a_delta_p",
    "b_delta_p",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "verdict",
]


@dataclass(frozen=True)
class PairResult:
    """Variant a against variant b: ``difference`` is that of mean(Δp_a - Δp_b) over distinct held-out examples
    (each averaged over the seeds that held it out)."""

    task: str
    group: str
    mode: str
    a: str
    b: str
    seeds: tuple[int, ...]
    a_delta_p: float
    b_delta_p: float
    difference: Difference

    @property
    def winner(self) -> str | None:
        """a or b when it beats the other in the mode's expected direction; None: a tie."""
        sign = MODES[self.mode].expected_sign
        if self.difference.beats(sign):
            return self.a
        return self.b if self.difference.beats(-sign) else None

    @property
    def verdict(self) -> str:
        winner = self.winner
        if winner is None:
            return "tie"
        return f"{self.a} beats {self.b}" if winner == self.a else f"{self.b} beats {self.a}"

    def flipped(self) -> PairResult:
        """The same comparison seen from b: the interval of mean(Δp_b - Δp_a)."""
        ci = self.difference.interval
        neg = replace(ci, estimate=-ci.estimate, low=-ci.high, high=-ci.low)
        return replace(
            self,
            a=self.b,
            b=self.a,
            a_delta_p=self.b_delta_p,
            b_delta_p=self.a_delta_p,
            difference=replace(self.difference, interval=neg),
        )

    def row(self) -> dict[str, Any]:
        ci = self.difference.interval
        return {
            "task": self.task,
            "group": self.group,
            "mode": self.mode,
            "a": self.a,
            "b": self.b,
            "seeds": ";".join(map(str, self.seeds)),
            "n": ci.n,
            "a_delta_p": self.a_delta_p,
            "b_delta_p": self.b_delta_p,
            "difference": ci.estimate,
            "ci_low": ci.low,
            "ci_high": ci.high,
            "p_value": self.difference.p_value,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Standing:
    """One task, group and mode: the best variant, and its comparison with every other (best as ``a``)."""

    task: str
    group: str
    mode: str
    best: str
    best_delta_p: float
    beats: tuple[PairResult, ...]
    ties: tuple[PairResult, ...]
    beaten_by: tuple[PairResult, ...] = ()
    """Only when the seeds two variants share differ from the rest: the best by mean loses a pair."""


Cells = dict[str, dict[int, Cell]]
"""variant -> split seed -> its identified target cell."""


def _by_comparison(cells: Iterable[Cell]) -> dict[tuple[str, str, str], Cells]:
    out: dict[tuple[str, str, str], Cells] = {}
    for c in cells:
        if c.is_identified_target():
            by_variant = out.setdefault((c.task, c.group, c.mode), {})
            by_variant.setdefault(c.variant, {})[c.split_seed] = c
    return out


def _usable(by_seed: dict[int, Cell]) -> bool:
    """Every cell has per-example values, and names its examples when there are several seeds to pool."""
    values = all(c.per_example_deltas("p") is not None for c in by_seed.values())
    return values and (len(by_seed) == 1 or all(c.example_names is not None for c in by_seed.values()))


def pairwise(cells: Iterable[Cell | Mapping[str, Any]]) -> list[PairResult]:
    """Every pair of variants of each (task, group, mode), on the split seeds both have; variants whose cells
    lack per-example values (written by an earlier version) or, over several seeds, example names are left out."""
    out = []
    for (task, group, mode), variants in _by_comparison(as_cells(cells)).items():
        usable = {v: by_seed for v, by_seed in variants.items() if _usable(by_seed)}
        names = list(usable)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                seeds = sorted(set(usable[a]) & set(usable[b]))
                if not seeds:
                    continue
                diff = compare_seeds(usable[a], usable[b], "p")
                mean_a, mean_b = example_mean_delta(usable[a], seeds), example_mean_delta(usable[b], seeds)
                out.append(PairResult(task, group, mode, a, b, tuple(seeds), mean_a, mean_b, diff))
    return out


SELECTION_GROUPS = ("mask", "aggregation", "z", "attribution", "objective")
"""The sweeps of NeuronLLM's settings that :func:`selection_pairs` puts beside every method (issue #24 item 5)."""


def selection_pairs(cells: Iterable[Cell | Mapping[str, Any]]) -> list[PairResult]:
    """Per task and mode, every method (group ``main``) and every setting of the :data:`SELECTION_GROUPS` against
    each other, as one group ``selection``: which way of identifying neurons moves p(correct) most, whatever
    its kind. Only tasks the sweeps ran on. Variants whose cells are the same measurements (a sweep's paper
    setting is the main grad x act variant) are compared once, under their names joined by " = "."""
    typed = [c for c in as_cells(cells) if c.is_identified_target()]
    tasks = {c.task for c in typed if c.group in SELECTION_GROUPS}
    chosen = [c for c in typed if c.task in tasks and c.group in ("main", *SELECTION_GROUPS)]
    names = _names_of_same_measurements(chosen)
    relabelled = [
        c.with_labels(group="selection", variant=names[c.task, c.mode, c.variant])
        for c in chosen
        if (c.task, c.mode, c.variant) in names
    ]
    return pairwise(relabelled)


def _names_of_same_measurements(cells: list[Cell]) -> dict[tuple[str, str, str], str]:
    """(task, mode, variant) -> its name in the selection group, for one variant of each set of variants whose
    cells have the same content keys under every seed both have (a partial grid may hold fewer seeds of one):
    the one with the most seeds, named by all of them; the others are left out."""
    keys: dict[tuple[str, str], dict[str, dict[int | None, str]]] = {}
    for c in cells:
        key = c.key or f"unkeyed {c.variant}"  # cells without a content key are never taken for the same
        keys.setdefault((c.task, c.mode), {}).setdefault(c.variant, {})[c.split_seed] = key
    names: dict[tuple[str, str, str], str] = {}
    for (task, mode), by_variant in keys.items():
        groups: list[list[str]] = []
        for variant, seeds in by_variant.items():
            same = next((g for g in groups if _same(by_variant[g[0]], seeds)), None)
            if same is None:
                groups.append([variant])
            else:
                same.append(variant)
        for group in groups:
            kept = max(group, key=lambda v: len(by_variant[v]))  # the first of the most seeds
            names[task, mode, kept] = " = ".join(group)
    return names


def _same(a: Mapping[int | None, str], b: Mapping[int | None, str]) -> bool:
    common = a.keys() & b.keys()
    return bool(common) and all(a[s] == b[s] for s in common)


def standings(pairs: Iterable[PairResult]) -> list[Standing]:
    """Per (task, group, mode): the variant with the largest mean Δ p in the mode's expected direction, and
    which of the others it beats (interval of the difference excludes 0) or ties with."""
    grouped: dict[tuple[str, str, str], list[PairResult]] = {}
    for p in pairs:
        grouped.setdefault((p.task, p.group, p.mode), []).append(p)
    out = []
    for (task, group, mode), ps in grouped.items():
        means: dict[str, float] = {}
        for p in ps:
            means.setdefault(p.a, p.a_delta_p)
            means.setdefault(p.b, p.b_delta_p)
        best = max(means, key=lambda v: MODES[mode].expected_sign * means[v])
        mine = [p if p.a == best else p.flipped() for p in ps if best in (p.a, p.b)]
        beats = tuple(p for p in mine if p.winner == best)
        ties = tuple(p for p in mine if p.winner is None)
        lost = tuple(p for p in mine if p.winner == p.b)
        out.append(Standing(task, group, mode, best, means[best], beats, ties, lost))
    return out


__all__ = ["PAIR_COLUMNS", "SELECTION_GROUPS", "PairResult", "Standing", "pairwise", "selection_pairs", "standings"]
