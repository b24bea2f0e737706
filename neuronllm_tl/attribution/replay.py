"""The variant-replay engine shared by exact integrated gradients and exact ablation.

Both methods run many *variants* of each question: copies that differ only in what a hook does at the
answer position (IG: one layer's activation scaled by alpha; ablation: one neuron set to its baseline).
A variant has the rows of its question (one in letter format, one per option in cloze format), and
:func:`variant_passes` groups (question, variant) pairs into passes of at most ``max_rows`` rows, by
one of two replays:

* ``full``: every pair reruns its whole sequences (any model);
* ``prefix``: a variant changes nothing before the answer position, which causal attention hides
  from the earlier positions. So each question's prompt before its answer position runs once, and
  its Hugging Face key/value cache serves every variant. Only the answer position (and, in cloze
  format, the option tokens) is replayed. This needs a model that returns such a cache
  (:func:`supports_prefix_cache`: Hugging Face-backed ``TransformerBridge``s do; native bridges and
  ``HookedTransformer`` do not, and ``replay="auto"`` falls back to ``full`` for them).

Example:
    >>> for p in variant_passes(model, enc, n_variants, max_rows=64, prefix=use_prefix(model, "auto")):
    ...     logits = p.logits(model, hooks_for(p.sub, p.variant))   # question i of p.sub is variant p.variant[i]
"""

from __future__ import annotations

import copy
import inspect
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device
from neuronllm_tl.scoring.encoding import EncodedQuestions, forward_logits

Replay = Literal["auto", "prefix", "full"]


def check_replay(replay: str, max_rows: int) -> None:
    check_positive_int(max_rows, "max_rows")
    if replay not in ("auto", "prefix", "full"):
        raise ValueError(f"replay must be 'auto', 'prefix' or 'full', got {replay!r}.")


def use_prefix(model: HookedModel, replay: str) -> bool:
    """Whether ``replay`` runs by prefix replay on ``model`` (``"prefix"`` without a cache is refused)."""
    use = replay != "full" and supports_prefix_cache(model)
    if replay == "prefix" and not use:
        raise ValueError(
            f"replay='prefix' needs a model that returns a Hugging Face key/value cache; "
            f"{type(model).__name__} here does not (native bridges, HookedTransformer). Use replay='full' or 'auto'."
        )
    return use


@dataclass
class VariantPass:
    """One pass: question i of ``sub`` is variant ``variant[i]`` of the batch's question ``question[i]``.

    With prefix replay, ``sub`` holds only the tokens from the answer position on (``answer_pos`` is 0)
    and ``past`` is the prompt's key/value cache, one copy per row.
    """

    sub: EncodedQuestions
    variant: Int[Tensor, " sub_question"]
    question: Int[Tensor, " sub_question"]
    past: Any = None

    def logits(self, model: HookedModel, hooks: Sequence = ()) -> Float[Tensor, "row pos vocab"]:
        if self.past is None:
            return forward_logits(model, self.sub, hooks)
        # suffix rows after a shared prefix: right-padded and causal, so no attention mask is needed
        return model.run_with_hooks(
            self.sub.tokens, fwd_hooks=list(hooks), return_type="logits", past_key_values=self.past
        )


