"""Where a steering acts: the answer position of every row, also in a padded batch.

``positions="answer"`` means each row's last real token. Inside ``score_task`` / ``evaluate`` the batch's
answer positions are passed explicitly. On a user's own call under :func:`~neuronllm_tl.steering.steer`
the steering must find them itself, and TransformerLens pads batches on the right, so "the last column" is
a pad token for every row shorter than the longest. So, within ``steer``, an :class:`AnswerPositions`
watches each forward call of the model (a forward pre-hook, removed on exit):

* an ``attention_mask`` passed with the call places each row's last real token (left or right padding;
  with a key/value cache, the mask spans the cache and the new tokens, and the positions are those of
  the new tokens);
* a list of prompts (strings) is tokenized as TransformerLens will pad it, and each row's length places it;
* a token tensor without a mask is refused when its rows end in padding of unequal length (the pad token
  at the end of some rows but not all): pass ``attention_mask=`` or explicit ``positions=``;
* otherwise (one row, or rows of equal length) the last position is each row's answer position.

Example:
    >>> tokens = model.to_tokens(["what color is the sky ?", "the cat is"])   # right-padded
    >>> mask = (tokens != model.tokenizer.pad_token_id).long()
    >>> mask
    tensor([[1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 0, 0, 0]])
    >>> with nl.steer(model, neurons, mode="degrade"):
    ...     logits = model(tokens, attention_mask=mask)        # each row steered at its last real token
    >>> with nl.steer(model, neurons, mode="degrade"):
    ...     logits = model(tokens)                             # without the mask it cannot tell
    Traceback (most recent call last):
    ...
    ValueError: nl.steer cannot place the answer position of this batch: some rows end in the pad token and ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor

Positions = Literal["answer", "all"] | Int[Tensor, " row"]


def check_positions(positions: Any) -> Positions:
    """``positions`` if it is ``"answer"``, ``"all"`` or a 1-D integer tensor; a clear error otherwise."""
    if isinstance(positions, Tensor):
        if positions.dim() != 1 or positions.dtype not in (torch.int64, torch.int32):
            raise ValueError("positions as a tensor must be 1-D integer, one position per batch row.")
        return positions
    if isinstance(positions, str) and positions in ("answer", "all"):
        return "answer" if positions == "answer" else "all"
    if isinstance(positions, str) and positions in ("last", "prompt"):
        raise ValueError(
            f"positions={positions!r} is no longer a steering position: use positions='answer' (the answer "
            "position; on a raw model call, the last real token of each row) or 'all'."
        )
    raise ValueError(
        f"positions must be 'answer', 'all' or a 1-D integer tensor of one position per row, got {positions!r}."
    )


def last_real_positions(attention_mask: Tensor, n_new: int | None = None) -> Int[Tensor, " row"]:
    """Each row's last position whose mask is 1, counted within the last ``n_new`` columns (the tokens of
    this call, when the mask also spans a key/value cache); refused where that token is not in them."""
    width = attention_mask.shape[1]
    columns = torch.arange(width, device=attention_mask.device)
    last = torch.where(attention_mask.bool(), columns, -1).max(1).values
    offset = width - (width if n_new is None else n_new)
    if bool((last < offset).any()):
        raise ValueError("a row of the batch has no real token in this call; check the attention mask.")
    return last - offset


class AnswerPositions:
    """The answer positions of the forward call in progress (None: the last position of every row)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.current: Tensor | None = None

    def watch(self, module: Any, args: tuple, kwargs: dict) -> None:
        tokens = args[0] if args else kwargs.get("input", kwargs.get("tokens"))
        mask = kwargs.get("attention_mask")
        self.current = None
        if mask is not None and isinstance(tokens, Tensor) and tokens.dim() == 2:
            self.current = last_real_positions(mask, tokens.shape[1])
        elif isinstance(tokens, list) and len(tokens) > 1 and all(isinstance(t, str) for t in tokens):
            self.current = self._string_positions(tokens)
        elif isinstance(tokens, Tensor) and tokens.dim() == 2 and tokens.shape[0] > 1:
            self._refuse_unequal_padding(tokens)

    def forget(self, *args: Any) -> None:
        self.current = None

    def _string_positions(self, prompts: list[str]) -> Tensor | None:
        lengths = torch.tensor([self.model.to_tokens(p).shape[1] for p in prompts])
        if bool((lengths == lengths.max()).all()) or _padding_side(self.model) == "left":
            return None
        return lengths - 1

    def _refuse_unequal_padding(self, tokens: Tensor) -> None:
        pad = getattr(getattr(self.model, "tokenizer", None), "pad_token_id", None)
        if pad is None:
            return
        ends_in_pad = tokens[:, -1] == pad
        if bool(ends_in_pad.any()) and not bool(ends_in_pad.all()):
            raise ValueError(
                "nl.steer cannot place the answer position of this batch: some rows end in the pad token and "
                "others do not, so the last column is padding for the shorter rows. Pass the attention mask "
                "with the call (model(tokens, attention_mask=mask)), or build the steering with explicit "
                "positions=tensor of each row's last real token."
            )


def _padding_side(model: Any) -> str:
    return str(getattr(getattr(model, "tokenizer", None), "padding_side", "right"))


@contextmanager
def watching_answer_positions(model: Any) -> Iterator[AnswerPositions]:
    """An :class:`AnswerPositions` kept current by every forward call of ``model`` inside the block."""
    tracker = AnswerPositions(model)
    handles = []
    if hasattr(model, "register_forward_pre_hook"):
        handles.append(model.register_forward_pre_hook(tracker.watch, with_kwargs=True))
        handles.append(model.register_forward_hook(tracker.forget))
    try:
        yield tracker
    finally:
        for handle in handles:
            handle.remove()


__all__ = [
    "AnswerPositions",
    "Positions",
    "check_positions",
    "last_real_positions",
    "watching_answer_positions",
]
