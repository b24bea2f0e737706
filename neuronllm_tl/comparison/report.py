"""Metrics of the comparison, computed from its cells, and the markdown, CSV and plots it writes.

All changes are signed, after minus before, on the held-out split:

* ``delta_accuracy``, ``delta_p``: the change of accuracy and of mean p(correct) (option softmax);
* ``rac`` = delta_accuracy / accuracy_before and ``rcc`` = delta_p / p_before: the relative accuracy
  change and relative change of p(correct). These are our reading of the NeuronLLM paper's RAC and
  RCC, whose exact definitions are not public; unlike the paper's tables they keep their sign;
* ``random_delta_p`` (mean ± sd over the control seeds): the same mode on random sets with the same
  per-layer counts; ``beyond_random`` = (delta_p - random mean) / random sd, in control sds;
* ``unrelated_delta_p``: the identified set's delta_p on an unrelated task's held-out split, and
  ``pcr`` = abs(delta_p) / abs(unrelated_delta_p), QRNCA's probability change ratio (large = specific);
* ``delta_accuracy_ci``, ``delta_p_ci``: paired 95% bootstrap intervals over the held-out examples
  (:mod:`neuronllm_tl.comparison.intervals`); None ("–") for a cell written by an earlier version.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.intervals import CI_COLUMNS, cell_intervals, ci_columns
from neuronllm_tl.comparison.plots import plot_ablation_k, plot_delta_p
from neuronllm_tl.evaluation.statistics import Interval
from neuronllm_tl.steering.modes import MODES

COLUMNS = [
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
    *CI_COLUMNS,
]


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

    @property
    def as_expected(self) -> bool:
        """p(correct) moved in the direction the mode predicts, by more than 2 control sds."""
        return self.beyond_random is not None and MODES[self.mode].expected_sign * self.beyond_random > 2


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def rows_from_cells(cells: Iterable[dict[str, Any]]) -> list[ResultRow]:
    steer = [c for c in cells if c.get("kind") == "steer"]
    groups: dict[tuple, dict[str, list[dict[str, Any]]]] = {}
    for c in steer:
        key = (c["task"], c["group"], c["variant"], c["method"], c["mode"])
        slot = "unrelated" if c["eval"] == "unrelated" else c["neurons"]
        groups.setdefault(key, {}).setdefault(slot, []).append(c)
    rows = []
    for (task, group, variant, method, mode), slots in groups.items():
        if "identified" not in slots:
            continue
        c = slots["identified"][0]
        dp = c["p_after"] - c["p_before"]
        da = c["accuracy_after"] - c["accuracy_before"]
        row = ResultRow(
            task,
            group,
            variant,
            method,
            mode,
            c["n_steered"],
            c["accuracy_before"],
            c["accuracy_after"],
            da,
            _ratio(da, c["accuracy_before"]),
            c["p_before"],
            c["p_after"],
            dp,
            _ratio(dp, c["p_before"]),
        )
        row.delta_accuracy_ci, row.delta_p_ci = cell_intervals(c)
        randoms = [r["p_after"] - r["p_before"] for r in slots.get("random", [])]
        if randoms:
            row.random_n = len(randoms)
            row.random_delta_p_mean = statistics.fmean(randoms)
            row.random_delta_p_sd = statistics.stdev(randoms) if len(randoms) > 1 else 0.0
            if row.random_delta_p_sd:
                row.beyond_random = (dp - row.random_delta_p_mean) / row.random_delta_p_sd
        if "unrelated" in slots:
            u = slots["unrelated"][0]
            row.unrelated_task = u["eval_task"].removesuffix(":evaluate")
            row.unrelated_delta_p = u["p_after"] - u["p_before"]
            row.pcr = abs(dp) / abs(row.unrelated_delta_p) if row.unrelated_delta_p else math.inf
        rows.append(row)
    return rows


def _f(x: float | None, fmt: str = "+.3f") -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "∞"
    return format(x, fmt)


_MAIN_HEADER = (
    "method",
    "mode",
    "n",
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
_ABLATION_HEADER = ("task", "setting", "mode", "n", "acc. before → after", "Δ acc.", "p before → after", "Δ p", "RCC")
_SUMMARY_HEADER = (
    "method",
    "mode",
    "tasks",
    "mean Δ p",
    "tasks beyond 2 sd of random, expected direction",
    "median PCR",
)


def _markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A markdown table: the header, its rule, then one line per row of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _main_cells(r: ResultRow) -> list[str]:
    rand = f"{_f(r.random_delta_p_mean, '+.4f')} ± {_f(r.random_delta_p_sd, '.4f')}" if r.random_n else "–"
    mark = " ✓" if r.as_expected else ""
    return [
        r.variant,
        r.mode,
        str(r.n_steered),
        f"{r.accuracy_before:.3f} → {r.accuracy_after:.3f}",
        _f(r.delta_accuracy),
        _f(r.rac, "+.2f"),
        f"{r.p_before:.3f} → {r.p_after:.3f}",
        _f(r.delta_p, "+.4f"),
        r.delta_p_ci.bounds("+.4f") if r.delta_p_ci is not None else "–",
        _f(r.rcc, "+.2f"),
        rand,
        _f(r.beyond_random, "+.1f") + mark,
        _f(r.unrelated_delta_p, "+.4f"),
        _f(r.pcr, ".1f"),
    ]


def _ablation_cells(r: ResultRow) -> list[str]:
    return [
        r.task,
        r.variant,
        r.mode,
        str(r.n_steered),
        f"{r.accuracy_before:.3f} → {r.accuracy_after:.3f}",
        _f(r.delta_accuracy),
        f"{r.p_before:.3f} → {r.p_after:.3f}",
        _f(r.delta_p, "+.4f"),
        _f(r.rcc, "+.2f"),
    ]


@dataclass
class ComparisonResult:
    rows: list[ResultRow]
    config: CompareConfig
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_cells(cls, cells: list[dict[str, Any]], config: CompareConfig) -> ComparisonResult:
        timings: dict[str, float] = {}
        for c in cells:
            timings[c.get("kind", "?")] = timings.get(c.get("kind", "?"), 0.0) + float(c.get("seconds", 0.0))
        return cls(rows_from_cells(cells), config, timings)

    def main_table(self, task: str) -> str:
        rows = [r for r in self.rows if r.task == task and r.group == "main"]
        return _markdown_table(_MAIN_HEADER, [_main_cells(r) for r in rows])

    def ablation_table(self, group: str) -> str:
        rows = [r for r in self.rows if r.group == group]
        return _markdown_table(_ABLATION_HEADER, [_ablation_cells(r) for r in rows])

    def summary_table(self) -> str:
        """Per method and mode, over tasks: mean Δp, and on how many tasks it beat the random controls."""
        cells: dict[tuple[str, str], list[ResultRow]] = {}
        for r in self.rows:
            if r.group == "main":
                cells.setdefault((r.variant, r.mode), []).append(r)
        lines = []
        for (variant, mode), rs in cells.items():
            pcrs = [r.pcr for r in rs if r.pcr is not None]
            with_controls = [r for r in rs if r.random_n]
            beyond = f"{sum(r.as_expected for r in with_controls)} / {len(with_controls)}" if with_controls else "–"
            mean_dp = statistics.fmean(r.delta_p for r in rs)
            median_pcr = _f(statistics.median(pcrs) if pcrs else None, ".1f")
            lines.append([variant, mode, str(len(rs)), f"{mean_dp:+.4f}", beyond, median_pcr])
        return _markdown_table(_SUMMARY_HEADER, lines)

    @property
    def markdown(self) -> str:
        cfg = self.config
        parts = [
            "# Comparison results",
            "",
            f"Tasks {', '.join(cfg.tasks)}; {cfg.answer_format} format; {cfg.n_identify} examples to identify, "
            f"{cfg.n_eval} held out; K = {cfg.k} neurons per set; IG with {cfg.ig_steps} steps; "
            f"{cfg.controls} random controls per cell (same per-layer counts). ✓: Δ p is more than 2 control sds "
            "beyond the random mean, in the direction the mode predicts. Δ p 95% CI: paired bootstrap over the "
            "held-out examples (–: a cell from an earlier version, without per-example values).",
            "",
            "## Summary over tasks",
            "",
            self.summary_table(),
        ]
        for task in cfg.tasks:
            parts += ["", f"## {Path(task).name}", "", self.main_table(task)]
        for group in cfg.ablations:
            parts += ["", f"## Ablation: {group}", "", self.ablation_table(group)]
        parts += ["", "Model time: " + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(self.timings.items()))]
        return "\n".join(parts) + "\n"

    def write_csv(self, path: Path) -> Path:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            for r in self.rows:
                fields = {k: v for k, v in asdict(r).items() if k in COLUMNS}
                w.writerow(fields | ci_columns(r.delta_accuracy_ci, r.delta_p_ci))
        return path

    def write(self, out: Path) -> None:
        (out / "results.md").write_text(self.markdown)
        self.write_csv(out / "results.csv")
        plot_delta_p(self.rows, out / "delta_p.png")
        if any(r.group == "k" for r in self.rows):
            plot_ablation_k(self.rows, out / "ablation_k.png")
