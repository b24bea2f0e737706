"""The tables of a comparison, built once from typed rows: one per task, one per sweep, the summary
over tasks, who beats whom, and every pair. ``results.md`` writes them with :meth:`Table.to_markdown`; the HTML
report lays out the same :class:`~neuronllm_tl.tables.Table` values (read back from the run's CSVs), so the two
views carry the same columns and numbers.

With several split seeds, Δ acc. and Δ p read "mean ± sd" across seeds, with each seed's value beside them;
with one seed, the value alone (no sd, no per-seed column).

Example:
    >>> rows = [r for r in result.rows if default_task_name(r.task) == "tiny" and r.group == "main"]
    >>> table = main_table(rows)                  # result: a small grid on the tiny task, one split seed
    >>> table.header[:4]
    ['method', 'mode', 'neurons steered', 'acc. before → after']
    >>> [(row[0].text, row[1].text) for row in table.rows][:3]
    [('neuronllm_gxa', 'enhance'), ('neuronllm_gxa', 'degrade'), ('neuronllm_gxa', 'excite_good')]
    >>> print(table.to_markdown())
    | method | mode | neurons steered | acc. before → after | Δ acc. | RAC | p before → after | Δ p | Δ p 95% CI | ...
    |---|---|---|---|---|---|---|---|---|---|---|---|---|---|
    | neuronllm_gxa | enhance | 8 | ...
    ...
    | random | silence_good | 4 | ...
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from neuronllm_tl.comparison.pairwise import PairResult, Standing, standings
from neuronllm_tl.comparison.result_rows import ResultRow
from neuronllm_tl.tables import Cell, Table, fmt, number_cell
from neuronllm_tl.tasks.registry import default_task_name

_STEERING = ("neurons steered", "acc. before → after", "Δ acc.", "RAC", "p before → after", "Δ p", "Δ p 95% CI", "RCC")
MAIN_HEADER = (
    "method",
    "mode",
    *_STEERING,
    "random Δ p (mean ± sd)",
    "beyond random (sd)",
    "unrelated Δ p",
    "PCR",
)
ABLATION_HEADER = ("task", "setting", "mode", *_STEERING)
SPECIFICITY_HEADER = ("unrelated Δ p", "PCR")
"""A sweep table's last columns where its settings were also measured on the unrelated task (issue #14's
selection groups); the reviewers' groups (objective, k, ...) are not."""
SUMMARY_HEADER: tuple[str, ...] = ("method", "mode", "tasks", "mean Δ p")
SUMMARY_HEADER += ("tasks beyond 2 sd of random, expected direction", "median PCR")
STANDINGS_HEADER = ("task", "group", "mode", "best (mean Δ p)", "beats: a − b [95% CI]", "ties: a − b [95% CI]")
PAIRS_HEADER: tuple[str, ...] = ("task", "group", "mode", "a", "b", "seeds", "examples", "Δ p a", "Δ p b")
PAIRS_HEADER += ("a − b", "95% CI", "p-value", "verdict")
SEED_COLUMNS = {"Δ acc.": "Δ acc. per seed", "Δ p": "Δ p per seed"}
"""With several seeds: each of these columns reads "mean ± sd" and is followed by its per-seed column."""
MAIN_CAPTION = (
    "Δ: after minus before, on the held-out split. CI: paired 95% bootstrap over held-out examples (bold: excludes 0; "
    "–: a cell from an earlier version). ✓: Δ p is more than 2 control sds beyond the random mean, in the direction "
    "the mode predicts (needs 3 or more random sets). RAC = Δ acc. / acc. before and RCC = Δ p / p before (relative "
    "changes, signed). Unrelated Δ p: the identified set's Δ p on the unrelated task, with its CI. PCR: |Δ p| / "
    "|unrelated Δ p| (large = specific; where the unrelated CI holds 0, read it as large but not precise). Neurons "
    "steered: per set (a range when the split seeds' sets differ in size)."
)
SEEDS_CAPTION = (
    " Several split seeds: every cell ran once per seed (its own split, neurons and controls); Δ is the mean ± sd "
    "across seeds, then each seed's value, n the fewest neurons steered under any seed. The CI resamples distinct "
    "held-out examples: an example held out under several seeds counts once, its before and after averaged over "
    "those seeds (so the CI is centred near, not exactly at, the mean across seeds)."
)
PAIRS_CAPTION = (
    "Per task, group and mode, two variants' identified sets compared on the same held-out examples: the mean of "
    "the per-example difference of Δ p (a − b), its paired 95% bootstrap CI and a paired permutation p-value. The "
    "unit is the distinct example: an example held out under several split seeds counts once, its difference "
    "averaged over those seeds (examples: how many). A variant beats the other only when the CI excludes 0 on the "
    "side the mode predicts (lower Δ p for degrade and the silencing modes, higher for enhance); otherwise a tie."
)


