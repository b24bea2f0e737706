"""Per-question neuron attributions of the contrastive objective F.

Sign convention: an attribution is positive when the neuron's answer-position activation raises F
(by default the correct option's share of the option softmax, the *good* direction). It is negative
when the activation lowers F (it favours the distractors, the *bad* direction). ``objective=`` picks
another F (:mod:`neuronllm_tl.scoring.objectives`); the baselines use the vocabulary ones.

Methods:

* ``grad_x_act``: ``a * dF/da`` with every layer probed in one forward and one backward pass. This
  is the first-order Taylor estimate of the change in F when the activation is removed.
* ``integrated_gradients`` (the paper's Eq. 1, exact): for each layer l separately, scale that
  layer's answer-position activation ``a_l`` by ``alpha = k/m`` (k = 1..m) while the other layers
  run normally, and take ``IG = a_l * (1/m) * sum_k dF/da_l (alpha_k a_l)`` (a right Riemann sum).
  Every (layer, step) variant is a row of a batch, so the result equals the one-layer,
  one-step-at-a-time loop of Knowledge Neurons / QRNCA without its Python loop over passes.

For ``cloze`` questions each option is its own row. The answer-position activation is the same in
all of them, because they share the prompt and attention is causal. Its total gradient is the sum
of the rows' gradients, and IG scales it in all of a question's rows together.

Example:
    >>> enc = QuestionEncoder(model, task).encode(task.questions()[:6])
    >>> out = attribute(model, model_spec(model), enc, method="grad_x_act")
    >>> out.attributions.shape  # [question, layer, d_mlp]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Literal, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.attribution.probes import AnswerProbe
from neuronllm_tl.models.validation import ModelSpec, check_finite, model_device
from neuronllm_tl.scoring.encoding import EncodedQuestions, forward_logits
from neuronllm_tl.scoring.objectives import check_objective, objective_and_scores

Method = Literal["grad_x_act", "integrated_gradients"]
METHODS: tuple[str, ...] = ("grad_x_act", "integrated_gradients")


@dataclass
class BatchAttribution:
    attributions: Float[Tensor, "question layer d_mlp"]
    objective: Float[Tensor, " question"]
    scores: Float[Tensor, "question option"]


def first_rows(enc: EncodedQuestions) -> Int[Tensor, " question"]:
    """Index of each question's first row (cloze questions have one row per option)."""
    rows = torch.arange(enc.n_rows, device=enc.row_question.device)
    out = torch.full((enc.n_questions,), enc.n_rows, dtype=torch.long, device=rows.device)
    return out.scatter_reduce(0, enc.row_question, rows, reduce="amin")


def _objective(logits: Tensor, enc: EncodedQuestions, objective: str) -> tuple[Tensor, Tensor]:
    f, scores = objective_and_scores(logits, enc, objective)
    check_finite(f, f"the objective F ({objective})")
    return f, scores


def grad_x_act(model: Any, spec: ModelSpec, enc: EncodedQuestions, *, objective: str = "contrastive") -> BatchAttribution:
    """``a * dF/da`` for every neuron of every layer: one forward and one backward pass."""
    check_objective(objective)
    probe = AnswerProbe(spec, enc.answer_pos, torch.ones(enc.n_rows, spec.n_layers, dtype=torch.bool))
    with torch.enable_grad():
        f, scores = _objective(forward_logits(model, enc, probe.hooks()), enc, objective)
        grads = probe.gradients(f.sum())
    grad_rows = torch.stack([grads[l] for l in range(spec.n_layers)], dim=1).float()
    grad_q = torch.zeros(enc.n_questions, *grad_rows.shape[1:], device=grad_rows.device)
    grad_q.index_add_(0, enc.row_question.to(grad_rows.device), grad_rows)
    act_q = torch.stack([probe.acts[l] for l in range(spec.n_layers)], dim=1).float()[first_rows(enc)]
    attributions = torch.einsum("qln,qln->qln", act_q, grad_q)
    return BatchAttribution(attributions, f.detach(), scores.detach())


