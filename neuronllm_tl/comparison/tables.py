"""The markdown tables of a comparison: one per task, one per ablation, the summary over tasks, and who beats
whom. With several split seeds, Δ acc. and Δ p read "mean ± sd" across seeds, with each seed's value beside
them; with one seed, the value alone (no sd, no per-seed column)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

from neuronllm_tl.comparison.ranking import PairResult, Standing
from neuronllm_tl.comparison.rows import ResultRow

MAIN_HEADER = (
    "method",
    "mode",
    "neurons steered",
    "acc. before → after",
    "Δ acc.",
    "RAC",
    "p before → after",
    "Δ p",
    "Δ p 95% CI",
    "RCC",
    "random Δ p (mean ± sd)",
    "beyond random (sd)",
    "unrelated Δ p",
    "PCR",
)
ABLATION_HEADER = (
    "task",
    "setting",
    "mode",
    "neurons steered",
    "acc. before → after",
    "Δ acc.",
    "p before → after",
    "Δ p",
    "RCC",
)
SUMMARY_HEADER = (
    "method",
    "mode",
    "tasks",
    "mean Δ p",
    "tasks beyond 2 sd of random, expected direction",
    "median PCR",
)
STANDINGS_HEADER = (
    "task",
    "group",
    "mode",
    "best (mean Δ p)",
    "beats: difference [95% CI]",
    "ties: difference [95% CI]",
)
SEED_COLUMNS = {"Δ acc.": "Δ acc. per seed", "Δ p": "Δ p per seed"}
"""With several seeds: each of these columns reads "mean ± sd" and is followed by its per-seed column."""


def f(x: float | None, fmt: str = "+.3f") -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "∞"
    return format(x, fmt)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A markdown table: the header, its rule, then one line per row of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _with_seeds(header: Sequence[str], multi: bool) -> list[str]:
    if not multi:
        return list(header)
    out: list[str] = []
    for h in header:
        out += [f"{h} (mean ± sd)", SEED_COLUMNS[h]] if h in SEED_COLUMNS else [h]
    return out


def _delta_cells(mean: float, sd: float | None, per_seed: Sequence[float], fmt: str, multi: bool) -> list[str]:
    if not multi:
        return [f(mean, fmt)]
    return [f"{f(mean, fmt)} ± {f(sd, fmt.lstrip('+'))}", ", ".join(f(x, fmt) for x in per_seed)]


def _n(r: ResultRow) -> str:
    counts = r.n_steered_per_seed or (r.n_steered,)
    return str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"


def _main_cells(r: ResultRow, multi: bool) -> list[str]:
    rand = f"{f(r.random_delta_p_mean, '+.4f')} ± {f(r.random_delta_p_sd, '.4f')}" if r.random_n else "–"
    mark = r.beyond_mark
    return [
        r.variant,
        r.mode,
        _n(r),
        f"{r.accuracy_before:.3f} → {r.accuracy_after:.3f}",
        *_delta_cells(r.delta_accuracy, r.delta_accuracy_sd, r.delta_accuracy_per_seed, "+.3f", multi),
        f(r.rac, "+.2f"),
        f"{r.p_before:.3f} → {r.p_after:.3f}",
        *_delta_cells(r.delta_p, r.delta_p_sd, r.delta_p_per_seed, "+.4f", multi),
        r.delta_p_ci.bounds("+.4f") if r.delta_p_ci is not None else "–",
        f(r.rcc, "+.2f"),
        rand,
        f(r.beyond_random, "+.1f") + mark,
        f(r.unrelated_delta_p, "+.4f"),
        f(r.pcr, ".1f"),
    ]


def _ablation_cells(r: ResultRow, multi: bool) -> list[str]:
    return [
        r.task,
        r.variant,
        r.mode,
        _n(r),
        f"{r.accuracy_before:.3f} → {r.accuracy_after:.3f}",
        *_delta_cells(r.delta_accuracy, r.delta_accuracy_sd, r.delta_accuracy_per_seed, "+.3f", multi),
        f"{r.p_before:.3f} → {r.p_after:.3f}",
        *_delta_cells(r.delta_p, r.delta_p_sd, r.delta_p_per_seed, "+.4f", multi),
        f(r.rcc, "+.2f"),
    ]


def _multi(rows: Sequence[ResultRow]) -> bool:
    return any(len(r.seeds) > 1 for r in rows)


def main_table(rows: Sequence[ResultRow]) -> str:
    multi = _multi(rows)
    return markdown_table(_with_seeds(MAIN_HEADER, multi), [_main_cells(r, multi) for r in rows])


def ablation_table(rows: Sequence[ResultRow]) -> str:
    multi = _multi(rows)
    return markdown_table(_with_seeds(ABLATION_HEADER, multi), [_ablation_cells(r, multi) for r in rows])


def summary_table(rows: Sequence[ResultRow]) -> str:
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
        median_pcr = f(statistics.median(pcrs) if pcrs else None, ".1f")
        lines.append([variant, mode, str(len(rs)), f"{mean_dp:+.4f}", beyond, median_pcr])
    return markdown_table(SUMMARY_HEADER, lines)


def _pair_text(p: PairResult) -> str:
    return f"{p.b} {p.difference.interval.format('+.4f')}"


def standings_table(standings: Iterable[Standing]) -> str:
    """Per task, group and mode: the best variant, the others it beats, and those it ties with."""
    lines = []
    for s in standings:
        ties = [_pair_text(p) for p in s.ties] + [f"beaten by {_pair_text(p)}" for p in s.beaten_by]
        lines.append(
            [
                Path(s.task).name,
                s.group,
                s.mode,
                f"{s.best} ({s.best_delta_p:+.4f})",
                "; ".join(_pair_text(p) for p in s.beats) or "–",
                "; ".join(ties) or "–",
            ]
        )
    return markdown_table(STANDINGS_HEADER, lines)


__all__ = ["ablation_table", "f", "main_table", "markdown_table", "standings_table", "summary_table"]