def _several(rows: Sequence[ResultRow]) -> bool:
    return any(len(r.seeds) > 1 for r in rows)


def _header(header: Sequence[str], several: bool) -> list[str]:
    out: list[str] = []
    for h in header:
        out += [f"{h} (mean ± sd)", SEED_COLUMNS[h]] if several and h in SEED_COLUMNS else [h]
    return out


def _delta(mean: float, sd: float | None, per_seed: Sequence[float], spec: str, several: bool) -> list[Cell]:
    cell = number_cell(mean, spec)
    if not several:
        return [cell]
    text = f"{cell.text} ± {fmt(sd, spec.lstrip('+'))}"
    return [Cell(text, cell.sort, cell.css), Cell(", ".join(fmt(x, spec) for x in per_seed) or "–")]


def _n(r: ResultRow) -> Cell:
    counts = r.n_steered_per_seed or (r.n_steered,)
    low, high = min(counts), max(counts)
    return Cell(str(low) if low == high else f"{low}–{high}", low)


def _ci(r: ResultRow) -> Cell:
    ci = r.delta_p_ci
    return Cell("–") if ci is None else Cell(ci.bounds("+.4f"), ci.low, "sig" if ci.excludes_zero else "")


def _unrelated(r: ResultRow) -> Cell:
    """The unrelated task's Δ p with its interval: a PCR over a Δ p whose interval holds 0 has no precise value."""
    cell, ci = number_cell(r.unrelated_delta_p, "+.4f"), r.unrelated_delta_p_ci
    return cell if ci is None else Cell(f"{cell.text} {ci.bounds('+.4f')}", cell.sort, cell.css)


def _steering(r: ResultRow, several: bool) -> list[Cell]:
    """Neurons steered and the steering's effect: the columns the main and sweep tables share."""
    return [
        _n(r),
        Cell(f"{r.accuracy_before:.3f} → {r.accuracy_after:.3f}", r.accuracy_after),
        *_delta(r.delta_accuracy, r.delta_accuracy_sd, r.delta_accuracy_per_seed, "+.3f", several),
        number_cell(r.rac, "+.2f"),
        Cell(f"{r.p_before:.3f} → {r.p_after:.3f}", r.p_after),
        *_delta(r.delta_p, r.delta_p_sd, r.delta_p_per_seed, "+.4f", several),
        _ci(r),
        number_cell(r.rcc, "+.2f"),
    ]


def _main_cells(r: ResultRow, several: bool) -> list[Cell]:
    rand = f"{fmt(r.random_delta_p_mean, '+.4f')} ± {fmt(r.random_delta_p_sd, '.4f')}" if r.random_n else "–"
    return [
        Cell(r.variant),
        Cell(r.mode),
        *_steering(r, several),
        Cell(rand, r.random_delta_p_mean if r.random_n else None),
        Cell(fmt(r.beyond_random, "+.1f") + r.beyond_mark, r.beyond_random),
        *_specificity(r),
    ]


def _specificity(r: ResultRow) -> list[Cell]:
    return [_unrelated(r), number_cell(r.pcr, ".1f", signed=False)]


def main_table(rows: Sequence[ResultRow], title: str = "") -> Table:
    several = _several(rows)
    caption = MAIN_CAPTION + (SEEDS_CAPTION if several else "")
    return Table(title, _header(MAIN_HEADER, several), [_main_cells(r, several) for r in rows], caption)


def sweep_table(rows: Sequence[ResultRow], title: str = "") -> Table:
    """One group's settings on every task it ran on, with their specificity where it was measured."""
    several = _several(rows)
    specific = any(r.unrelated_delta_p is not None for r in rows)
    header = _header((*ABLATION_HEADER, *(SPECIFICITY_HEADER if specific else ())), several)
    cells = [
        [Cell(default_task_name(r.task)), Cell(r.variant), Cell(r.mode), *_steering(r, several)]
        + (_specificity(r) if specific else [])
        for r in rows
    ]
    return Table(title, header, cells)


