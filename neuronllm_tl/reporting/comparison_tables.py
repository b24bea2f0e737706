"""The tables of a ``compare`` run, read from its ``results.csv`` (one table per task, one per ablation).

The columns are those of ``results.md`` (:mod:`neuronllm_tl.comparison.report`). With several split seeds,
Δ acc. and Δ p read "mean ± sd" across seeds, each followed by a column of every seed's value; with one
seed (or a CSV written before there were several), the value alone. A CSV written by an earlier version,
without the interval columns, shows "–" there. Who beats whom is in :mod:`neuronllm_tl.reporting.ranking_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from neuronllm_tl.comparison.rows import MIN_CONTROLS
from neuronllm_tl.reporting.tables import Cell, Table, fmt, num, number_cell
from neuronllm_tl.steering.modes import MODES
from neuronllm_tl.tasks.registry import default_task_name

_MAIN_HEADER = (
    "method",
    "mode",
    "neurons steered",
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
    "neurons steered",
    "acc. before → after",
    "Δ acc.",
    "p before → after",
    "Δ p",
    "Δ p CI",
)
_SEED_COLUMNS = {"Δ acc.": "Δ acc. per seed", "Δ p": "Δ p per seed"}
MAIN_CAPTION = (
    "Δ: after minus before, on the held-out split. CI: paired 95% bootstrap over held-out examples (bold: excludes 0; "
    "–: a cell from an earlier version). ✓: Δ p is more than 2 control sds beyond the random mean, in the direction "
    "the mode predicts (needs 3 or more random sets). RCC: Δ p / p before, the relative change of p(correct). "
    "PCR: |Δ p| / |Δ p on the unrelated task| (large = specific). Neurons steered: per set (a range when the "
    "split seeds' sets differ in size)."
)
SEEDS_CAPTION = (
    " Several split seeds: every cell ran once per seed (its own split, neurons and controls); Δ is the mean ± sd "
    "across seeds, then each seed's value, n the fewest neurons steered under any seed. The CI resamples distinct "
    "held-out examples: an example held out under several seeds counts once, its before and after averaged over "
    "those seeds (so the CI is centred near, not exactly at, the mean across seeds)."
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
    n_controls = int(num(row.get("random_n")) or 0)
    if 0 < n_controls < MIN_CONTROLS:
        return Cell(fmt(beyond, "+.1f") + f" (only {n_controls} random sets: no verdict)", beyond)
    mark = " ✓" if beyond is not None and mode is not None and mode.expected_sign * beyond > 2 else ""
    return Cell(fmt(beyond, "+.1f") + mark, beyond)


def _random_cell(row: Row) -> Cell:
    if not num(row.get("random_n")):
        return Cell("–")
    mean = num(row.get("random_delta_p_mean"))
    return Cell(f"{fmt(mean, '+.4f')} ± {fmt(row.get('random_delta_p_sd'), '.4f')}", mean)


def seeds_of(row: Row) -> list[str]:
    """The split seeds of a row (``seeds`` is ``;``-separated; a CSV of an earlier version has none)."""
    return [s for s in (row.get("seeds") or "").split(";") if s]


def _several(rows: Sequence[Row]) -> bool:
    return any(len(seeds_of(r)) > 1 for r in rows)


def _per_seed(row: Row, name: str) -> list[str]:
    return [s for s in (row.get(f"{name}_per_seed") or "").split(";") if s]


def _delta(row: Row, name: str, spec: str, several: bool) -> list[Cell]:
    """Δ (one seed), or "mean ± sd" and each seed's value (several)."""
    mean = number_cell(row.get(name), spec)
    if not several:
        return [mean]
    sd = num(row.get(f"{name}_sd"))
    text = f"{mean.text} ± {fmt(sd, spec.lstrip('+'))}" if sd is not None else mean.text
    per_seed = ", ".join(fmt(x, spec) for x in _per_seed(row, name)) or "–"
    return [Cell(text, mean.sort, mean.css), Cell(per_seed)]


def _n_cell(row: Row) -> Cell:
    counts = [int(x) for x in (num(c) for c in (row.get("n_steered_per_seed") or "").split(";")) if x is not None]
    if len(set(counts)) > 1:
        return Cell(f"{min(counts)}–{max(counts)}", min(counts))
    return number_cell(row.get("n_steered"), ".0f", signed=False)


def _steering_cells(row: Row, several: bool) -> list[Cell]:
    """Variant, mode, neurons steered, and the steering's effect: the columns both tables share."""
    return [
        Cell(row.get("variant", "")),
        Cell(row.get("mode", "")),
        _n_cell(row),
        _before_after(row, "accuracy_before", "accuracy_after"),
        *_delta(row, "delta_accuracy", "+.3f", several),
        _before_after(row, "p_before", "p_after"),
        *_delta(row, "delta_p", "+.4f", several),
        _ci_cell(row, "delta_p", "+.4f"),
    ]


def _main_cells(row: Row, several: bool) -> list[Cell]:
    return [
        *_steering_cells(row, several),
        number_cell(row.get("rcc"), "+.2f"),
        _random_cell(row),
        _beyond_cell(row),
        number_cell(row.get("unrelated_delta_p"), "+.4f"),
        number_cell(row.get("pcr"), ".1f", signed=False),
    ]


def _ablation_cells(row: Row, several: bool) -> list[Cell]:
    return [Cell(task_name(row.get("task", ""))), *_steering_cells(row, several)]


def _header(header: Sequence[str], several: bool) -> list[str]:
    out: list[str] = []
    for h in header:
        out += [f"{h} (mean ± sd)", _SEED_COLUMNS[h]] if several and h in _SEED_COLUMNS else [h]
    return out


def task_name(task: str) -> str:
    """A task as the tables name it: as every command does (a ``.jsonl`` path by its file's stem)."""
    return default_task_name(task)


def comparison_tables(rows: Sequence[Row]) -> list[Table]:
    """One table of every method per task (group ``main``), then one per ablation group."""
    tables = []
    several = _several(rows)
    caption = MAIN_CAPTION + (SEEDS_CAPTION if several else "")
    tasks = list(dict.fromkeys(r.get("task", "") for r in rows if r.get("group") == "main"))
    for task in tasks:
        cells = [_main_cells(r, several) for r in rows if r.get("group") == "main" and r.get("task") == task]
        tables.append(Table(f"{task_name(task)}: methods", _header(_MAIN_HEADER, several), cells, caption))
    groups = list(dict.fromkeys(r.get("group", "") for r in rows if r.get("group") != "main"))
    for group in groups:
        cells = [_ablation_cells(r, several) for r in rows if r.get("group") == group]
        tables.append(Table(f"Ablation: {group}", _header(_ABLATION_HEADER, several), cells))
    return tables


__all__ = ["SEEDS_CAPTION", "comparison_tables", "seeds_of", "task_name"]
