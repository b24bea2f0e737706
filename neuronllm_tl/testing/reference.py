"""Loop-based reference computations: slow, simple, independent of :mod:`neuronllm_tl.attribution.probes`.

They follow the peers' implementations (Knowledge Neurons, QRNCA): one question, one layer, one step
at a time. The tests use them to check the batched methods, and the benchmarks use them to measure
the speed-up. ``objective=`` is a registered name or a callable, as in :mod:`neuronllm_tl.attribution.estimators`.

Example:
    >>> from neuronllm_tl.attribution.exact_ablation import exact_ablation
    >>> from neuronllm_tl.attribution.integrated_gradients import integrated_gradients
    >>> enc = enc.take_questions(torch.tensor([0]))                             # the first question's rows
    >>> ref = integrated_gradients_reference(model, spec, enc, question=0, layer=1, steps=16)
    >>> torch.testing.assert_close(integrated_gradients(model, spec, enc, steps=16).attributions[0, 1], ref)
    >>> ref = ablation_reference(model, spec, enc, question=0, layer=1)          # one pass per neuron
    >>> torch.testing.assert_close(exact_ablation(model, spec, enc).attributions[0, 1], ref)
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import ModelSpec
from neuronllm_tl.scoring.encoding import EncodedQuestions, forward_logits
from neuronllm_tl.scoring.objectives import Objective, objective_and_scores


def _question_objective(
    model: HookedModel, enc: EncodedQuestions, question: int, hooks: list, objective: str | Objective
) -> Tensor:
    sub = enc.take_questions(torch.tensor([question]))
    return objective_and_scores(forward_logits(model, sub, hooks), sub, objective)[0][0]


def answer_activation(model: HookedModel, spec: ModelSpec, enc: EncodedQuestions, question: int, layer: int) -> Tensor:
    """The unsteered answer-position activation of one question at one layer."""
    store: dict[str, Tensor] = {}
    sub = enc.take_questions(torch.tensor([question]))
    pos = int(sub.answer_pos[0])

    def record(act: Tensor, hook: Any) -> None:
        store["a"] = act[0, pos].detach().clone()

    with torch.no_grad():
        forward_logits(model, sub, [(spec.hook_name(layer), record)])
    return store["a"]


def objective_with_answer_activation(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    question: int,
    layer: int,
    value: Tensor,
    *,
    objective: str | Objective = "contrastive",
) -> Tensor:
    """F of one question with that layer's answer-position activation replaced by ``value`` in every row."""
    pos = int(enc.take_questions(torch.tensor([question])).answer_pos[0])

    def replace(act: Tensor, hook: Any) -> Tensor:
        out = act.clone()
        out[:, pos] = value.to(act.dtype)
        return out

    return _question_objective(model, enc, question, [(spec.hook_name(layer), replace)], objective)


def integrated_gradients_reference(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    question: int,
    layer: int,
    steps: int = 16,
    objective: str | Objective = "contrastive",
) -> Float[Tensor, " d_mlp"]:
    """IG of F for one question and one layer: ``steps`` separate forward+backward passes."""
    a_hat = answer_activation(model, spec, enc, question, layer)
    total = torch.zeros_like(a_hat, dtype=torch.float32)
    for k in range(1, steps + 1):
        x = (a_hat * (k / steps)).detach().requires_grad_(True)
        with torch.enable_grad():
            f = objective_with_answer_activation(model, spec, enc, question, layer, x, objective=objective)
            (g,) = torch.autograd.grad(f, x)
        total += g.float()
    return a_hat.float() * total / steps


def grad_x_act_reference(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    question: int,
    layer: int,
    objective: str | Objective = "contrastive",
) -> Float[Tensor, " d_mlp"]:
    """``a * dF/da`` of one question at one layer: one forward+backward pass with only that layer replaced."""
    a_hat = answer_activation(model, spec, enc, question, layer)
    x = a_hat.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        f = objective_with_answer_activation(model, spec, enc, question, layer, x, objective=objective)
        (g,) = torch.autograd.grad(f, x)
    return (a_hat * g).float()


def ablation_reference(
    model: HookedModel,
    spec: ModelSpec,
    enc: EncodedQuestions,
    *,
    question: int,
    layer: int,
    baseline: Tensor | None = None,
    neurons: list[int] | None = None,
    objective: str | Objective = "contrastive",
) -> Float[Tensor, " d_mlp"]:
    """Exact ablation effects of one question at one layer: ``F(clean) - F(neuron i set to baseline[i])``.

    One ``run_with_hooks`` pass per neuron (``neurons``: only those; the others stay 0), the neuron set at
    the answer position of every row of the question; ``baseline`` is ``[d_mlp]`` (None: zeros).
    """
    sub = enc.take_questions(torch.tensor([question]))
    pos = int(sub.answer_pos[0])
    values = torch.zeros(spec.d_mlp) if baseline is None else baseline
    out = torch.zeros(spec.d_mlp, dtype=torch.float64)

    def silencer(i: int) -> Any:
        def silence(act: Tensor, hook: Any) -> Tensor:
            act = act.clone()
            act[:, pos, i] = values[i].to(act.device, act.dtype)
            return act

        return silence

    with torch.no_grad():
        clean = objective_and_scores(
            model.run_with_hooks(sub.tokens, attention_mask=sub.attention_mask, return_type="logits"), sub, objective
        )[0][0]
        for i in range(spec.d_mlp) if neurons is None else neurons:
            logits = model.run_with_hooks(
                sub.tokens,
                attention_mask=sub.attention_mask,
                fwd_hooks=[(spec.hook_name(layer), silencer(i))],
                return_type="logits",
            )
            out[i] = float(clean - objective_and_scores(logits, sub, objective)[0][0])
    return out.float()