def comparison_tables(rows: Sequence[ResultRow]) -> list[Table]:
    """One table of every method per task (group ``main``), then one per sweep."""
    main = [r for r in rows if r.group == "main"]
    tasks = list(dict.fromkeys(r.task for r in main))
    groups = list(dict.fromkeys(r.group for r in rows if r.group != "main"))
    by_task = [main_table([r for r in main if r.task == t], f"{default_task_name(t)}: methods") for t in tasks]
    return by_task + [sweep_table([r for r in rows if r.group == g], f"Sweep: {g}") for g in groups]


def summary_table(rows: Sequence[ResultRow]) -> Table:
    """Per method and mode, over tasks: mean Δp, and on how many tasks it beat the random controls."""
    cells: dict[tuple[str, str], list[ResultRow]] = {}
    for r in rows:
        if r.group == "main":
            cells.setdefault((r.variant, r.mode), []).append(r)
    lines = []
    for (variant, mode), rs in cells.items():
        pcrs = [r.pcr for r in rs if r.pcr is not None]
        with_controls = [r for r in rs if r.random_n]
        beyond = f"{sum(r.as_expected for r in with_controls)} / {len(with_controls)}" if with_controls else "–"
        mean_dp = statistics.fmean(r.delta_p for r in rs)
        median_pcr = statistics.median(pcrs) if pcrs else None
        n = Cell(str(len(rs)), len(rs))
        pcr = number_cell(median_pcr, ".1f", signed=False)
        lines.append([Cell(variant), Cell(mode), n, number_cell(mean_dp, "+.4f"), Cell(beyond), pcr])
    return Table("Summary over tasks", SUMMARY_HEADER, lines)


def _versus(ps: Iterable[PairResult], prefix: str = "") -> list[str]:
    return [f"{prefix}{p.b} {p.difference.interval.format('+.4f')}" for p in ps]


def _standing_cells(s: Standing) -> list[Cell]:
    ties = _versus(s.ties) + _versus(s.beaten_by, "beaten by ")
    return [
        Cell(default_task_name(s.task)),
        Cell(s.group),
        Cell(s.mode),
        Cell(f"{s.best} ({s.best_delta_p:+.4f})", s.best_delta_p),
        Cell("; ".join(_versus(s.beats)) or "–", len(s.beats)),
        Cell("; ".join(ties) or "–", len(ties)),
    ]


def standings_table(pairs: Sequence[PairResult]) -> Table:
    """Per task, group and mode: the best variant, the others it beats, and those it ties with."""
    return Table("Best per task and mode", STANDINGS_HEADER, [_standing_cells(s) for s in standings(pairs)])


def _pair_cells(p: PairResult) -> list[Cell]:
    ci = p.difference.interval
    return [
        Cell(default_task_name(p.task)),
        Cell(p.group),
        Cell(p.mode),
        Cell(p.a),
        Cell(p.b),
        Cell(", ".join(map(str, p.seeds))),
        Cell(str(ci.n), ci.n),
        number_cell(p.a_delta_p, "+.4f"),
        number_cell(p.b_delta_p, "+.4f"),
        number_cell(ci.estimate, "+.4f"),
        Cell(ci.bounds("+.4f"), ci.low, "sig" if ci.excludes_zero else ""),
        Cell(fmt(p.difference.p_value, ".4f"), p.difference.p_value),
        Cell(p.verdict, css="" if p.winner is None else "sig"),
    ]


def pairs_table(pairs: Sequence[PairResult]) -> Table:
    return Table("Every pair", PAIRS_HEADER, [_pair_cells(p) for p in pairs], PAIRS_CAPTION)


__all__ = [
    "ABLATION_HEADER",
    "SPECIFICITY_HEADER",
    "MAIN_CAPTION",
    "MAIN_HEADER",
    "PAIRS_HEADER",
    "SEEDS_CAPTION",
    "STANDINGS_HEADER",
    "SUMMARY_HEADER",
    "sweep_table",
    "comparison_tables",
    "main_table",
    "pairs_table",
    "standings_table",
    "summary_table",
]
