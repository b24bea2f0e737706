"""Small cloze batches of random tokens on which the fast paths check themselves against the plain pass.

Every check (:mod:`neuronllm_tl.models.fast_paths`) reads the logits of a batch at the positions that
scoring reads: the answer position and the option tokens after it. The tokens come from a local
generator, so the caller's global random state is left alone and every model sees the same probe.

Example:
    >>> enc = check_batch(model)              # 2 questions, prompts of 4 and 3 tokens, 2 two-token options
    >>> from neuronllm_tl.scoring.encoding import forward_logits
    >>> read_positions(forward_logits(model, enc), enc).shape   # [row, 2, vocab]: what a fast path must equal
    torch.Size([4, 2, 64])
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device
from neuronllm_tl.scoring.encoded import EncodedQuestions

_OPTION_TOKENS = 2


def random_tokens(model: Any, shape: tuple[int, ...]) -> Tensor:
    """Token ids in ``[1, min(vocab, 50))`` from a generator seeded 0, on the model's device."""
    vocab = int(model.W_U.shape[-1])
    generator = torch.Generator().manual_seed(0)
    return torch.randint(1, min(vocab, 50), shape, generator=generator).to(model_device(model))


def check_batch(model: HookedModel, prompt_lengths: tuple[int, ...] = (4, 3)) -> EncodedQuestions:
    """One question per prompt length (their rows right-padded to the longest), two two-token options each;
    the answer position is the prompt's last token."""
    n_q = len(prompt_lengths)
    width = max(prompt_lengths) + _OPTION_TOKENS
    tokens = random_tokens(model, (2 * n_q, width))
    mask = torch.zeros_like(tokens)
    for q, n in enumerate(prompt_lengths):
        tokens[2 * q + 1, :n] = tokens[2 * q, :n]  # a question's options share its prompt
        mask[2 * q : 2 * q + 2, : n + _OPTION_TOKENS] = 1
    tokens = tokens * mask
    answer_pos = torch.tensor(prompt_lengths, device=tokens.device).repeat_interleave(2) - 1
    cont = torch.arange(1, _OPTION_TOKENS + 1, device=tokens.device)
    cont_ids = tokens.gather(1, answer_pos[:, None] + cont)
    return _batch(tokens, mask, answer_pos, cont_ids, n_q)


def shared_prompt_check_batch(model: HookedModel) -> EncodedQuestions:
    """One question whose two rows share a 2-token prompt (answer position 2), as layer replay captures."""
    tokens = random_tokens(model, (2, 6))
    tokens[1, :3] = tokens[0, :3]
    answer_pos = torch.full((2,), 2, device=tokens.device)
    return _batch(tokens, torch.ones_like(tokens), answer_pos, tokens[:, 3:], 1)


def _batch(tokens: Tensor, mask: Tensor, answer_pos: Tensor, cont_ids: Tensor, n_q: int) -> EncodedQuestions:
    n = tokens.shape[0]
    device = tokens.device
    return EncodedQuestions(
        tokens=tokens,
        attention_mask=mask,
        answer_pos=answer_pos,
        row_question=torch.arange(n_q, device=device).repeat_interleave(n // n_q),
        row_option=torch.arange(n // n_q, device=device).repeat(n_q),
        cont_ids=cont_ids,
        cont_mask=torch.ones_like(cont_ids, dtype=torch.bool),
        cont_chars=torch.zeros(n, dtype=torch.long, device=device),
        letter_ids=tokens[:n_q, : n // n_q],
        option_mask=torch.ones(n_q, n // n_q, dtype=torch.bool, device=device),
        correct=torch.zeros(n_q, dtype=torch.long, device=device),
        score_offset=torch.zeros(n_q, n // n_q, device=device),
        answer_format="cloze",
    )


def read_positions(
    logits: Float[Tensor, "row pos vocab"], enc: EncodedQuestions, *, start: Tensor | None = None
) -> Float[Tensor, "row read vocab"]:
    """The logits of each row at its answer position and the option tokens after it but the last (the
    positions scoring reads); ``start`` overrides where a row's answer position lies in ``logits``."""
    start = enc.answer_pos if start is None else start
    width = enc.cont_ids.shape[1]
    pos = start[:, None] + torch.arange(width, device=logits.device)
    rows = torch.arange(logits.shape[0], device=logits.device)[:, None]
    return logits[rows, pos]


__all__ = ["check_batch", "random_tokens", "read_positions", "shared_prompt_check_batch"]
