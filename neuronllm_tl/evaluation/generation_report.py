"""What :func:`~neuronllm_tl.evaluation.generation.evaluate_generation` returns: per-example generation scores,
a row per (mode, neuron set) with signed changes against the unsteered model, and sample generations.

Every Δ is after minus before. An identified row carries paired bootstrap intervals over the task's examples
(:func:`~neuronllm_tl.evaluation.statistics.paired_ci`); a random row is the mean ± sd over the random sets.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.display import markdown_to_html
from neuronllm_tl.evaluation.statistics import Interval, paired_ci
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.tasks.task import Task

METRICS: tuple[str, ...] = ("exact_match", "contains", "ref_logprob")
"""The metrics of a generation pass: exact match, contains the reference, log p(reference)."""


@dataclass
class GenerationScores:
    """One pass over a generation task: every example's answer and its three metrics."""

    answers: list[str]
    exact_match: Float[Tensor, " example"]
    contains: Float[Tensor, " example"]
    ref_logprob: Float[Tensor, " example"]

    def summary(self) -> dict[str, float]:
        return {m: float(getattr(self, m).mean()) for m in METRICS}


@dataclass
class GenerationRow:
    """One steering mode applied to one neuron set: each metric, and its change against the unsteered model."""

    mode: str
    neuron_set: str
    values: dict[str, float]
    deltas: dict[str, float]
    delta_sd: dict[str, float] | None = None
    """Random rows: the sd of each Δ over the random sets."""
    delta_ci: dict[str, Interval] | None = None
    """Identified rows: the paired bootstrap interval of each Δ over the examples."""
    n_sets: int = 1


def effect_row(mode: str, base: GenerationScores, steered: GenerationScores, confidence: float) -> GenerationRow:
    values, before = steered.summary(), base.summary()
    row = GenerationRow(mode, "identified", values, {m: values[m] - before[m] for m in METRICS})
    if len(base.answers) >= 2:
        row.delta_ci = {
            m: paired_ci(getattr(base, m).numpy(), getattr(steered, m).numpy(), confidence=confidence) for m in METRICS
        }
    return row


def random_row(mode: str, base: GenerationScores, scored: list[GenerationScores]) -> GenerationRow:
    before = base.summary()
    per_set = [s.summary() for s in scored]
    values = {m: statistics.fmean(s[m] for s in per_set) for m in METRICS}
    sd = {m: statistics.stdev([s[m] for s in per_set]) if len(per_set) > 1 else 0.0 for m in METRICS}
    return GenerationRow(mode, "random", values, {m: values[m] - before[m] for m in METRICS}, sd, n_sets=len(scored))


@dataclass
class GenerationReport:
    task: str
    n_examples: int
    n_good: int
    n_bad: int
    baseline: dict[str, float]
    rows: list[GenerationRow] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    """The first examples: prompt, references, the unsteered answer and each mode's answer."""
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls, task: Task, neurons: NeuronSet, base: GenerationScores, *, samples: int, settings: dict[str, Any]
    ) -> GenerationReport:
        shown = [
            {"prompt": e.question, "references": list(getattr(e, "references", ())), "unsteered": answer}
            for e, answer in zip(task.examples[:samples], base.answers, strict=False)
        ]
        return cls(task.name, len(task), len(neurons.good), len(neurons.bad), base.summary(), [], shown, settings)

    def add_samples(self, mode: str, answers: list[str]) -> None:
        for sample, answer in zip(self.samples, answers, strict=False):
            sample[mode] = answer

    def row(self, mode: str, neuron_set: str = "identified") -> GenerationRow:
        for r in self.rows:
            if r.mode == mode and r.neuron_set == neuron_set:
                return r
        raise KeyError(f"no row for mode={mode!r}, neuron_set={neuron_set!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        return path

    def to_markdown(self) -> str:
        b = self.baseline
        lines = [
            f"Task {self.task}: {self.n_examples} examples; {self.n_good} good / {self.n_bad} bad neurons; greedy "
            f"decoding, {self.settings.get('max_new_tokens')} new tokens at most.",
            f"Unsteered: exact match {b['exact_match']:.3f}, contains {b['contains']:.3f}, "
            f"log p(reference) {b['ref_logprob']:.3f}.",
            "",
            "| mode | neurons | exact match | Δ exact match | contains | Δ contains | log p(ref) | Δ log p(ref) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [_table_row(r) for r in self.rows]
        lines += ["", _legend(self.rows)] if any(r.delta_ci for r in self.rows) else []
        return "\n".join(lines + self._sample_lines())

    def _sample_lines(self) -> list[str]:
        if not self.samples:
            return []
        modes = [k for k in self.samples[0] if k not in ("prompt", "references")]
        lines = ["", "| prompt | references | " + " | ".join(modes) + " |", "|---" * (len(modes) + 2) + "|"]
        for s in self.samples:
            cells = [s["prompt"], " / ".join(s["references"]), *(repr(s[m]) for m in modes)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return lines

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return markdown_to_html(self.to_markdown())


def _cell(r: GenerationRow, metric: str, fmt: str) -> str:
    value = f"{r.deltas[metric]:{fmt}}"
    if r.delta_ci is not None:
        return f"{value} {r.delta_ci[metric].bounds(fmt)}"
    return value + (f" ± {r.delta_sd[metric]:.3f}" if r.delta_sd is not None else "")


def _table_row(r: GenerationRow) -> str:
    name = r.neuron_set if r.n_sets == 1 else f"{r.neuron_set} (n={r.n_sets})"
    v = r.values
    return (
        f"| {r.mode} | {name} | {v['exact_match']:.3f} | {_cell(r, 'exact_match', '+.3f')} | {v['contains']:.3f} | "
        f"{_cell(r, 'contains', '+.3f')} | {v['ref_logprob']:.3f} | {_cell(r, 'ref_logprob', '+.3f')} |"
    )


def _legend(rows: list[GenerationRow]) -> str:
    ci = next(r.delta_ci["exact_match"] for r in rows if r.delta_ci)
    return (
        f"Δ: after minus before. [low, high]: paired {ci.confidence:.0%} bootstrap interval ({ci.method}) over the "
        f"{ci.n} examples; random rows: mean ± sd over the random sets. Steered from the answer position on "
        "(every generated position)."
    )


__all__ = ["METRICS", "GenerationReport", "GenerationRow", "GenerationScores", "effect_row", "random_row"]
