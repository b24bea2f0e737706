"""Accuracy and p(correct) of a task, before and after steering, against random neuron sets.

Metrics (all signed, after minus before):

* accuracy: the share of questions (each permutation counts once) whose highest-scoring option is
  the correct one;
* p(correct): the mean probability of the correct option under the softmax over the option scores;
* controls: the same steering applied to random neuron sets with the same per-layer counts of good
  and bad neurons (``NeuronSet.random_like``), over ``controls`` seeds, reported as mean ± sd.

Steering is applied at the answer position of every question (``positions="answer"``) or at every
position (``"all"``).

Example:
    >>> report = nl.evaluate(model, eval_task, neurons, modes=["enhance", "degrade"], controls=5)
    >>> print(report.to_markdown())
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.models.validation import check_finite, model_device, model_spec
from neuronllm_tl.scoring.batches import example_batches, progress_bar
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.steering.hooks import factor_grid, grid_hooks, resolve_factors
from neuronllm_tl.tasks.task import Task


@dataclass
class TaskScores:
    """Option probabilities of every question of a task's augmented set."""

    probs: Float[Tensor, "question option"]
    correct: Int[Tensor, " question"]
    example_index: Int[Tensor, " question"]

    @property
    def is_correct(self) -> Tensor:
        return self.probs.argmax(-1) == self.correct

    @property
    def accuracy(self) -> float:
        return float(self.is_correct.float().mean())

    @property
    def mean_p_correct(self) -> float:
        return float(self.probs.gather(-1, self.correct[:, None]).mean())

    def per_example_correct(self) -> Tensor:
        """[example, 2]: number of permutations answered correctly, and number asked."""
        n_ex = int(self.example_index.max()) + 1
        right = torch.zeros(n_ex, dtype=torch.long).index_add_(0, self.example_index, self.is_correct.long())
        asked = torch.bincount(self.example_index, minlength=n_ex)
        return torch.stack([right, asked], 1)

    @property
    def genuine_rate(self) -> float:
        """Share of examples answered correctly under every permutation."""
        c = self.per_example_correct()
        return float((c[:, 0] == c[:, 1]).float().mean())

    @property
    def fortuitous_rate(self) -> float:
        """Share of examples right under some permutations and wrong under others (luck, not skill)."""
        c = self.per_example_correct()
        return float(((c[:, 0] > 0) & (c[:, 0] < c[:, 1])).float().mean())

    def summary(self) -> dict[str, float]:
        return {
            "accuracy": self.accuracy,
            "p_correct": self.mean_p_correct,
            "genuine_rate": self.genuine_rate,
            "fortuitous_rate": self.fortuitous_rate,
        }


def score_task(
    model: Any,
    task: Task,
    *,
    neurons: NeuronSet | None = None,
    mode: str | None = None,
    factors: Mapping[str, float] | None = None,
    positions: Literal["answer", "all"] = "answer",
    batch_size: int = 16,
    max_tokens: int = 8192,
    progress: bool = False,
) -> TaskScores:
    """Option probabilities of every question, optionally with ``neurons`` steered by ``mode``/``factors``."""
    if positions not in ("answer", "all"):
        raise ValueError(f"positions must be 'answer' or 'all', got {positions!r}.")
    spec = model_spec(model, hook=neurons.hook if neurons is not None else "mlp.hook_post")
    grid = None
    if neurons is not None:
        neurons.check_compatible(model)
        grid = factor_grid(neurons, resolve_factors(mode, factors))
    device = model_device(model)
    encoder = QuestionEncoder(model, task)
    questions = task.questions()
    probs, correct = [], []
    batches = list(example_batches(questions, batch_size, encoder=encoder, max_tokens=max_tokens))
    batches = progress_bar(batches, progress, f"score {task.name}" + (f" ({mode})" if mode else ""), leave=False)
    for batch in batches:
        enc = encoder.encode(batch).to(device)
        hooks = []
        if grid is not None:
            hooks = grid_hooks(spec, grid, enc.answer_pos if positions == "answer" else "all")
        with torch.no_grad():
            scores = option_scores(forward_logits(model, enc, hooks), enc)
        p = scores.softmax(-1)
        check_finite(p, f"option probabilities of task {task.name!r}")
        probs.append(p.cpu())
        correct.append(enc.correct.cpu())
    width = max(p.shape[1] for p in probs)
    probs_t = torch.cat([torch.nn.functional.pad(p, (0, width - p.shape[1])) for p in probs])
    return TaskScores(probs_t, torch.cat(correct), torch.tensor([q.example_index for q in questions]))


def filter_genuine(model: Any, task: Task, *, batch_size: int = 16) -> tuple[Task, dict[str, int]]:
    """Keep only the examples the model answers correctly under every permutation (the paper's
    motivation: an example right under some permutations and wrong under others is fortuitous)."""
    per_example = score_task(model, task, batch_size=batch_size).per_example_correct()
    right, asked = per_example[:, 0], per_example[:, 1]
    genuine = torch.nonzero(right == asked).flatten().tolist()
    stats = {
        "examples": len(task),
        "kept": len(genuine),
        "fortuitous": int(((right > 0) & (right < asked)).sum()),
        "wrong": int((right == 0).sum()),
    }
    if not genuine:
        raise ValueError(f"task {task.name!r}: the model answers no example correctly under every permutation; "
                         "nothing is left to identify neurons on. Use the unfiltered task or another format.")
    return task.subset(genuine, name=f"{task.name}:genuine"), stats


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


def evaluate(
    model: Any,
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
    run = dict(positions=positions, batch_size=batch_size, progress=progress)
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
        s = score_task(model, task, neurons=neurons, mode=mode, **run)
        report.rows.append(
            EffectRow(mode, "identified", s.accuracy, s.mean_p_correct, s.accuracy - base.accuracy, s.mean_p_correct - base.mean_p_correct)
        )
        if randoms:
            scored = [score_task(model, task, neurons=r, mode=mode, **run) for r in randoms]
            accs = [x.accuracy for x in scored]
            ps = [x.mean_p_correct for x in scored]
            report.rows.append(
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
    return report
