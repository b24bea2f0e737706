"""Who beats whom in a ``compare`` run, read from its ``pairwise.csv``: a compact table and every pair.

Each line of ``pairwise.csv`` (:data:`~neuronllm_tl.comparison.ranking.PAIR_COLUMNS`) is one pair of
variants of a task, group and mode: the mean difference of their per-example Δ p over distinct held-out
examples (each averaged over the split seeds that held it out), its paired 95% bootstrap interval, a
permutation p-value and the verdict. The compact table is :func:`~neuronllm_tl.comparison.ranking.standings`
of those lines, as in ``results.md``: per task, group and mode, the best variant and the others it beats or
ties with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from neuronllm_tl.comparison.ranking import PairResult, Standing, standings
from neuronllm_tl.evaluation.statistics import Difference, Interval
from neuronllm_tl.reporting.comparison_tables import task_name
from neuronllm_tl.reporting.tables import Cell, Table, fmt, num, number_cell
from neuronllm_tl.steering.modes import MODES

Row = Mapping[str, str]
PAIRS_HEADER = (
    "task", "group", "mode", "a", "b", "seeds", "examples", "Δ p a", "Δ p b", "a − b", "95% CI", "p-value", "verdict",
)  # fmt: skip
STANDINGS_HEADER = ("task", "group", "mode", "best (mean Δ p)", "beats: a − b [95% CI]", "ties: a − b [95% CI]")
CAPTION = (
    "Per task, group and mode, two variants' identified sets compared on the same held-out examples: the mean of "
    "the per-example difference of Δ p (a − b), its paired 95% bootstrap CI and a paired permutation p-value. The "
    "unit is the distinct example: an example held out under several split seeds counts once, its difference "
    "averaged over those seeds (examples: how many). A variant beats the other only when the CI excludes 0 on the "
    "side the mode predicts (lower Δ p for degrade and the silencing modes, higher for enhance); otherwise a tie."
)


def _pair(row: Row) -> PairResult | None:
    """A line of ``pairwise.csv`` as the comparison's own :class:`PairResult` (None: unreadable, e.g. a mode
    this version does not know)."""
    numbers = [num(row.get(k)) for k in ("a_delta_p", "b_delta_p", "difference", "ci_low", "ci_high", "p_value")]
    if None in numbers or row.get("mode") not in MODES:
        return None
    a_dp, b_dp, diff, low, high, p_value = (float(x) for x in numbers if x is not None)
    seeds = tuple(int(s) for s in (row.get("seeds") or "").split(";") if s.strip().isdigit())
    interval = Interval(diff, low, high, n=int(num(row.get("n")) or 0))
    return PairResult(
        row.get("task", ""), row.get("group", ""), row["mode"], row.get("a", ""), row.get("b", ""), seeds,
        a_dp, b_dp, Difference(interval, p_value),
    )  # fmt: skip


def _ci(p: PairResult) -> Cell:
    ci = p.difference.interval
    return Cell(ci.bounds("+.4f"), ci.low, "sig" if ci.excludes_zero else "")


def _pair_cells(p: PairResult) -> list[Cell]:
    ci = p.difference.interval
    return [
        Cell(task_name(p.task)),
        Cell(p.group),
        Cell(p.mode),
        Cell(p.a),
        Cell(p.b),
        Cell(", ".join(map(str, p.seeds))),
        Cell(str(ci.n), ci.n),
        number_cell(p.a_delta_p, "+.4f"),
        number_cell(p.b_delta_p, "+.4f"),
        number_cell(ci.estimate, "+.4f"),
        _ci(p),
        Cell(fmt(p.difference.p_value, ".4f"), p.difference.p_value),
        Cell(p.verdict, css="" if p.winner is None else "sig"),
    ]


def _versus(ps: Sequence[PairResult], prefix: str = "") -> list[str]:
    return [f"{prefix}{p.b} {p.difference.interval.format('+.4f')}" for p in ps]


def _standing_cells(s: Standing) -> list[Cell]:
    ties = _versus(s.ties) + _versus(s.beaten_by, "beaten by ")
    return [
        Cell(task_name(s.task)),
        Cell(s.group),
        Cell(s.mode),
        Cell(f"{s.best} ({s.best_delta_p:+.4f})", s.best_delta_p),
        Cell("; ".join(_versus(s.beats)) or "–", len(s.beats)),
        Cell("; ".join(ties) or "–", len(ties)),
    ]


def ranking_tables(rows: Sequence[Row]) -> list[Table]:
    """The compact who-beats-whom table, then every pair; none when ``pairwise.csv`` has no readable line."""
    pairs = [p for p in (_pair(r) for r in rows) if p is not None]
    if not pairs:
        return []
    compact = Table("Best per task and mode", STANDINGS_HEADER, [_standing_cells(s) for s in standings(pairs)])
    every = Table("Every pair", PAIRS_HEADER, [_pair_cells(p) for p in pairs], CAPTION)
    return [compact, every]


__all__ = ["CAPTION", "PAIRS_HEADER", "STANDINGS_HEADER", "ranking_tables"]
