"""The variant-replay engine shared by exact integrated gradients and exact ablation.

Both methods run many *variants* of each question: copies that differ only in what a hook does at the
answer position (IG: one layer's activation scaled by alpha; ablation: one neuron set to its baseline).
A variant has the rows of its question (one in letter format, one per option in cloze format), and
:func:`variant_passes` groups (question, variant) pairs into passes of at most ``max_rows`` rows, by
one of three replays (``replay="auto"`` takes the fastest the model supports, :func:`replay_mode`):

* ``full``: every pair reruns its whole sequences (any model);
* ``prefix``: a variant changes nothing before the answer position, which causal attention hides
  from the earlier positions. So each question's prompt before its answer position runs once, and
  its Hugging Face key/value cache serves every variant. Only the answer position (and, in cloze
  format, the option tokens) is replayed. This needs a model that returns such a cache
  (:func:`supports_prefix_cache`: Hugging Face-backed ``TransformerBridge``s do; native bridges and
  ``HookedTransformer`` do not);
* ``layer``: prefix replay that also starts each variant at the layer it changes, from the clean
  residual, attending to one shared copy of the prompt's cache
  (:mod:`~neuronllm_tl.attribution.layer_replay`: Llama-family Hugging Face bridges).

Example:
    >>> mode = replay_mode(model, "auto")      # the tiny native bridge returns no key/value cache
    >>> mode
    'full'
    >>> passes = list(variant_passes(model, enc, 3, max_rows=64, mode=mode))   # 3 variants of every question
    >>> sum(p.sub.n_questions for p in passes) == 3 * enc.n_questions, max(p.sub.n_rows for p in passes) <= 64
    (True, True)
    >>> p = passes[0]                # question i of p.sub is variant p.variant[i] of question p.question[i]
    >>> logits = p.logits(model)     # hooks=..., built for the rows of p.hook_rows()
    >>> logits.shape[0] == p.sub.n_rows
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.attribution.layer_replay import (
    QuestionState,
    capture_question,
    layer_replay_problem,
    letter_unembedding_on,
    replayed_logits,
)
from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.models.fast_paths import fast_path_on, logit_difference, rule_out
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.scoring.check_batches import read_positions, shared_prompt_check_batch
from neuronllm_tl.scoring.encoding import EncodedQuestions, forward_logits
from neuronllm_tl.scoring.kv_cache import (
    cache_paths_fit,
    expand_cache,
    run_with_cache_kv,
    split_at_answer,
    supports_prefix_cache,
)

Replay = Literal["auto", "layer", "prefix", "full"]
REPLAYS: tuple[str, ...] = ("auto", "layer", "prefix", "full")
ReplayMode = Literal["layer", "prefix", "full"]


def check_replay(replay: str, max_rows: int) -> None:
    check_positive_int(max_rows, "max_rows")
    if replay not in REPLAYS:
        raise ValueError(f"replay must be one of {REPLAYS}, got {replay!r}.")


def replay_mode(model: HookedModel, replay: str, n_tokens: int = 0) -> ReplayMode:
    """The replay that ``replay`` runs on ``model`` for questions of ``n_tokens``: ``"auto"`` takes the fastest the
    model supports (prefix replay only within a sliding window: :func:`cache_paths_fit`); asking for one it
    does not support is refused, with the reason."""
    if replay == "full":
        return "full"
    if replay in ("auto", "layer"):
        problem = layer_replay_problem(model)
        if problem is None:
            return "layer"
        if replay == "layer":
            raise ValueError(f"replay='layer' cannot run on {type(model).__name__}: {problem}. Use 'prefix' or 'auto'.")
    if prefix_replay_on(model) and cache_paths_fit(model, n_tokens):
        return "prefix"
    if replay == "prefix":
        raise ValueError(
            f"replay='prefix' needs a model that returns a Hugging Face key/value cache that reproduces its own "
            f"logits; {type(model).__name__} here does not (native bridges, HookedTransformer, or its self-check "
            f"failed: `neuronllm-tl env` says which). Use replay='full' or 'auto'."
        )
    return "full"


def prefix_replay_on(model: HookedModel) -> bool:
    """Whether prefix replay runs on ``model``: it returns a Hugging Face cache, and a suffix replayed after
    the cached prompt reproduces the model's own logits (checked once per model object)."""
    if not supports_prefix_cache(model):
        return rule_out(model, "prefix_replay", "the model returns no Hugging Face key/value cache")
    return fast_path_on(model, "prefix_replay", _check_prefix_replay)


def _check_prefix_replay(model: HookedModel) -> str | None:
    question = shared_prompt_check_batch(model)
    with torch.no_grad():
        want = read_positions(forward_logits(model, question), question)
        (replayed,) = _prefix_passes(model, question, 0, 1, question.n_rows)
        got = read_positions(replayed.logits(model), replayed.sub)
    return logit_difference(got, want)


