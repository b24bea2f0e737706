"""Per-question neuron attributions of an objective F (by default the contrastive one).

Sign convention: an attribution is positive when the neuron's answer-position activation raises F
(by default the correct option's share of the option softmax, the *good* direction). It is negative
when the activation lowers F (it favours the distractors, the *bad* direction). ``objective=`` picks
another F: a registered name or any callable of the option scores
(:mod:`neuronllm_tl.scoring.objectives`); the baselines use the vocabulary ones.

Estimators (what ``AttributionRequest.estimator`` and ``identify(..., attribution=...)`` name):

* ``grad_x_act``: ``a * dF/da`` with every layer probed in one forward and one backward pass. This
  is the first-order Taylor estimate of the change in F when the activation is removed.
* ``integrated_gradients`` (the paper's Eq. 1, exact; :mod:`neuronllm_tl.attribution.integrated_gradients`):
  for each layer l separately, scale that layer's answer-position activation ``a_l`` by
  ``alpha = k/m`` (k = 1..m) while the other layers run normally, and take
  ``IG = a_l * (1/m) * sum_k dF/da_l (alpha_k a_l)`` (a right Riemann sum), every (layer, step)
  variant a row of one batch.
* ``ablation`` (exact, no gradients; :mod:`neuronllm_tl.attribution.exact_ablation`): per question and neuron,
  ``E = F(clean) - F(that neuron set to its baseline at the answer position)``, the quantity the two
  above estimate; ``ablation_baseline`` is ``"zero"`` or ``"mean"``, ``ablation_candidates`` limits the neurons.

For ``cloze`` questions each option is its own row. The answer-position activation is the same in
all of them, because they share the prompt and attention is causal. Its total gradient is the sum
of the rows' gradients, and IG scales it in all of a question's rows together.

Example:
    >>> enc = QuestionEncoder(model, task).encode(task.questions()[:6])
    >>> out = attribute(model, model_spec(model), enc, estimator="grad_x_act")
    >>> out.attributions.shape  # [question, layer, d_mlp]
    torch.Size([6, 3, 48])
    >>> out = attribute(model, model_spec(model), enc, objective=lambda s: s.raw.max(-1).values)
    >>> out.objective.shape     # F per question
    torch.Size([6])
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from neuronllm_tl.attribution.exact_ablation import AblationBaseline, exact_ablation
from neuronllm_tl.attribution.integrated_gradients import integrated_gradients
from neuronllm_tl.attribution.probes import AnswerProbe, BatchAttribution, SpanProbe, first_rows, probed_objective
from neuronllm_tl.attribution.replay import Replay, supports_prefix_cache
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import ModelSpec
from neuronllm_tl.scoring.encoding import EncodedQuestions
from neuronllm_tl.scoring.objectives import Objective, get_objective
from neuronllm_tl.scoring.shared_prompt import read_logits

Estimator = Literal["grad_x_act", "integrated_gradients", "ablation"]
ESTIMATORS: tuple[str, ...] = ("grad_x_act", "integrated_gradients", "ablation")
"""The attribution estimators. A neuron-finding *method* (:data:`neuronllm_tl.METHODS`) uses one of them."""
AttributionPositions = Literal["answer", "answer_tokens"]
ATTRIBUTION_POSITIONS: tuple[str, ...] = ("answer", "answer_tokens")
"""Where grad x act reads the neurons: the answer position (the paper's), or it and every position that predicts
an option token (summed; in letter format the same as the answer position)."""


def grad_x_act(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    objective: str | Objective = "contrastive",
    share_prompt: bool = True,
    positions: AttributionPositions = "answer",
) -> BatchAttribution:
    """``a * dF/da`` for every neuron of every layer: one forward and one backward pass (cloze options
    share their prompt's pass where they can: :func:`~neuronllm_tl.scoring.shared_prompt.read_logits`).
    ``positions="answer_tokens"``: summed over the answer position and the positions predicting the option's tokens."""
    fn = get_objective(objective)
    if positions == "answer_tokens":
        return _grad_x_act_over_answer_tokens(model, spec, enc, fn, share_prompt=share_prompt)
    if positions != "answer":
        raise ValueError(f"positions must be one of {ATTRIBUTION_POSITIONS}, got {positions!r}.")
    probes: list[AnswerProbe] = []

    def probe_at(answer_pos: Tensor) -> list:
        probes.append(AnswerProbe(spec, answer_pos, torch.ones(enc.n_rows, spec.n_layers, dtype=torch.bool)))
        return probes[-1].hooks()

    with torch.enable_grad():
        logits, read = read_logits(model, enc, probe_at, share_prompt=share_prompt)
        f, scores = probed_objective(logits, read, fn)
        probe = probes[-1]
        grads = probe.gradients(f.sum())
    grad_rows = torch.stack([grads[layer] for layer in range(spec.n_layers)], dim=1).float()
    grad_q = torch.zeros(enc.n_questions, *grad_rows.shape[1:], device=grad_rows.device)
    grad_q.index_add_(0, enc.row_question.to(grad_rows.device), grad_rows)
    act_q = torch.stack([probe.acts[layer] for layer in range(spec.n_layers)], dim=1).float()[first_rows(enc)]
    attributions = torch.einsum("qln,qln->qln", act_q, grad_q)
    return BatchAttribution(attributions, f.detach(), scores.detach())


def _grad_x_act_over_answer_tokens(
    model: HookedModel, spec: ModelSpec, enc: EncodedQuestions, fn: Objective, *, share_prompt: bool
) -> BatchAttribution:
    probes: list[SpanProbe] = []
    length = enc.cont_mask.sum(1).clamp(min=1)  # letter rows: the answer position alone

    def probe_at(answer_pos: Tensor) -> list:
        probes.append(SpanProbe(spec, answer_pos, length))
        return probes[-1].hooks()

    with torch.enable_grad():
        logits, read = read_logits(model, enc, probe_at, share_prompt=share_prompt)
        f, scores = probed_objective(logits, read, fn)
        per_row = probes[-1].attributions(f.sum())
    attributions = torch.zeros(enc.n_questions, *per_row.shape[1:], device=per_row.device)
    attributions.index_add_(0, enc.row_question.to(per_row.device), per_row)
    return BatchAttribution(attributions, f.detach(), scores.detach())


def attribute(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    estimator: Estimator = "grad_x_act",
    ig_steps: int = 16,
    max_rows: int = 64,
    replay: Replay = "auto",
    objective: str | Objective = "contrastive",
    ablation_baseline: AblationBaseline | Tensor = "zero",
    ablation_candidates: Any = None,
    positions: AttributionPositions = "answer",
) -> BatchAttribution:
    """Attributions of the objective F (:mod:`neuronllm_tl.scoring.objectives`) for a batch, by ``estimator``.

    ``ig_steps`` applies to integrated gradients, ``ablation_baseline`` and ``ablation_candidates`` to exact
    ablation, ``max_rows`` and ``replay`` to both, ``positions`` to grad x act.
    """
    if positions != "answer" and estimator != "grad_x_act":
        raise ValueError(f"positions={positions!r} is computed by estimator='grad_x_act' only; use it, or 'answer'.")
    if estimator == "grad_x_act":
        return grad_x_act(model, spec, enc, objective=objective, positions=positions)
    if estimator == "integrated_gradients":
        return integrated_gradients(
            model, spec, enc, steps=ig_steps, max_rows=max_rows, replay=replay, objective=objective
        )
    if estimator == "ablation":
        return exact_ablation(
            model,
            spec,
            enc,
            baseline=ablation_baseline,
            candidates=ablation_candidates,
            max_rows=max_rows,
            replay=replay,
            objective=objective,
        )
    raise ValueError(f"unknown estimator {estimator!r}; choose one of {ESTIMATORS}.")


__all__ = [
    "ATTRIBUTION_POSITIONS",
    "ESTIMATORS",
    "AttributionPositions",
    "BatchAttribution",
    "Estimator",
    "attribute",
    "exact_ablation",
    "first_rows",
    "grad_x_act",
    "integrated_gradients",
    "supports_prefix_cache",
]