def integrated_gradients(
    model: Any,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    steps: int = 16,
    layers: Sequence[int] | None = None,
    max_rows: int = 64,
    replay: Literal["auto", "prefix", "full"] = "auto",
    objective: str = "contrastive",
) -> BatchAttribution:
    """Exact per-layer integrated gradients, all (layer, step) variants batched ``max_rows`` rows at a time.

    ``replay="prefix"`` runs each question's prompt up to (not including) the answer position once,
    keeps its key/value cache, and replays only the answer position (and, in cloze format, the option
    tokens) for every variant. The variants only change the answer-position activation, which causal
    attention hides from earlier positions, so the result is the same. ``"full"`` reruns whole
    sequences; ``"auto"`` uses the prefix cache when the model provides one (Hugging Face-backed
    ``TransformerBridge``s do; native bridges and ``HookedTransformer`` fall back to ``"full"``).
    """
    check_objective(objective)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}.")
    if replay not in ("auto", "prefix", "full"):
        raise ValueError(f"replay must be 'auto', 'prefix' or 'full', got {replay!r}.")
    layer_list = list(range(spec.n_layers)) if layers is None else [int(l) for l in layers]
    bad = [l for l in layer_list if not 0 <= l < spec.n_layers]
    if bad:
        raise ValueError(f"layers {bad} are out of range for a model with {spec.n_layers} layers.")
    with torch.no_grad():
        f, scores = _objective(forward_logits(model, enc), enc, objective)
    acc = _IGAccumulator(enc.n_questions, spec, enc.tokens.device)
    variants = _Variants(torch.tensor(layer_list, device=enc.tokens.device), steps)
    use_prefix = replay != "full" and supports_prefix_cache(model)
    if replay == "prefix" and not use_prefix:
        raise ValueError(
            f"replay='prefix' needs a model that returns a Hugging Face key/value cache; "
            f"{type(model).__name__} here does not (native bridges, HookedTransformer). Use replay='full' or 'auto'."
        )
    if use_prefix:
        for q in range(enc.n_questions):
            question, prefix_cache = _split_at_answer(model, enc.take_questions(torch.tensor([q])))
            for chunk in _chunks_by_rows(torch.full((len(variants),), question.n_rows), max_rows):
                sub = question.take_questions(torch.zeros(len(chunk), dtype=torch.long))
                past = _expand_cache(prefix_cache, sub.n_rows)
                probe, grads = _probe_variants(model, spec, sub, variants, chunk.to(sub.tokens.device), past, objective)
                acc.add(probe, grads, sub.row_question, torch.full((len(chunk),), q, device=acc.device))
    else:
        rows_per_q = torch.bincount(enc.row_question, minlength=enc.n_questions)
        for chunk in _chunks_by_rows(rows_per_q.repeat(len(variants)), max_rows):
            chunk = chunk.to(enc.tokens.device)
            sub = enc.take_questions(chunk % enc.n_questions)
            probe, grads = _probe_variants(model, spec, sub, variants, chunk // enc.n_questions, None, objective)
            acc.add(probe, grads, sub.row_question, chunk % enc.n_questions)
    return BatchAttribution(acc.result(steps), f, scores)


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


def _probe_variants(
    model: Any,
    spec: ModelSpec,
    sub: EncodedQuestions,
    variants: _Variants,
    variant_of_question: Tensor,
    past: Any,
    objective: str,
) -> tuple[AnswerProbe, dict[int, Tensor]]:
    """One forward + backward over ``sub``, whose question i is variant ``variant_of_question[i]``."""
    row_v = variant_of_question[sub.row_question]
    probe_mask = torch.nn.functional.one_hot(variants.layer(row_v), spec.n_layers).bool()
    probe = AnswerProbe(spec, sub.answer_pos, probe_mask, alpha=variants.alpha(row_v))
    with torch.enable_grad():
        if past is None:
            logits = forward_logits(model, sub, probe.hooks())
        else:  # suffix rows after a shared prefix: right-padded and causal, so no attention mask is needed
            logits = model.run_with_hooks(sub.tokens, fwd_hooks=probe.hooks(), return_type="logits", past_key_values=past)
        f, _ = _objective(logits, sub, objective)
        grads = probe.gradients(f.sum())
    return probe, grads


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
        for l, g in grads.items():
            rows = probe.rows[l].to(self.device)
            flat = question_of_sub_question.to(self.device)[row_sub_question.to(self.device)[rows]] * self.n_l + l
            self.grad_sum.index_add_(0, flat, g.float().to(self.device))
            self.act_hat.index_copy_(0, flat, probe.acts[l].float().to(self.device))

    def result(self, steps: int) -> Tensor:
        return (self.act_hat * self.grad_sum / steps).view(self.n_q, self.n_l, -1)


def supports_prefix_cache(model: Any) -> bool:
    """Whether ``model`` returns a Hugging Face key/value cache that can be replayed (HF-backed bridges)."""
    cached = getattr(model, "_neuronllm_prefix_cache_ok", None)
    if cached is not None:
        return cached
    ok = False
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 2, dtype=torch.long, device=model_device(model)), return_type="logits_and_cache")
        ok = isinstance(out, tuple) and len(out) == 2 and hasattr(out[1], "batch_repeat_interleave")
    except Exception:  # HookedTransformer and older bridges do not know this return type
        ok = False
    try:
        model._neuronllm_prefix_cache_ok = ok
    except Exception:
        pass
    return ok


def _split_at_answer(model: Any, question: EncodedQuestions) -> tuple[EncodedQuestions, Any]:
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


def attribute(
    model: Any,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    method: Method = "grad_x_act",
    ig_steps: int = 16,
    max_rows: int = 64,
    replay: Literal["auto", "prefix", "full"] = "auto",
    objective: str = "contrastive",
) -> BatchAttribution:
    """Attributions of the objective F (:mod:`neuronllm_tl.scoring.objectives`) for a batch, by ``method``."""
    if method == "grad_x_act":
        return grad_x_act(model, spec, enc, objective=objective)
    if method == "integrated_gradients":
        return integrated_gradients(
            model, spec, enc, steps=ig_steps, max_rows=max_rows, replay=replay, objective=objective
        )
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}.")