def variant_passes(
    model: HookedModel, enc: EncodedQuestions, n_variants: int, *, max_rows: int, prefix: bool
) -> Iterator[VariantPass]:
    """Every (question, variant) pair of ``enc`` once, at most ``max_rows`` rows a pass (at least one pair)."""
    device = enc.tokens.device
    if not prefix:
        rows_per_q = torch.bincount(enc.row_question, minlength=enc.n_questions)
        for chunk in chunks_by_rows(rows_per_q.repeat(n_variants), max_rows):
            chunk = chunk.to(device)
            question = chunk % enc.n_questions
            yield VariantPass(enc.take_questions(question), chunk // enc.n_questions, question)
        return
    for q in range(enc.n_questions):
        suffix, prefix_cache = split_at_answer(model, enc.take_questions(torch.tensor([q])))
        for chunk in chunks_by_rows(torch.full((n_variants,), suffix.n_rows), max_rows):
            sub = suffix.take_questions(torch.zeros(len(chunk), dtype=torch.long))
            question = torch.full((len(chunk),), q, device=device)
            yield VariantPass(sub, chunk.to(device), question, expand_cache(prefix_cache, sub.n_rows))


def split_at_answer(model: HookedModel, question: EncodedQuestions) -> tuple[EncodedQuestions, Any]:
    """(the question from its answer position on, the key/value cache of the tokens before it)."""
    a = int(question.answer_pos[0])
    if a < 1 or not bool((question.answer_pos == a).all()):
        raise ValueError("prefix replay needs at least one token before the answer position, shared by all rows.")
    with torch.no_grad():
        _, cache = model(question.tokens[:1, :a], return_type="logits_and_cache")
    suffix = replace(
        question,
        tokens=question.tokens[:, a:],
        attention_mask=question.attention_mask[:, a:],
        answer_pos=torch.zeros_like(question.answer_pos),
    )
    return suffix, cache


def expand_cache(cache: Any, n_rows: int) -> Any:
    """A copy of a one-row key/value cache repeated to ``n_rows`` rows (the forward pass appends to it)."""
    out = copy.deepcopy(cache)
    out.batch_repeat_interleave(n_rows)
    return out


def chunks_by_rows(rows_per_item: Int[Tensor, " item"], max_rows: int) -> list[Tensor]:
    """Consecutive item indices grouped so each group has at most ``max_rows`` rows (at least one item)."""
    chunks, start, total = [], 0, 0
    counts = rows_per_item.tolist()
    for i, c in enumerate(counts):
        if total and total + c > max_rows:
            chunks.append(torch.arange(start, i))
            start, total = i, 0
        total += c
    chunks.append(torch.arange(start, len(counts)))
    return chunks


_PREFIX_CACHE_SUPPORT: weakref.WeakKeyDictionary[HookedModel, bool] = weakref.WeakKeyDictionary()
"""supports_prefix_cache's answer per model object, forgotten when the model is (never stored on it)."""


def supports_prefix_cache(model: HookedModel) -> bool:
    """Whether ``model`` returns a Hugging Face key/value cache that can be replayed (HF-backed bridges).

    Asked once per model object with a two-token forward pass, and remembered beside the model (in a
    weak-keyed table), not on it.
    """
    try:
        return _PREFIX_CACHE_SUPPORT[model]
    except KeyError:
        ok = _probe_prefix_cache(model)
    except TypeError:  # not weak-referenceable: ask every time
        return _probe_prefix_cache(model)
    _PREFIX_CACHE_SUPPORT[model] = ok
    return ok


def _probe_prefix_cache(model: HookedModel) -> bool:
    if not _takes_past_key_values(model):
        return False
    tokens = torch.zeros(1, 2, dtype=torch.long, device=model_device(model))
    try:
        with torch.no_grad():
            out = model(tokens, return_type="logits_and_cache")
    except ValueError:  # TransformerBridge before TL 4: "Invalid return_type: logits_and_cache"
        return False
    # native TL 4 bridges return (logits, None): no Hugging Face cache to replay
    return isinstance(out, tuple) and len(out) == 2 and hasattr(out[1], "batch_repeat_interleave")


def _takes_past_key_values(model: HookedModel) -> bool:
    """Whether ``forward`` accepts ``past_key_values`` (by name or ``**kwargs``). HookedTransformer's does
    not: asked for ``"logits_and_cache"`` it would only log "Invalid return_type" and return None."""
    try:
        params = inspect.signature(getattr(model, "forward", model)).parameters.values()
    except (TypeError, ValueError):  # no readable signature: let a forward pass answer
        return True
    return any(p.name == "past_key_values" or p.kind is p.VAR_KEYWORD for p in params)
