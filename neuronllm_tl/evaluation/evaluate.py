"""Steering effects on a task's accuracy and p(correct), next to random neuron sets of the same shape.

Metrics (all signed, after minus before):

* accuracy: the share of questions (each permutation counts once) whose highest-scoring option is
  the correct one;
* p(correct): the mean probability of the correct option under the softmax over the option scores;
* controls: the same steering applied to random neuron sets with the same per-layer counts of good
  and bad neurons (``NeuronSet.random_like``), over ``controls`` seeds, reported as mean ± sd.

Every row is a :class:`Steering` (``Steering.from_mode``) scored by :func:`score_task`, at the answer
position of every question (``positions="answer"``) or at every position (``"all"``). Any registered
mode name (see :func:`neuronllm_tl.steering.register_mode`) can be evaluated.

Example:
    >>> report = nl.evaluate(model, eval_task, neurons, modes=["enhance", "degrade"], controls=5)
    >>> print(report.to_markdown())
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from neuronllm_tl.evaluation.scores import TaskScores, check_task_positions, score_task
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.steering.modes import get_mode
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
        lines = [
            f"Task {self.task}: {self.n_examples} examples, {self.n_questions} questions; "
            f"{self.n_good} good / {self.n_bad} bad neurons.",
            f"Unsteered: accuracy {b['accuracy']:.3f}, p(correct) {b['p_correct']:.3f}.",
            "",
            "| mode | neurons | accuracy | Δ accuracy | p(correct) | Δ p(correct) |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            sd_a = f" ± {r.delta_accuracy_sd:.3f}" if r.delta_accuracy_sd is not None else ""
            sd_p = f" ± {r.delta_p_correct_sd:.3f}" if r.delta_p_correct_sd is not None else ""
            name = r.neuron_set if r.n_sets == 1 else f"{r.neuron_set} (n={r.n_sets})"
            lines.append(
                f"| {r.mode} | {name} | {r.accuracy:.3f} | {r.delta_accuracy:+.3f}{sd_a} | "
                f"{r.p_correct:.3f} | {r.delta_p_correct:+.4f}{sd_p} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


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
) -> list[EffectRow]:
    """The identified row of ``mode`` and, with controls, the random row (mean ± sd over the sets)."""
    s = score_task(model, task, steering=Steering.from_mode(neurons, mode, positions=positions), **run)
    rows = [
        EffectRow(
            mode,
            "identified",
            s.accuracy,
            s.mean_p_correct,
            s.accuracy - base.accuracy,
            s.mean_p_correct - base.mean_p_correct,
        )
    ]
    if randoms:
        scored = [
            score_task(model, task, steering=Steering.from_mode(r, mode, positions=positions), **run) for r in randoms
        ]
        accs = [x.accuracy for x in scored]
        ps = [x.mean_p_correct for x in scored]
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
                n_sets=len(scored),
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
) -> EvaluationReport:
    """Steering effects of ``neurons`` on ``task`` next to ``controls`` random sets of the same shape."""
    if controls < 0:
        raise ValueError(f"controls must be >= 0, got {controls}.")
    check_task_positions(positions)
    for mode in modes:
        get_mode(mode)
    run: dict[str, Any] = dict(batch_size=batch_size, progress=progress)
    base = score_task(model, task, **run)
    report = EvaluationReport(
        task=task.name,
        n_examples=len(task),
        n_questions=len(base.correct),
        n_good=len(neurons.good),
        n_bad=len(neurons.bad),
        baseline=base.summary(),
        settings={"modes": list(modes), "controls": controls, "seed": seed, "positions": positions},
    )
    randoms = [neurons.random_like(seed + i) for i in range(controls)]
    for mode in modes:
        report.rows.extend(_mode_rows(model, task, neurons, randoms, mode, base, positions=positions, run=run))
    return report


__all__ = ["EffectRow", "EvaluationReport", "evaluate"]
