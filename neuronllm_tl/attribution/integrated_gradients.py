"""Exact per-layer integrated gradients (the paper's Eq. 1), every (layer, step) variant batched.

For each layer l separately, scale that layer's answer-position activation ``a_l`` by
``alpha = k/m`` (k = 1..m) while the other layers run normally, and take
``IG = a_l * (1/m) * sum_k dF/da_l (alpha_k a_l)`` (a right Riemann sum). Every (layer, step) variant
is a row of a batch (:class:`~neuronllm_tl.attribution.probes.AnswerProbe` scales only its own
layer), so the result equals the one-layer, one-step-at-a-time loop of Knowledge Neurons / QRNCA
(:mod:`neuronllm_tl.testing.reference`) without its Python loop over passes.

Prefix replay: the variants only change the answer-position activation, which causal attention hides
from earlier positions, so a model that returns a Hugging Face key/value cache
(``return_type="logits_and_cache"``) runs each question's prompt before the answer position once and
replays only the answer position (and the option tokens in cloze format) for every variant.

Example:
    >>> out = integrated_gradients(model, model_spec(model), enc, steps=16, objective="vocab_prob")
    >>> out.attributions.shape  # [question, layer, d_mlp]
"""

from __future__ import annotations

import copy
import inspect
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from jaxtyping import Int
from torch import Tensor

from neuronllm_tl.attribution.probes import AnswerProbe, BatchAttribution, probed_objective
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import ModelSpec, model_device
from neuronllm_tl.scoring.encoding import EncodedQuestions, forward_logits
from neuronllm_tl.scoring.objectives import Objective, get_objective

Replay = Literal["auto", "prefix", "full"]


def integrated_gradients(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    steps: int = 16,
    layers: Sequence[int] | None = None,
    max_rows: int = 64,
    replay: Replay = "auto",
    objective: str | Objective = "contrastive",
) -> BatchAttribution:
    """Exact per-layer integrated gradients of ``objective``, at most ``max_rows`` rows a pass.

    ``replay="prefix"`` replays only the answer position after each question's cached prompt (see the
    module docstring); ``"full"`` reruns whole sequences; ``"auto"`` uses the prefix cache when the model
    provides one (Hugging Face-backed ``TransformerBridge``s do; native bridges and ``HookedTransformer``
    fall back to ``"full"``). The result does not depend on ``max_rows`` or ``replay``.
    """
    fn = get_objective(objective)
    layer_list = _checked_layers(spec, steps=steps, layers=layers, max_rows=max_rows, replay=replay)
    with torch.no_grad():
        f, scores = probed_objective(forward_logits(model, enc), enc, fn)
    acc = _IGAccumulator(enc.n_questions, spec, enc.tokens.device)
    variants = _Variants(torch.tensor(layer_list, device=enc.tokens.device), steps)
    passes = _prefix_passes if _use_prefix(model, replay) else _full_passes
    passes(model, spec, enc, variants, acc, max_rows=max_rows, objective=fn)
    return BatchAttribution(acc.result(steps), f, scores)


def _checked_layers(
    spec: ModelSpec, *, steps: int, layers: Sequence[int] | None, max_rows: int, replay: str
) -> list[int]:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}.")
    if replay not in ("auto", "prefix", "full"):
        raise ValueError(f"replay must be 'auto', 'prefix' or 'full', got {replay!r}.")
    layer_list = list(range(spec.n_layers)) if layers is None else [int(layer) for layer in layers]
    bad = [layer for layer in layer_list if not 0 <= layer < spec.n_layers]
    if bad:
        raise ValueError(f"layers {bad} are out of range for a model with {spec.n_layers} layers.")
    return layer_list


def _use_prefix(model: HookedModel, replay: str) -> bool:
    use = replay != "full" and supports_prefix_cache(model)
    if replay == "prefix" and not use:
        raise ValueError(
            f"replay='prefix' needs a model that returns a Hugging Face key/value cache; "
            f"{type(model).__name__} here does not (native bridges, HookedTransformer). Use replay='full' or 'auto'."
        )
    return use


