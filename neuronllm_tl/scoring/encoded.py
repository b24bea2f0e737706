"""An encoded batch of questions, and the option scores read from the model's logits over it.

An option's score ``s_j`` is what the task's *read-out* makes of the model's output:

* ``letter`` format: the logit of option letter j at the answer position (the last prompt token).
* ``cloze`` format: the log-likelihood of the option's text as the prompt's continuation, normalised
  by :attr:`EncodedQuestions.normalization`: ``"sum"`` (the whole option's log-likelihood), ``"mean"``
  (per token) or ``"char"`` (per character of the continuation, lm-evaluation-harness's ``acc_norm``).

Then :attr:`EncodedQuestions.score_offset` is added: zero, or the calibration of
:mod:`neuronllm_tl.scoring.calibration` (``pmi`` / ``contextual``), a constant per (question, option)
computed once by a separate, gradient-free pass. Every consumer (scoring, evaluation, attribution,
ablation) reads scores through :func:`option_scores`, so the objective F is always that of the read-out.

Batches are padded on the right. With causal attention no real token ever attends to a pad, and
position ids are unchanged, so a padded batch gives the same scores as one question at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from neuronllm_tl.models.protocol import HookedModel

CLOZE_NORMALIZATIONS: tuple[str, ...] = ("sum", "mean", "char")


@dataclass
class EncodedQuestions:
    """A batch of questions as model input, plus what is needed to read each option's score."""

    tokens: Int[Tensor, "row pos"]
    attention_mask: Int[Tensor, "row pos"]
    answer_pos: Int[Tensor, " row"]
    """Position of the last prompt token: the neurons are read and steered here."""
    row_question: Int[Tensor, " row"]
    row_option: Int[Tensor, " row"]
    """cloze: which option the row continues with; letter: -1."""
    cont_ids: Int[Tensor, "row cont"]
    cont_mask: Bool[Tensor, "row cont"]
    cont_chars: Int[Tensor, " row"]
    """cloze: characters of the row's continuation text (for ``normalization="char"``); letter: 0."""
    letter_ids: Int[Tensor, "question option"]
    option_mask: Bool[Tensor, "question option"]
    correct: Int[Tensor, " question"]
    score_offset: Float[Tensor, "question option"]
    """Added to every option's score: the read-out's calibration (zeros when uncalibrated)."""
    answer_format: str
    normalization: str = "sum"

    @property
    def n_questions(self) -> int:
        return int(self.correct.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.tokens.shape[0])

    def to(self, device: torch.device | str) -> EncodedQuestions:
        return EncodedQuestions(
            **{
                f.name: getattr(self, f.name).to(device)
                if isinstance(getattr(self, f.name), Tensor)
                else getattr(self, f.name)
                for f in fields(self)
            }
        )

    def take_questions(self, question_index: Int[Tensor, " q"]) -> EncodedQuestions:
        """The sub-batch of the given questions (repeats allowed), with all of their rows, renumbered."""
        question_index = question_index.to(self.correct.device)
        row_lists = [torch.nonzero(self.row_question == q).flatten() for q in question_index.tolist()]
        rows = torch.cat(row_lists)
        new_q = torch.cat(
            [torch.full((len(r),), i, dtype=torch.long, device=rows.device) for i, r in enumerate(row_lists)]
        )
        width = int((self.attention_mask[rows].sum(1)).max())
        return EncodedQuestions(
            tokens=self.tokens[rows, :width],
            attention_mask=self.attention_mask[rows, :width],
            answer_pos=self.answer_pos[rows],
            row_question=new_q,
            row_option=self.row_option[rows],
            cont_ids=self.cont_ids[rows],
            cont_mask=self.cont_mask[rows],
            cont_chars=self.cont_chars[rows],
            letter_ids=self.letter_ids[question_index],
            option_mask=self.option_mask[question_index],
            correct=self.correct[question_index],
            score_offset=self.score_offset[question_index],
            answer_format=self.answer_format,
            normalization=self.normalization,
        )


def option_scores(
    logits: Float[Tensor, "row pos vocab"], enc: EncodedQuestions, *, vocab_normalized: bool = False
) -> Float[Tensor, "question option"]:
    """Score of every option of every question (-inf where a question has fewer options).

    By default the read-out's score: normalised (cloze) and calibrated (``enc.score_offset``). With
    ``vocab_normalized``: log p(option) over the whole vocabulary, uncalibrated (letter: the letter's
    log-probability; cloze: the option text's summed log-likelihood, whatever the normalisation).
    """
    rows = torch.arange(enc.n_rows, device=logits.device)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if enc.answer_format == "letter":
        last = logits[rows, enc.answer_pos]
        if vocab_normalized:
            last = last.log_softmax(-1)
        scores = last.gather(-1, enc.letter_ids)
    else:
        row_scores = _continuation_logprob(logits, enc)
        if not vocab_normalized:
            row_scores = row_scores / _normalizer(enc).to(row_scores)
        scores = torch.full(enc.option_mask.shape, float("-inf"), device=logits.device, dtype=logits.dtype)
        scores = scores.index_put((enc.row_question, enc.row_option), row_scores)
    if not vocab_normalized:
        scores = scores + enc.score_offset.to(scores)
    return scores.masked_fill(~enc.option_mask, float("-inf"))


def _continuation_logprob(logits: Float[Tensor, "row pos vocab"], enc: EncodedQuestions) -> Float[Tensor, " row"]:
    rows = torch.arange(enc.n_rows, device=logits.device)
    n_cont = enc.cont_ids.shape[1]
    pos = (enc.answer_pos[:, None] + torch.arange(n_cont, device=logits.device)).clamp(max=logits.shape[1] - 1)
    logprobs = logits[rows[:, None], pos].log_softmax(-1)
    return (logprobs.gather(-1, enc.cont_ids[..., None]).squeeze(-1) * enc.cont_mask).sum(-1)


def _normalizer(enc: EncodedQuestions) -> Tensor:
    """What a cloze row's log-likelihood is divided by: 1, its tokens, or its characters."""
    if enc.normalization == "mean":
        return enc.cont_mask.sum(-1)
    if enc.normalization == "char":
        return enc.cont_chars.clamp(min=1)
    return torch.ones_like(enc.cont_chars)


def forward_logits(
    model: HookedModel, enc: EncodedQuestions, fwd_hooks: Sequence = ()
) -> Float[Tensor, "row pos vocab"]:
    """Run the model on an encoded batch with the given forward hooks (removed afterwards, always)."""
    return model.run_with_hooks(
        enc.tokens, attention_mask=enc.attention_mask, fwd_hooks=list(fwd_hooks), return_type="logits"
    )