@dataclass
class VariantPass:
    """One pass: question i of ``sub`` is variant ``variant[i]`` of the batch's question ``question[i]``.

    With prefix replay, ``sub`` holds only the tokens from the answer position on (``answer_pos`` is 0)
    and ``past`` is the prompt's key/value cache, one copy per row. With layer replay, ``sub`` is the
    same suffix, variant i of the pass starts at block ``start[i]`` (the layer it changes; the variants are
    ordered by it) from ``state`` (:mod:`~neuronllm_tl.attribution.layer_replay`); with ``columns``, the
    logits are those unembedding columns only and ``sub.letter_ids`` index into them.
    """

    sub: EncodedQuestions
    variant: Int[Tensor, " sub_question"]
    question: Int[Tensor, " sub_question"]
    past: Any = None
    state: QuestionState | None = None
    start: Tensor | None = None
    columns: Tensor | None = None

    def hook_rows(self) -> tuple[Int[Tensor, " replayed"], Int[Tensor, " replayed"]]:
        """(answer position, sub-question) of each row the model runs: hooks index these rows. They are
        ``sub``'s rows, except in layer replay, where rows reading the same tokens are run once."""
        if self.state is None:
            return self.sub.answer_pos, self.sub.row_question
        n, k = self.state.n_run, self.sub.n_questions
        sub_question = torch.arange(k, device=self.sub.answer_pos.device).repeat_interleave(n)
        return torch.zeros_like(sub_question), sub_question

    def logits(self, model: HookedModel, hooks: Sequence = ()) -> Float[Tensor, "row pos vocab"]:
        """The logits of ``sub``'s rows, with ``hooks`` (built for :meth:`hook_rows`) attached."""
        if self.state is not None and self.start is not None:
            out = replayed_logits(model, self.state, self.start, hooks, self.columns)
            return out[:, self.state.replayed_row.to(out.device)].flatten(0, 1)
        if self.past is None:
            return forward_logits(model, self.sub, hooks)
        # suffix rows after a shared prefix: right-padded and causal, so no attention mask is needed
        return run_with_cache_kv(model, self.sub.tokens, self.past, hooks)


def variant_passes(
    model: HookedModel,
    enc: EncodedQuestions,
    n_variants: int,
    *,
    max_rows: int,
    mode: ReplayMode,
    variant_layer: Int[Tensor, " variant"] | None = None,
    letter_columns: bool = False,
) -> Iterator[VariantPass]:
    """Every (question, variant) pair of ``enc`` once, at most ``max_rows`` rows a pass (at least one pair).

    Layer replay needs ``variant_layer`` (the layer each variant changes: its pass starts there) and,
    with ``letter_columns`` (letter format, an objective of option scores only), unembeds only the letters.
    """
    if mode == "full":
        yield from _full_passes(enc, n_variants, max_rows)
        return
    for q in range(enc.n_questions):
        question = enc.take_questions(torch.tensor([q]))
        if mode == "prefix":
            yield from _prefix_passes(model, question, q, n_variants, max_rows)
        else:
            if variant_layer is None:
                raise ValueError("layer replay needs variant_layer, the layer each variant changes.")
            yield from _layer_passes(model, question, q, variant_layer, max_rows, letter_columns)


def _full_passes(enc: EncodedQuestions, n_variants: int, max_rows: int) -> Iterator[VariantPass]:
    rows_per_q = torch.bincount(enc.row_question, minlength=enc.n_questions)
    for chunk in chunks_by_rows(rows_per_q.repeat(n_variants), max_rows):
        chunk = chunk.to(enc.tokens.device)
        question = chunk % enc.n_questions
        yield VariantPass(enc.take_questions(question), chunk // enc.n_questions, question)


def _prefix_passes(
    model: HookedModel, question: EncodedQuestions, q: int, n_variants: int, max_rows: int
) -> Iterator[VariantPass]:
    suffix, prefix_cache = split_at_answer(model, question)
    for chunk in chunks_by_rows(torch.full((n_variants,), suffix.n_rows), max_rows):
        sub = suffix.take_questions(torch.zeros(len(chunk), dtype=torch.long))
        qs = torch.full((len(chunk),), q, device=question.tokens.device)
        yield VariantPass(sub, chunk.to(qs.device), qs, expand_cache(prefix_cache, sub.n_rows))


def _layer_passes(
    model: HookedModel, question: EncodedQuestions, q: int, variant_layer: Tensor, max_rows: int, letters: bool
) -> Iterator[VariantPass]:
    suffix, state = capture_question(model, question)
    columns = None
    if letters and suffix.answer_format == "letter" and letter_unembedding_on(model):
        columns = suffix.letter_ids[0]
        suffix = replace(suffix, letter_ids=torch.arange(len(columns), device=columns.device)[None])
    variant_layer = variant_layer.cpu()
    order = torch.sort(variant_layer, stable=True).indices
    # unpacked rows, not packed ones: every variant's logits are read as [replayed rows, width, vocab]
    for chunk in chunks_by_rows(torch.full((len(order),), state.n_replayed), max_rows):
        sub = suffix.take_questions(torch.zeros(len(chunk), dtype=torch.long))
        qs = torch.full((len(chunk),), q, device=question.tokens.device)
        variants = order[chunk]
        yield VariantPass(sub, variants.to(qs.device), qs, state=state, start=variant_layer[variants], columns=columns)


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
