"""Questions -> right-padded token batches, and the option scores read from the model's logits.

Two read-outs (``Task.answer_format``):

* ``letter`` (the paper's): one row per question; option score ``s_j`` = logit of option letter j
  at the answer position (the last prompt token). " A" vs "A" is resolved per question by
  tokenizing the prompt followed by the letter; a letter that is not exactly one extra token is
  refused.
* ``cloze`` (lm-evaluation-harness style): one row per (question, option), the prompt followed by
  ``" " + option``; ``s_j`` = sum (or mean) of the log-probabilities of the option's tokens.

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
from neuronllm_tl.models.validation import tokenizer_of
from neuronllm_tl.tasks.task import Question, Task


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
    letter_ids: Int[Tensor, "question option"]
    option_mask: Bool[Tensor, "question option"]
    correct: Int[Tensor, " question"]
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
            letter_ids=self.letter_ids[question_index],
            option_mask=self.option_mask[question_index],
            correct=self.correct[question_index],
            answer_format=self.answer_format,
            normalization=self.normalization,
        )


def option_scores(
    logits: Float[Tensor, "row pos vocab"], enc: EncodedQuestions, *, vocab_normalized: bool = False
) -> Float[Tensor, "question option"]:
    """Score of every option of every question (-inf where a question has fewer options).

    Letter format: the letter's logit, or with ``vocab_normalized`` its log-probability over the whole
    vocabulary (the two differ by a per-question constant, so option softmaxes agree). Cloze format:
    the option's log-likelihood, which is always normalized over the vocabulary.
    """
    rows = torch.arange(enc.n_rows, device=logits.device)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if enc.answer_format == "letter":
        last = logits[rows, enc.answer_pos]
        if vocab_normalized:
            last = last.log_softmax(-1)
        scores = last.gather(-1, enc.letter_ids)
    else:
        n_cont = enc.cont_ids.shape[1]
        pos = (enc.answer_pos[:, None] + torch.arange(n_cont, device=logits.device)).clamp(max=logits.shape[1] - 1)
        logprobs = logits[rows[:, None], pos].log_softmax(-1)
        token_lp = logprobs.gather(-1, enc.cont_ids[..., None]).squeeze(-1) * enc.cont_mask
        row_scores = token_lp.sum(-1)
        if enc.normalization == "mean":
            row_scores = row_scores / enc.cont_mask.sum(-1)
        scores = torch.full(enc.option_mask.shape, float("-inf"), device=logits.device, dtype=logits.dtype)
        scores = scores.index_put((enc.row_question, enc.row_option), row_scores)
    return scores.masked_fill(~enc.option_mask, float("-inf"))


class QuestionEncoder:
    """Tokenizes a task's questions for one model. Stateless apart from a cache of letter tokens."""

    def __init__(self, model: HookedModel, task: Task) -> None:
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

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

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

    def encode(self, questions: Sequence[Question]) -> EncodedQuestions:
        """The questions as one right-padded batch (letter: a row each; cloze: a row per option)."""
        if not questions:
            raise ValueError(f"task {self.task.name!r}: no questions to encode.")
        cloze = self.task.answer_format == "cloze"
        seqs: list[list[int]] = []
        answer_pos, row_q, row_opt, conts = [], [], [], []
        n_opt = max(len(q.options) for q in questions)
        letter_ids = torch.zeros(len(questions), n_opt, dtype=torch.long)
        option_mask = torch.zeros(len(questions), n_opt, dtype=torch.bool)
        for qi, q in enumerate(questions):
            prompt_ids = self.prefix + self._ids(q.prompt)
            option_mask[qi, : len(q.options)] = True
            if cloze:
                for oi, cont in enumerate(self.continuation_ids(q)):
                    seqs.append(prompt_ids + cont)
                    conts.append(cont)
                    answer_pos.append(len(prompt_ids) - 1)
                    row_q.append(qi)
                    row_opt.append(oi)
            else:
                letter_ids[qi, : len(q.options)] = torch.tensor(self.letter_ids(q, prompt_ids[len(self.prefix) :]))
                seqs.append(prompt_ids)
                conts.append([])
                answer_pos.append(len(prompt_ids) - 1)
                row_q.append(qi)
                row_opt.append(-1)
        tokens, mask, cont_ids, cont_mask = self._pad(seqs, conts)
        return EncodedQuestions(
            tokens=tokens,
            attention_mask=mask,
            answer_pos=torch.tensor(answer_pos),
            row_question=torch.tensor(row_q),
            row_option=torch.tensor(row_opt),
            cont_ids=cont_ids,
            cont_mask=cont_mask,
            letter_ids=letter_ids,
            option_mask=option_mask,
            correct=torch.tensor([q.correct for q in questions]),
            answer_format=self.task.answer_format,
            normalization=self.task.cloze_normalization,
        )

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


def forward_logits(
    model: HookedModel, enc: EncodedQuestions, fwd_hooks: Sequence = ()
) -> Float[Tensor, "row pos vocab"]:
    """Run the model on an encoded batch with the given forward hooks (removed afterwards, always)."""
    return model.run_with_hooks(
        enc.tokens, attention_mask=enc.attention_mask, fwd_hooks=list(fwd_hooks), return_type="logits"
    )
