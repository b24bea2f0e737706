"""What a comparison writes: ``results.md``, ``results.csv``, ``pairwise.csv`` and plots, from its cells.

The rows and their metrics (signed, after minus before, on the held-out splits; mean ± sd across split
seeds) are defined in :mod:`neuronllm_tl.comparison.result_rows`; who beats whom in
:mod:`neuronllm_tl.comparison.pairwise`; the tables (one model for markdown and HTML) in
:mod:`neuronllm_tl.comparison.result_tables`.

``results.csv`` and ``pairwise.csv``: :mod:`neuronllm_tl.comparison.results_csv`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuronllm_tl.comparison.cells import Cell, as_cells
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.estimate import CostEstimate, measured_cost
from neuronllm_tl.comparison.pairwise import PairResult, pairwise, selection_pairs
from neuronllm_tl.comparison.plots import plot_delta_p, plot_sweep_k
from neuronllm_tl.comparison.result_rows import ResultRow, rows_from_cells
from neuronllm_tl.comparison.result_tables import main_table, standings_table, summary_table, sweep_table
from neuronllm_tl.comparison.results_csv import COLUMNS, PER_SEED_COLUMNS, write_pairs, write_rows
from neuronllm_tl.tasks.registry import default_task_name

PROGRESS_FILE = "progress.json"
SELECTION_TEXT = (
    "Per task the sweeps ran on and per mode, every method and every setting of NeuronLLM's selection sweeps "
    "(mask, aggregation, z, attribution, objective) in one group, compared as in *Who beats whom*: the one "
    "that moves p(correct) most in the mode's direction, and which others it beats or ties with. Names joined "
    "by = are the same measurements (a sweep's paper setting is `neuronllm_gxa`). Its specificity (unrelated "
    "Δ p, PCR) is in its table above."
)

COST_TEXT = (
    "In the shape of `compare --estimate`'s table, to set beside it: identification (attributions and selection) "
    "and steered scorings per task and variant over every split seed, on the machines and thread counts of the "
    "runs that made them."
)


@dataclass(frozen=True)
class Progress:
    """How much of the grid a run has done: units of (task, variant, split seed), and the names of those left."""

    done: int
    total: int
    left: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    @property
    def banner(self) -> str:
        return (
            f"Partial results: {self.done} of {self.total} cells done; rerun the same command to continue "
            f"(cells left: {', '.join(self.left[:5])}{', ...' if len(self.left) > 5 else ''})."
        )

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total, "left": list(self.left)}


@dataclass
class ComparisonResult:
    rows: list[ResultRow]
    config: CompareConfig
    pairs: list[PairResult] = field(default_factory=list, kw_only=True)
    """Every pair of variants of a task, group and mode (:func:`~neuronllm_tl.comparison.pairwise.pairwise`)."""
    progress: Progress | None = field(default=None, kw_only=True)
    """None or complete: the whole grid is in; else the run stopped at its time budget."""
    cost: CostEstimate | None = field(default=None, kw_only=True)
    """What its cells and neuron sets took to compute (:func:`~neuronllm_tl.comparison.estimate.measured_cost`)."""

    @classmethod
    def from_cells(
        cls,
        cells: Iterable[Cell | Mapping[str, Any]],
        config: CompareConfig,
        progress: Progress | None = None,
        *,
        identify_seconds: Iterable[tuple[str, str, float]] = (),
    ) -> ComparisonResult:
        """``identify_seconds``: ``(task, variant, seconds)`` per distinct neuron set, for the compute time
        (without it, the identification column of ``cost`` is 0)."""
        typed = as_cells(cells)
        pairs = pairwise(typed) + selection_pairs(typed)
        return cls(
            rows_from_cells(typed), config, pairs=pairs, progress=progress, cost=measured_cost(typed, identify_seconds)
        )

    @property
    def timings(self) -> dict[str, float]:
        """Deprecated: seconds of steered and unsteered scoring; :attr:`cost` has them per task and variant."""
        warnings.warn("ComparisonResult.timings goes in the next release; use .cost", FutureWarning, stacklevel=2)
        cost = self.cost
        if cost is None:
            return {}
        return {"steer": sum(c.scoring_s for c in cost.cells), "unsteered": sum(cost.unsteered_s.values())}

    @property
    def complete(self) -> bool:
        return self.progress is None or self.progress.complete

    def main_table(self, task: str) -> str:
        return main_table([r for r in self.rows if r.task == task and r.group == "main"]).to_markdown()

    def sweep_table(self, group: str) -> str:
        return sweep_table([r for r in self.rows if r.group == group]).to_markdown()

    def summary_table(self) -> str:
        """Per method and mode, over tasks: mean Δp, and on how many tasks it beat the random controls."""
        return summary_table(self.rows).to_markdown()

    def standings_table(self, selection: bool = False) -> str:
        """Per task, group and mode: the best variant, and which others it beats (paired CI excludes 0); with
        ``selection``, the group of every method and selection setting together (:func:`selection_pairs`)."""
        return standings_table([p for p in self.pairs if (p.group == "selection") == selection]).to_markdown()

    def _intro(self) -> str:
        cfg = self.config
        seeds = ", ".join(map(str, cfg.seeds))
        several = len(cfg.seeds) > 1
        return (
            f"Tasks {', '.join(cfg.tasks)}; {cfg.answer_format} format; {cfg.n_identify} examples to identify, "
            f"{cfg.n_eval} held out, split with seed(s) {seeds}"
            + (" (every cell once per seed; Δ: mean ± sd across seeds, then each seed's value)" if several else "")
            + f"; K = {cfg.k} neurons per set; IG with {cfg.ig_steps} steps; {cfg.controls} random controls per "
            "cell and seed (same per-layer counts). ✓: Δ p is more than 2 control sds beyond the random mean, in "
            "the direction the mode predicts (3 or more random sets needed). RAC = Δ acc. / acc. before and RCC = "
            "Δ p / p before (relative changes, signed). Δ p 95% CI: paired bootstrap over the held-out examples"
            + (
                ", the unit being the distinct example: an example held out under several seeds is counted once, "
                "with its before and after averaged over those seeds"
                if several
                else ""
            )
            + " (–: a cell from an earlier version, without per-example values)."
            + "".join(f" Not run on {t} (skipped by the config): {', '.join(v)}." for t, v in (cfg.skip or {}).items())
        )

    @property
    def markdown(self) -> str:
        cfg = self.config
        parts = ["# Comparison results", ""]
        if not self.complete and self.progress is not None:
            parts += [f"**{self.progress.banner}**", ""]
        parts += [self._intro(), "", "## Summary over tasks", "", self.summary_table()]
        if any(p.group != "selection" for p in self.pairs):
            parts += [
                "",
                "## Who beats whom",
                "",
                "Per task, group and mode, the variant with the largest mean Δ p in the direction the mode predicts, "
                "against each other: the mean of the per-example difference of Δ p (best minus other, paired by "
                "split seed and held-out example) and its paired 95% bootstrap CI. The unit is the distinct "
                "example: each example's difference is first averaged over the seeds that held it out, and the "
                "means shown are over distinct examples too (so they can differ a little from the tables' mean "
                "across seeds). It *beats* the other only when the CI excludes 0 on the predicted side; otherwise "
                "a tie. Every pair, with its p-value: `pairwise.csv`.",
                "",
                self.standings_table(),
            ]
        for task in cfg.tasks:
            parts += ["", f"## {default_task_name(task)}", "", self.main_table(task)]
        for group in cfg.sweeps:
            parts += ["", f"## Sweep: {group}", "", self.sweep_table(group)]
        if any(p.group == "selection" for p in self.pairs):
            parts += ["", "## Selection: every method and setting", "", SELECTION_TEXT, "", self.standings_table(True)]
        if self.cost is not None:
            parts += ["", "## Compute time", "", COST_TEXT, "", self.cost.to_markdown()]
        return "\n".join(parts) + "\n"

    def write_csv(self, path: Path) -> Path:
        return write_rows(self.rows, path)

    def write_pairs_csv(self, path: Path) -> Path:
        return write_pairs(self.pairs, path)

    def write(self, out: Path) -> None:
        (out / PROGRESS_FILE).write_text(json.dumps((self.progress or Progress(1, 1)).to_dict(), indent=2))
        (out / "results.md").write_text(self.markdown)
        self.write_csv(out / "results.csv")
        self.write_pairs_csv(out / "pairwise.csv")
        plot_delta_p(self.rows, out / "delta_p.png")
        if any(r.group == "k" for r in self.rows):
            plot_sweep_k(self.rows, out / "sweep_k.png")


__all__ = [
    "COLUMNS",
    "PER_SEED_COLUMNS",
    "PROGRESS_FILE",
    "ComparisonResult",
    "Progress",
    "ResultRow",
    "rows_from_cells",
]
