"""Option probabilities of every question of a task, unsteered or under a :class:`Steering`.

Every question of the task's augmented set (each permutation of the options counts once) is scored by
the softmax over its option scores (letter logits, or cloze log-likelihoods). From these follow the
accuracy, the mean p(correct), both per example (mean over its permutations: what confidence intervals
resample, :mod:`neuronllm_tl.evaluation.statistics`), and per example the *genuine* rate (right under
every permutation) and the *fortuitous* rate (right under some and wrong under others: luck, not skill).

A steering given as ``steering=`` acts at each question row's exact answer position
(``positions="answer"``) or at every position (``"all"``); its hooks are built by
:meth:`Steering.hooks` for every batch and removed after it.

In cloze format on a model that returns a Hugging Face cache, a question's options share one pass over
its prompt (:mod:`neuronllm_tl.scoring.shared_prompt`): the same scores, without reading the prompt once
per option. ``share_prompt=False`` runs one full row per option instead. Scoring one task many times under
steerings at the answer position, pass one :class:`~neuronllm_tl.scoring.shared_prompt.PromptCache` to every
call: the prompts then run once in all.

Example:
    >>> base = nl.score_task(model, task)
    >>> steered = nl.score_task(model, task, steering=nl.Steering.from_mode(neurons, "degrade"))
    >>> delta = steered.mean_p_correct - base.mean_p_correct      # Δ p(correct), over every question
    >>> base.per_example_p_correct().shape                        # each example's permutations averaged
    torch.Size([12])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import check_finite, model_device, model_spec
from neuronllm_tl.scoring.batches import example_batches, progress_bar
from neuronllm_tl.scoring.encoding import EncodedQuestions, QuestionEncoder, option_scores
from neuronllm_tl.scoring.shared_prompt import PromptCache, has_active_hooks, read_logits
from neuronllm_tl.steering.steering import Hooks, Steering, check_positions
from neuronllm_tl.tasks.task import Task


def per_example_mean(values: Tensor, example_index: Int[Tensor, " question"]) -> Float[Tensor, " example"]:
    """Per example, the mean of ``values`` over its questions (its permutations), float64: the unit that
    confidence intervals resample (an example's permutations are not independent questions)."""
    n_ex = int(example_index.max()) + 1
    total = torch.zeros(n_ex, dtype=torch.float64).index_add_(0, example_index, values.double())
    return total / torch.bincount(example_index, minlength=n_ex)


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

    def _per_example_mean(self, values: Tensor) -> Float[Tensor, " example"]:
        return per_example_mean(values, self.example_index)

    def per_example_accuracy(self) -> Float[Tensor, " example"]:
        """Per example, the share of its permutations answered correctly: one value per example, the unit
        that confidence intervals resample (its permutations are not independent questions)."""
        return self._per_example_mean(self.is_correct)

    def per_example_p_correct(self) -> Float[Tensor, " example"]:
        """Per example, the mean p(correct) over its permutations (float64)."""
        return self._per_example_mean(self.probs.gather(-1, self.correct[:, None]).squeeze(-1))

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


def check_task_positions(positions: Any) -> Literal["answer", "all"]:
    """Positions a whole task can be steered at: ``"answer"`` or ``"all"`` (a per-row tensor fits one batch only)."""
    positions = check_positions(positions)
    if isinstance(positions, Tensor):
        raise ValueError(
            "a task is steered at positions='answer' (each question's answer position) or 'all'; a tensor of "
            "positions fits one batch only: use it with nl.steer / nl.steering_hooks on your own model call."
        )
    return positions


def _batch_hooks(model: HookedModel, steering: Steering | None, answer_pos: Tensor, *, prompt: bool = False) -> Hooks:
    """The steering's hooks for one batch: at each row's ``answer_pos``, or everywhere. A prompt pass of
    shared-prompt scoring (``prompt``, no answer position in it) is hooked only by a steering at "all"."""
    if steering is None or (prompt and steering.positions == "answer"):
        return []
    return steering.hooks(model, positions=answer_pos if steering.positions == "answer" else "all")


def batch_scores(
    model: HookedModel,
    enc: EncodedQuestions,
    steering: Steering | None = None,
    *,
    share_prompt: bool = True,
    prompt_cache: PromptCache | None = None,
) -> Float[Tensor, "question option"]:
    """The option scores of one encoded batch under ``steering``, without gradients; a question's options
    share its prompt's pass where they can (:func:`~neuronllm_tl.scoring.shared_prompt.read_logits`)."""
    with torch.no_grad():
        logits, read = read_logits(
            model,
            enc,
            lambda answer_pos: _batch_hooks(model, steering, answer_pos),
            prompt_hooks=_batch_hooks(model, steering, enc.answer_pos, prompt=True),
            share_prompt=share_prompt,
            prompt_cache=prompt_cache,
        )
        return option_scores(logits, read)


def score_task(
    model: HookedModel,
    task: Task,
    *,
    steering: Steering | None = None,
    batch_size: int = 16,
    max_tokens: int = 8192,
    progress: bool = False,
    share_prompt: bool = True,
    prompt_cache: PromptCache | None = None,
) -> TaskScores:
    """Option probabilities of every question, optionally under ``steering`` (``share_prompt``, ``prompt_cache``:
    see the module)."""
    if steering is not None and not isinstance(steering, Steering):
        raise TypeError(
            f"steering= takes a Steering, got {type(steering).__name__}: pass "
            "nl.Steering.from_mode(neurons, mode) or nl.Steering(neurons, factors)."
        )
    model_spec(model, hook=steering.neurons.hook if steering is not None else "mlp.hook_post")
    if steering is not None:
        check_task_positions(steering.positions)
        steering.neurons.check_compatible(model)
    device = model_device(model)
    store = prompt_cache.calibration if prompt_cache is not None and not has_active_hooks(model) else None
    encoder = QuestionEncoder(model, task, calibration_store=store)
    questions = task.questions()
    probs, correct = [], []
    batches = list(example_batches(questions, batch_size, encoder=encoder, max_tokens=max_tokens))
    label = f" ({steering.mode or 'custom factors'})" if steering is not None else ""
    for batch in progress_bar(batches, progress, f"score {task.name}{label}", leave=False):
        enc = encoder.encode(batch).to(device)
        p = batch_scores(model, enc, steering, share_prompt=share_prompt, prompt_cache=prompt_cache).softmax(-1)
        check_finite(p, f"option probabilities of task {task.name!r}")
        probs.append(p.cpu())
        correct.append(enc.correct.cpu())
    width = max(p.shape[1] for p in probs)
    probs_t = torch.cat([torch.nn.functional.pad(p, (0, width - p.shape[1])) for p in probs])
    return TaskScores(probs_t, torch.cat(correct), torch.tensor([q.example_index for q in questions]))


def filter_genuine(model: HookedModel, task: Task, *, batch_size: int = 16) -> tuple[Task, dict[str, int]]:
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
        raise ValueError(
            f"task {task.name!r}: the model answers no example correctly under every permutation; "
            "nothing is left to identify neurons on. Use the unfiltered task or another format."
        )
    return task.subset(genuine, name=f"{task.name}:genuine"), stats


__all__ = ["TaskScores", "batch_scores", "check_task_positions", "filter_genuine", "per_example_mean", "score_task"]
