"""Per-question neuron attributions of the contrastive objective F.

Sign convention: an attribution is positive when the neuron's answer-position activation raises F
(the correct option's share of the option softmax, the *good* direction). It is negative when the
activation lowers F (it favours the distractors, the *bad* direction).

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

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.attribution.probes import AnswerProbe
from neuronllm_tl.models.validation import ModelSpec, check_finite
from neuronllm_tl.scoring.encoding import EncodedQuestions, contrastive_objective, forward_logits, option_scores

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


def _objective(model: Any, enc: EncodedQuestions, hooks: Sequence) -> tuple[Tensor, Tensor]:
    scores = option_scores(forward_logits(model, enc, hooks), enc)
    objective = contrastive_objective(scores, enc.correct)
    check_finite(objective, "the contrastive objective F")
    return objective, scores


def grad_x_act(model: Any, spec: ModelSpec, enc: EncodedQuestions) -> BatchAttribution:
    """``a * dF/da`` for every neuron of every layer: one forward and one backward pass."""
    probe = AnswerProbe(spec, enc.answer_pos, torch.ones(enc.n_rows, spec.n_layers, dtype=torch.bool))
    with torch.enable_grad():
        objective, scores = _objective(model, enc, probe.hooks())
        grads = probe.gradients(objective.sum())
    grad_rows = torch.stack([grads[l] for l in range(spec.n_layers)], dim=1).float()
    grad_q = torch.zeros(enc.n_questions, *grad_rows.shape[1:], device=grad_rows.device)
    grad_q.index_add_(0, enc.row_question.to(grad_rows.device), grad_rows)
    act_q = torch.stack([probe.acts[l] for l in range(spec.n_layers)], dim=1).float()[first_rows(enc)]
    attributions = torch.einsum("qln,qln->qln", act_q, grad_q)
    return BatchAttribution(attributions, objective.detach(), scores.detach())


def integrated_gradients(
    model: Any,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    steps: int = 16,
    layers: Sequence[int] | None = None,
    max_rows: int = 64,
) -> BatchAttribution:
    """Exact per-layer integrated gradients, all (layer, step) variants batched ``max_rows`` rows at a time."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}.")
    layer_list = list(range(spec.n_layers)) if layers is None else [int(l) for l in layers]
    bad = [l for l in layer_list if not 0 <= l < spec.n_layers]
    if bad:
        raise ValueError(f"layers {bad} are out of range for a model with {spec.n_layers} layers.")
    n_q, n_l = enc.n_questions, spec.n_layers
    device = enc.tokens.device
    rows_per_q = torch.bincount(enc.row_question, minlength=n_q)
    with torch.no_grad():
        objective, scores = _objective(model, enc, ())
    grad_sum = torch.zeros(n_q * n_l, spec.d_mlp, device=device)
    act_hat = torch.zeros(n_q * n_l, spec.d_mlp, device=device)
    layer_t = torch.tensor(layer_list, device=device)
    for chunk in _chunks_by_rows(rows_per_q.repeat(len(layer_list) * steps), max_rows):
        chunk = chunk.to(device)
        q = chunk % n_q
        variant = chunk // n_q
        v_layer = layer_t[variant // steps]
        v_alpha = ((variant % steps) + 1).float() / steps
        sub = enc.take_questions(q)
        row_v = sub.row_question
        probe_mask = torch.nn.functional.one_hot(v_layer[row_v], n_l).bool()
        probe = AnswerProbe(spec, sub.answer_pos, probe_mask, alpha=v_alpha[row_v])
        with torch.enable_grad():
            f, _ = _objective(model, sub, probe.hooks())
            grads = probe.gradients(f.sum())
        for l, g in grads.items():
            rows = probe.rows[l].to(device)
            flat = q[row_v[rows]] * n_l + l
            grad_sum.index_add_(0, flat, g.float().to(device))
            act_hat.index_copy_(0, flat, probe.acts[l].float().to(device))
    attributions = (act_hat * grad_sum / steps).view(n_q, n_l, spec.d_mlp)
    return BatchAttribution(attributions, objective, scores)


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
) -> BatchAttribution:
    """Attributions of F for a batch of encoded questions, by ``method``."""
    if method == "grad_x_act":
        return grad_x_act(model, spec, enc)
    if method == "integrated_gradients":
        return integrated_gradients(model, spec, enc, steps=ig_steps, max_rows=max_rows)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}.")
