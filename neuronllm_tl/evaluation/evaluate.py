"""Steering effects on a task's accuracy and p(correct), next to random neuron sets of the same shape.

Metrics (all signed, after minus before):

* accuracy: the share of questions (each permutation counts once) whose highest-scoring option is
  the correct one;
* p(correct): the mean probability of the correct option under the softmax over the option scores;
* controls: the same steering applied to random neuron sets with the same per-layer counts of good
  and bad neurons (``NeuronSet.random_like``), over ``controls`` seeds, reported as mean ± sd;
* confidence intervals: each identified row's Δ accuracy and Δ p(correct) carry a paired bootstrap
  interval over the held-out *examples* (each example's permutations averaged first; before and after
  resampled together): :func:`neuronllm_tl.evaluation.statistics.paired_ci`, BCa, seeded. The point
  estimates are the deltas above, unchanged.

Every row is a :class:`Steering` (``Steering.from_mode``) measured by
:func:`~neuronllm_tl.evaluation.measurement.measure` (the measurement ``compare`` stores too), at the answer
position of every question (``positions="answer"``) or at every position (``"all"``). Any registered
mode name (see :func:`neuronllm_tl.steering.register_mode`) can be evaluated.

Example:
    >>> report = nl.evaluate(model, held_out, neurons, modes=["enhance", "degrade"], controls=2)
    >>> print(report.to_markdown())
    Task tiny-cloze:evaluate: 6 held-out examples, 18 questions; 3 good / 3 bad neurons.
    Unsteered: accuracy ..., p(correct) ....
    <BLANKLINE>
    | mode | neurons | accuracy | Δ accuracy | p(correct) | Δ p(correct) |
    |---|---|---|---|---|---|
    | enhance | identified | ... | ... [..., ...] | ... | ... [..., ...] |
    | enhance | random (n=2) | ... | ... ± ... | ... | ... ± ... |
    | degrade | identified | ... | ... [..., ...] | ... | ... [..., ...] |
    | degrade | random (n=2) | ... | ... ± ... | ... | ... ± ... |
    <BLANKLINE>
    Δ: after minus before. [low, high]: paired 95% bootstrap interval (BCa / percentile) over the 6 held-out ...
    >>> ci = report.row("degrade").delta_p_correct_ci     # paired 95% interval of Δ p(correct)
    >>> ci.n, ci.excludes_zero == (ci.low > 0 or ci.high < 0)
    (6, True)
    >>> print(nl.evaluate(model, task, neurons, controls=0).to_markdown())    # the whole task: its held-out part
    Task tiny-cloze: 6 held-out examples; 6 that identified the set were excluded, 18 questions; ...
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from neuronllm_tl.display import markdown_to_html
from neuronllm_tl.evaluation.held_out import HeldOut, checked_evaluation
from neuronllm_tl.evaluation.measurement import measure
from neuronllm_tl.evaluation.scores import TaskScores, score_task
from neuronllm_tl.evaluation.statistics import Interval
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.shared_prompt import PromptCache
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.tasks.task import Task


@dataclass
class EffectRow:
    """One steering mode applied to one neuron set: signed changes against the unsteered model."""

    mode: str
    neuron_set: str
    accuracy: float
    p_correct: float
    delta_accuracy: float
    delta_p_correct: float
    delta_accuracy_sd: float | None = None
    delta_p_correct_sd: float | None = None
    n_sets: int = 1
    delta_accuracy_ci: Interval | None = None
    """Paired bootstrap interval over held-out examples (identified rows with at least 2 examples)."""
    delta_p_correct_ci: Interval | None = None


@dataclass
class EvaluationReport:
    task: str
    n_examples: int
    n_questions: int
    n_good: int
    n_bad: int
    baseline: dict[str, float]
    rows: list[EffectRow] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def row(self, mode: str, neuron_set: str = "identified") -> EffectRow:
        for r in self.rows:
            if r.mode == mode and r.neuron_set == neuron_set:
                return r
        raise KeyError(f"no row for mode={mode!r}, neuron_set={neuron_set!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def to_markdown(self) -> str:
        b = self.baseline
        examples = self.settings.get("examples", f"{self.n_examples} examples")
        lines = [
            f"Task {self.task}: {examples}, {self.n_questions} questions; "
            f"{self.n_good} good / {self.n_bad} bad neurons.",
            f"Unsteered: accuracy {b['accuracy']:.3f}, p(correct) {b['p_correct']:.3f}.",
            "",
            "| mode | neurons | accuracy | Δ accuracy | p(correct) | Δ p(correct) |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            d_a = _delta(r.delta_accuracy, r.delta_accuracy_sd, r.delta_accuracy_ci, "+.3f")
            d_p = _delta(r.delta_p_correct, r.delta_p_correct_sd, r.delta_p_correct_ci, "+.4f")
            name = r.neuron_set if r.n_sets == 1 else f"{r.neuron_set} (n={r.n_sets})"
            lines.append(f"| {r.mode} | {name} | {r.accuracy:.3f} | {d_a} | {r.p_correct:.3f} | {d_p} |")
        cis = [ci for r in self.rows for ci in (r.delta_accuracy_ci, r.delta_p_correct_ci) if ci is not None]
        if cis:
            methods = " / ".join(sorted({ci.method for ci in cis}))
            lines += [
                "",
                f"Δ: after minus before. [low, high]: paired {cis[0].confidence:.0%} bootstrap interval ({methods}) "
                f"over the {cis[0].n} {self._examples_word()} (each example's permutations averaged first); "
                "random rows: mean ± sd over the random sets.",
            ]
        return "\n".join(lines)

    def _examples_word(self) -> str:
        """ "held-out examples" only where they are: the set recorded its examples and none is among them."""
        return "held-out examples" if (self.settings.get("held_out") or {}).get("held_out") else "examples"

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return markdown_to_html(self.to_markdown())


def _delta(value: float, sd: float | None, ci: Interval | None, fmt: str) -> str:
    """``+0.042 [+0.000, +0.104]`` with an interval, ``+0.042 ± 0.010`` with an sd, else the value."""
    if ci is not None:
        return f"{value:{fmt}} {ci.bounds(fmt)}"
    return f"{value:{fmt}}" + (f" ± {sd:.3f}" if sd is not None else "")


def _mode_rows(
    model: HookedModel,
    task: Task,
    neurons: NeuronSet,
    randoms: list[NeuronSet],
    mode: str,
    base: TaskScores,
    *,
    positions: Literal["answer", "all"],
    run: dict[str, Any],
    confidence: float = 0.95,
) -> list[EffectRow]:
    """The identified row of ``mode`` (with intervals) and, with controls, the random row (mean ± sd)."""
    m = measure(model, task, Steering.from_mode(neurons, mode, positions=positions), before=base, **run)
    identified = EffectRow(mode, "identified", m.accuracy_after, m.p_after, m.delta("accuracy"), m.delta("p"))
    identified.delta_accuracy_ci, identified.delta_p_correct_ci = m.intervals(confidence)
    rows = [identified]
    if randoms:
        controls = [
            measure(model, task, Steering.from_mode(r, mode, positions=positions), before=base, **run) for r in randoms
        ]
        accs, ps = [c.accuracy_after for c in controls], [c.p_after for c in controls]
        rows.append(
            EffectRow(
                mode,
                "random",
                statistics.fmean(accs),
                statistics.fmean(ps),
                statistics.fmean(accs) - base.accuracy,
                statistics.fmean(ps) - base.mean_p_correct,
                statistics.stdev(accs) if len(accs) > 1 else 0.0,
                statistics.stdev(ps) if len(ps) > 1 else 0.0,
                n_sets=len(controls),
            )
        )
    return rows


def evaluate(
    model: HookedModel,
    task: Task,
    neurons: NeuronSet,
    *,
    modes: Sequence[str] = ("enhance", "degrade"),
    controls: int = 5,
    seed: int = 0,
    positions: Literal["answer", "all"] = "answer",
    batch_size: int = 16,
    progress: bool = False,
    confidence: float = 0.95,
    held_out: HeldOut = "exclude",
) -> EvaluationReport:
    """Steering effects of ``neurons`` on ``task`` next to ``controls`` random sets of the same shape, each
    identified row with paired ``confidence`` bootstrap intervals over the task's examples.

    The examples that identified ``neurons`` are left out first (``held_out="exclude"``), and the report says
    how many; ``held_out="allow"`` keeps them and labels the report not held out
    (:mod:`neuronllm_tl.evaluation.held_out`)."""
    part = checked_evaluation(model, task, neurons, modes, controls, positions, held_out)
    task = part.task
    # every mode and control scores the same prompts: run them once (answer-position steering leaves them alone)
    run: dict[str, Any] = dict(batch_size=batch_size, progress=progress, prompt_cache=PromptCache())
    base = score_task(model, task, **run)
    report = EvaluationReport(
        task=task.name,
        n_examples=len(task),
        n_questions=len(base.correct),
        n_good=len(neurons.good),
        n_bad=len(neurons.bad),
        baseline=base.summary(),
        settings={
            "modes": list(modes),
            "controls": controls,
            "seed": seed,
            "positions": positions,
            "confidence": confidence,
            "held_out": part.to_dict(),
            "examples": part.describe(),
        },
    )
    randoms = [neurons.random_like(seed + i) for i in range(controls)]
    for mode in modes:
        report.rows.extend(
            _mode_rows(model, task, neurons, randoms, mode, base, positions=positions, run=run, confidence=confidence)
        )
    return report


__all__ = ["EffectRow", "EvaluationReport", "evaluate"]
