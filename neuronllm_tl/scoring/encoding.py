"""Questions -> right-padded token batches (:class:`~neuronllm_tl.scoring.encoded.EncodedQuestions`).

Two answer formats (``Task.answer_format``):

* ``letter`` (the paper's): one row per question; option j is read as the logit of its letter at the
  answer position (the last prompt token). " A" vs "A" is resolved per question by tokenizing the
  prompt followed by the letter; a letter that is not exactly one extra token is refused.
* ``cloze`` (lm-evaluation-harness style): one row per (question, option), the prompt followed by
  ``" " + option``; option j is read as its tokens' log-likelihood, normalised as the task says.
  A generation task (``generate``) is encoded as cloze: its options are the reference then the distractors.

A calibrated task (``Task.calibration``) also gets its offsets here, from
:class:`~neuronllm_tl.scoring.calibration.Calibrator`. How the scores are read: :mod:`~neuronllm_tl.scoring.encoded`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from neuronllm_tl.models.fingerprint import model_fingerprint
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import tokenizer_of
from neuronllm_tl.scoring.calibration import Calibrator
from neuronllm_tl.scoring.encoded import EncodedQuestions, forward_logits, option_scores
from neuronllm_tl.tasks.task import Question, Task


class QuestionEncoder:
    """Tokenizes a task's questions for one model. Stateless apart from a cache of letter tokens."""

    def __init__(self, model: HookedModel, task: Task, *, calibration_store: dict | None = None) -> None:
        """``calibration_store``: a dict that keeps calibration offsets across encoders of this model (e.g. a
        :class:`~neuronllm_tl.scoring.shared_prompt.PromptCache`'s), so scoring a task many times computes them once."""
        self.tokenizer = tokenizer_of(model)
        self.task = task
        cfg = model.cfg
        prepend = task.prepend_bos if task.prepend_bos is not None else getattr(cfg, "default_prepend_bos", True)
        bos = getattr(self.tokenizer, "bos_token_id", None)
        self.prefix: list[int] = [bos] if prepend and bos is not None else []
        self.prepend_bos = bool(self.prefix)
        self.n_ctx = getattr(cfg, "n_ctx", None)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        self.pad_id = pad if pad is not None else (getattr(self.tokenizer, "eos_token_id", None) or 0)
        self.unk_id = getattr(self.tokenizer, "unk_token_id", None)
        self.calibrator = Calibrator(model, self, calibration_store, self._calibration_scope(model))

    def _calibration_scope(self, model: HookedModel) -> tuple:
        """What decides a calibration unit's scores besides its text: the weights and how rows are read."""
        task = self.task
        return (model_fingerprint(model), tuple(self.prefix), task.answer_format, task.cloze_normalization)

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, q: Question) -> list[int]:
        """The question's prompt as token ids (with the BOS prefix when the task prepends it)."""
        return self.prefix + self._ids(q.prompt)

    def letter_ids(self, q: Question, prompt_ids: list[int]) -> list[int]:
        letters = self.task.template.letters[: len(q.options)]
        for form in (" {}", "{}"):
            ids = []
            for letter in letters:
                full = self._ids(q.prompt + form.format(letter))
                if len(full) != len(prompt_ids) + 1 or full[:-1] != prompt_ids:
                    break
                ids.append(full[-1])
            else:
                if len(set(ids)) == len(ids) and self.unk_id not in ids:
                    return ids
        raise ValueError(
            f"task {self.task.name!r}: option letters {list(letters)} are not distinct single tokens after "
            f"the answer prefix {self.task.template.answer_prefix!r} for this tokenizer, so letter "
            "logits cannot be read. Use answer_format='cloze', or a template whose letters (or answer "
            "prefix) tokenize to one token each."
        )

    def continuation_ids(self, q: Question) -> list[list[int]]:
        prefix = self.task.template.continuation_prefix
        conts = [self._ids(prefix + o) for o in q.options]
        for o, ids in zip(q.options, conts, strict=True):
            if not ids:
                raise ValueError(f"task {self.task.name!r}: option {o!r} tokenizes to no tokens; it cannot be scored.")
            if self.unk_id is not None and self.unk_id in ids:
                raise ValueError(
                    f"task {self.task.name!r}: option {o!r} contains text this tokenizer maps to its unknown "
                    "token, so options could not be told apart; rewrite the option or use another model."
                )
        if len({tuple(c) for c in conts}) != len(conts):
            raise ValueError(
                f"task {self.task.name!r}: options {list(q.options)} tokenize to identical token sequences "
                "for this tokenizer, so the model cannot tell them apart; make the options distinct."
            )
        return conts

    def encode(self, questions: Sequence[Question], *, calibrate: bool = True) -> EncodedQuestions:
        """The questions as one right-padded batch (letter: a row each; cloze: a row per option), with the
        task's calibration offsets (``calibrate=False``: zeros, and no model pass)."""
        if not questions:
            raise ValueError(f"task {self.task.name!r}: no questions to encode.")
        rows = [row for qi, q in enumerate(questions) for row in self._rows(qi, q)]
        n_opt = max(len(q.options) for q in questions)
        letter_ids = torch.zeros(len(questions), n_opt, dtype=torch.long)
        option_mask = torch.zeros(len(questions), n_opt, dtype=torch.bool)
        for qi, q in enumerate(questions):
            option_mask[qi, : len(q.options)] = True
            if self.task.answer_format == "letter":  # one row per question: its tokens are the prompt's
                prompt_ids = rows[qi][0][len(self.prefix) :]
                letter_ids[qi, : len(q.options)] = torch.tensor(self.letter_ids(q, prompt_ids))
        tokens, mask, cont_ids, cont_mask = self._pad([r[0] for r in rows], [r[1] for r in rows])
        offsets = self.calibrator.offsets(questions, n_opt) if calibrate else torch.zeros(len(questions), n_opt)
        return EncodedQuestions(
            tokens=tokens,
            attention_mask=mask,
            answer_pos=torch.tensor([r[2] for r in rows]),
            row_question=torch.tensor([r[3] for r in rows]),
            row_option=torch.tensor([r[4] for r in rows]),
            cont_ids=cont_ids,
            cont_mask=cont_mask,
            cont_chars=torch.tensor([r[5] for r in rows]),
            letter_ids=letter_ids,
            option_mask=option_mask,
            correct=torch.tensor([q.correct for q in questions]),
            score_offset=offsets,
            answer_format="letter" if self.task.answer_format == "letter" else "cloze",  # generate: scored as cloze
            normalization=self.task.cloze_normalization,
        )

    def _rows(self, qi: int, q: Question) -> list[tuple[list[int], list[int], int, int, int, int]]:
        """(tokens, continuation, answer position, question, option, continuation characters) per row."""
        prompt_ids = self.prompt_ids(q)
        answer = len(prompt_ids) - 1
        if self.task.answer_format == "letter":
            return [(prompt_ids, [], answer, qi, -1, 0)]
        prefix = self.task.template.continuation_prefix
        return [
            (prompt_ids + cont, cont, answer, qi, oi, len(prefix + option))
            for oi, (option, cont) in enumerate(zip(q.options, self.continuation_ids(q), strict=True))
        ]

    def _pad(self, seqs: list[list[int]], conts: list[list[int]]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(tokens, attention mask, continuation ids, continuation mask), right-padded."""
        width = max(len(s) for s in seqs)
        if self.n_ctx is not None and width > self.n_ctx:
            raise ValueError(
                f"task {self.task.name!r}: a question is {width} tokens long but the model's context is "
                f"{self.n_ctx}; use fewer demonstrations, shorter examples, or a model with a longer context."
            )
        tokens = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros(len(seqs), width, dtype=torch.long)
        n_cont = max(1, max(len(c) for c in conts))
        cont_ids = torch.zeros(len(seqs), n_cont, dtype=torch.long)
        cont_mask = torch.zeros(len(seqs), n_cont, dtype=torch.bool)
        for r, (s, c) in enumerate(zip(seqs, conts, strict=True)):
            tokens[r, : len(s)] = torch.tensor(s)
            mask[r, : len(s)] = 1
            if c:
                cont_ids[r, : len(c)] = torch.tensor(c)
                cont_mask[r, : len(c)] = True
        return tokens, mask, cont_ids, cont_mask


__all__ = ["EncodedQuestions", "QuestionEncoder", "forward_logits", "option_scores"]
