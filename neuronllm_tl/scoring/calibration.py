"""Calibrated read-outs: remove what the model prefers before it reads the question.

A small model often prefers some options whatever the question (a label prior: it almost never says
"yes"; a surface-form preference: short, frequent option texts win). Two standard corrections, both a
constant offset per (question, option) added to the option scores (``Task.calibration``):

* ``"pmi"`` (lm-evaluation-harness's ``acc_mutual_info``; cloze format only):
  ``s_j = log p(option_j | prompt) - log p(option_j | answer prefix alone)``, the pointwise mutual
  information between option and question. The second term is scored on the template's
  ``answer_prefix`` (e.g. ``"Answer:"``) with nothing before it, normalised like the first.
* ``"contextual"`` (contextual calibration, Zhao et al. 2021, "Calibrate Before Use"): the question's
  content is replaced by content-free strings (``"N/A"``, ``""``, ``"[MASK]"``; header,
  demonstrations and listed options kept), the option probabilities ``p_cf`` (softmax over the
  options) are averaged over the three, and ``s_j - log p_cf(j)`` is used: the option softmax becomes
  ``p(j) / p_cf(j)``, renormalised. Works in both formats.

The offsets are computed once per distinct baseline prompt and option (cached on the encoder, or across
encoders in a ``shared`` store: :class:`~neuronllm_tl.scoring.shared_prompt.PromptCache` carries one, keyed
by the model's fingerprint and how the units are tokenized and read; never while hooks are active on the
model), by a forward pass without gradients: in attribution they are constants, so F's gradient is that of
the question's own scores. The pass adds no hooks of its own: inside ``score_task(..., steering=...)`` the
baseline is the unsteered model's; inside a user's ``with nl.steer(...)`` block it is the steered one.

Example:
    >>> from neuronllm_tl.testing import tiny_task   # or nl.load_task("sst2", data_files="dev.tsv", calibration=...)
    >>> task = tiny_task("cloze", calibration="contextual")
    >>> accuracy = nl.score_task(model, task).accuracy     # the offsets are computed while encoding
    >>> 0 <= accuracy <= 1
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device
from neuronllm_tl.scoring.encoded import EncodedQuestions, forward_logits, option_scores
from neuronllm_tl.tasks.task import Question, Task

CONTENT_FREE: tuple[str, ...] = ("N/A", "", "[MASK]")
"""The content-free inputs of contextual calibration (Zhao et al. 2021, section 5)."""
BASELINE_BATCH = 32

Unit = tuple[str, tuple[str, ...]]
"""(baseline prompt, options): one scored baseline (cloze: a single option, scored on its own)."""


def baseline_prompts(task: Task, question: Question) -> list[str]:
    """The prompts whose option scores are the question's baseline, as the task's calibration defines them."""
    if task.calibration == "pmi":
        return [task.template.answer_prefix]
    example = task.examples[question.example_index]
    return [
        task.template.render_prompt(
            blank,
            question.options,
            blank if example.context else None,
            demonstrations=task.demonstrations,
            answer_format=task.answer_format,
        )
        for blank in CONTENT_FREE
    ]


class Encoder(Protocol):
    """What the calibrator needs of :class:`~neuronllm_tl.scoring.encoding.QuestionEncoder` (which owns it)."""

    task: Task

    def encode(self, questions: Sequence[Question], *, calibrate: bool = True) -> EncodedQuestions: ...


class Calibrator:
    """Computes (and caches) the calibration offsets of a task's questions for one model; with ``shared``,
    in a store that outlives the encoder (keyed by ``scope``: what else decides a unit's scores)."""

    def __init__(self, model: HookedModel, encoder: Encoder, shared: dict | None = None, scope: tuple = ()) -> None:
        self.model = model
        self.encoder = encoder
        self.task = encoder.task
        self._scores: dict[Unit, Tensor] = {} if shared is None else shared.setdefault(scope, {})

    def offsets(self, questions: Sequence[Question], n_options: int) -> Float[Tensor, "question option"]:
        out = torch.zeros(len(questions), n_options)
        if self.task.calibration == "none":
            return out
        per_question = [[self._units(p, q) for p in baseline_prompts(self.task, q)] for q in questions]
        self._score_missing([u for units in per_question for us in units for u in us])
        for i, units in enumerate(per_question):
            scores = torch.stack([torch.cat([self._scores[u] for u in us]) for us in units])  # [prompt, option]
            if self.task.calibration == "pmi":
                offset = -scores[0]
            else:
                offset = -scores.double().softmax(-1).mean(0).log().float()
            out[i, : len(offset)] = offset
        return out

    def _units(self, prompt: str, q: Question) -> list[Unit]:
        """Cloze rows are scored independently, so each option is its own unit (and shared across questions)."""
        if self.task.answer_format == "cloze":
            return [(prompt, (o,)) for o in q.options]
        return [(prompt, q.options)]

    def _score_missing(self, units: list[Unit]) -> None:
        missing = list(dict.fromkeys(u for u in units if u not in self._scores))
        device = model_device(self.model)
        for start in range(0, len(missing), BASELINE_BATCH):
            chunk = missing[start : start + BASELINE_BATCH]
            questions = [Question(0, 0, prompt, opts, tuple(range(len(opts))), 0) for prompt, opts in chunk]
            enc = self.encoder.encode(questions, calibrate=False).to(device)
            with torch.no_grad():
                scores = option_scores(forward_logits(self.model, enc), enc).float().cpu()
            for unit, row in zip(chunk, scores, strict=True):
                self._scores[unit] = row[: len(unit[1])]


__all__ = ["CONTENT_FREE", "Calibrator", "baseline_prompts"]