@dataclass
class _Variants:
    """Variant v scales layer ``layers[v // steps]`` by ``alpha = (v % steps + 1) / steps``."""

    layers: Tensor
    steps: int

    def __len__(self) -> int:
        return len(self.layers) * self.steps

    def layer(self, v: Tensor) -> Tensor:
        return self.layers[v // self.steps]

    def alpha(self, v: Tensor) -> Tensor:
        return ((v % self.steps) + 1).float() / self.steps


class _IGAccumulator:
    """Running sums of gradients over steps, per (question, layer), and the unscaled activations."""

    def __init__(self, n_questions: int, spec: ModelSpec, device: torch.device) -> None:
        self.n_q, self.n_l, self.device = n_questions, spec.n_layers, device
        self.grad_sum = torch.zeros(n_questions * spec.n_layers, spec.d_mlp, device=device)
        self.act_hat = torch.zeros(n_questions * spec.n_layers, spec.d_mlp, device=device)

    def add(
        self, probe: AnswerProbe, grads: dict[int, Tensor], row_sub_question: Tensor, question_of_sub_question: Tensor
    ) -> None:
        """Add a pass whose row r belongs to sub-question ``row_sub_question[r]``, itself a variant of
        question ``question_of_sub_question[...]`` of the batch."""
        for layer, g in grads.items():
            rows = probe.rows[layer].to(self.device)
            question = question_of_sub_question.to(self.device)[row_sub_question.to(self.device)[rows]]
            flat = question * self.n_l + layer
            self.grad_sum.index_add_(0, flat, g.float().to(self.device))
            self.act_hat.index_copy_(0, flat, probe.acts[layer].float().to(self.device))

    def result(self, steps: int) -> Tensor:
        return (self.act_hat * self.grad_sum / steps).view(self.n_q, self.n_l, -1)


def _full_passes(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    variants: _Variants,
    acc: _IGAccumulator,
    *,
    max_rows: int,
    objective: Objective,
) -> None:
    """Every (question, variant) pair as whole sequences, ``max_rows`` rows a pass."""
    rows_per_q = torch.bincount(enc.row_question, minlength=enc.n_questions)
    for chunk in _chunks_by_rows(rows_per_q.repeat(len(variants)), max_rows):
        chunk = chunk.to(enc.tokens.device)
        sub = enc.take_questions(chunk % enc.n_questions)
        probe, grads = _probe_variants(model, spec, sub, variants, chunk // enc.n_questions, None, objective)
        acc.add(probe, grads, sub.row_question, chunk % enc.n_questions)


def _prefix_passes(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    variants: _Variants,
    acc: _IGAccumulator,
    *,
    max_rows: int,
    objective: Objective,
) -> None:
    """Each question's variants replayed from the answer position after its cached prompt."""
    for q in range(enc.n_questions):
        question, prefix_cache = _split_at_answer(model, enc.take_questions(torch.tensor([q])))
        for chunk in _chunks_by_rows(torch.full((len(variants),), question.n_rows), max_rows):
            sub = question.take_questions(torch.zeros(len(chunk), dtype=torch.long))
            past = _expand_cache(prefix_cache, sub.n_rows)
            probe, grads = _probe_variants(model, spec, sub, variants, chunk.to(sub.tokens.device), past, objective)
            acc.add(probe, grads, sub.row_question, torch.full((len(chunk),), q, device=acc.device))


def _probe_variants(
    model: HookedModel,
    spec: ModelSpec,
    sub: EncodedQuestions,
    variants: _Variants,
    variant_of_question: Tensor,
    past: Any,
    objective: Objective,
) -> tuple[AnswerProbe, dict[int, Tensor]]:
    """One forward + backward over ``sub``, whose question i is variant ``variant_of_question[i]``."""
    row_v = variant_of_question[sub.row_question]
    probe_mask = torch.nn.functional.one_hot(variants.layer(row_v), spec.n_layers).bool()
    probe = AnswerProbe(spec, sub.answer_pos, probe_mask, alpha=variants.alpha(row_v))
    with torch.enable_grad():
        if past is None:
            logits = forward_logits(model, sub, probe.hooks())
        else:  # suffix rows after a shared prefix: right-padded and causal, so no attention mask is needed
            logits = model.run_with_hooks(
                sub.tokens, fwd_hooks=probe.hooks(), return_type="logits", past_key_values=past
            )
        f, _ = probed_objective(logits, sub, objective)
        grads = probe.gradients(f.sum())
    return probe, grads


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


def _split_at_answer(model: HookedModel, question: EncodedQuestions) -> tuple[EncodedQuestions, Any]:
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


def _expand_cache(cache: Any, n_rows: int) -> Any:
    out = copy.deepcopy(cache)
    out.batch_repeat_interleave(n_rows)
    return out


def _chunks_by_rows(rows_per_item: Int[Tensor, " item"], max_rows: int) -> list[Tensor]:
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
