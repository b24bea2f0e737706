"""Hook functions that read (and optionally scale) the answer-position neuron activations and expose
their gradients.

At each probed layer the hook on ``blocks.{l}.mlp.hook_post`` replaces the answer-position
activation ``a`` of a row by ``alpha * a + delta``, where ``delta`` is a zero-valued leaf tensor.
Its value leaves the forward pass unchanged (for ``alpha = 1``), and ``dF/d delta`` is the total
derivative of F with respect to that activation through every downstream path. All layers are
probed in one backward pass. Detaching the activation instead would cut the paths that run through
later layers' neurons.

A row can probe any subset of layers (``probe_mask[row, layer]``), with its own ``alpha``. That one
mechanism covers gradient x activation (every row probes every layer at alpha = 1) and integrated
gradients (each row is one (layer, step) variant and scales only its own layer). Variants of any
kind can therefore share one batch.

A probed pass is differentiated against the objective F of :mod:`neuronllm_tl.scoring.objectives`
(:func:`probed_objective`, which refuses NaN or inf), and a batch's result is a :class:`BatchAttribution`.

Example:
    >>> from neuronllm_tl.scoring.encoding import forward_logits
    >>> probe = AnswerProbe(spec, enc.answer_pos, torch.ones(enc.n_rows, spec.n_layers, dtype=torch.bool))
    >>> with torch.enable_grad():
    ...     f, scores = probed_objective(forward_logits(model, enc, probe.hooks()), enc, "contrastive")
    ...     grads = probe.gradients(f.sum())          # {layer: [row, d_mlp]}
    >>> f.shape, grads[0].shape                       # F per question; cloze: one row per option
    (torch.Size([36]), torch.Size([108, 48]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from neuronllm_tl.models.validation import ModelSpec, check_finite, check_width
from neuronllm_tl.scoring.encoding import EncodedQuestions
from neuronllm_tl.scoring.objectives import Objective, objective_and_scores, objective_name


@dataclass
class BatchAttribution:
    """A batch's attributions, with F and the option scores of its unprobed (unscaled) pass."""

    attributions: Float[Tensor, "question layer d_mlp"]
    objective: Float[Tensor, " question"]
    scores: Float[Tensor, "question option"]
    mask: Bool[Tensor, "layer d_mlp"] | None = None
    """The neurons attributed, where a method attributes only some (exact ablation's candidates); None: all.
    Neurons outside it have attribution 0."""


def first_rows(enc: EncodedQuestions) -> Int[Tensor, " question"]:
    """Index of each question's first row (cloze questions have one row per option)."""
    rows = torch.arange(enc.n_rows, device=enc.row_question.device)
    out = torch.full((enc.n_questions,), enc.n_rows, dtype=torch.long, device=rows.device)
    return out.scatter_reduce(0, enc.row_question, rows, reduce="amin")


def probed_objective(
    logits: Float[Tensor, "row pos vocab"], enc: EncodedQuestions, objective: str | Objective, *, vocab: bool = True
) -> tuple[Float[Tensor, " question"], Float[Tensor, "question option"]]:
    """(F per question, option scores) of a pass, refusing an F with NaN or inf (``vocab``: False when the
    logits cover only the option letters' columns)."""
    f, scores = objective_and_scores(logits, enc, objective, vocab=vocab)
    check_finite(f, f"the objective F ({objective_name(objective)})")
    return f, scores


@dataclass
class AnswerProbe:
    """Forward hooks that record ``a`` and insert ``alpha * a + delta`` at the answer position."""

    spec: ModelSpec
    answer_pos: Int[Tensor, " row"]
    probe_mask: Bool[Tensor, "row layer"]
    alpha: Float[Tensor, " row"] | None = None
    with_grad: bool = True
    rows: dict[int, Tensor] = field(default_factory=dict)
    acts: dict[int, Tensor] = field(default_factory=dict)
    deltas: dict[int, Tensor] = field(default_factory=dict)

    def hooks(self) -> list[tuple[str, Callable[..., Tensor]]]:
        layers = torch.nonzero(self.probe_mask.any(0)).flatten().tolist()
        return [(self.spec.hook_name(layer), self._hook(layer)) for layer in layers]

    def _hook(self, layer: int) -> Callable[..., Tensor]:
        name = self.spec.hook_name(layer)

        def hook(act: Float[Tensor, "row pos d_mlp"], hook: Any) -> Tensor:
            check_width(act, self.spec, name)
            rows = torch.nonzero(self.probe_mask[:, layer]).flatten().to(act.device)
            pos = self.answer_pos.to(act.device)[rows]
            a = act[rows, pos]
            self.rows[layer] = rows
            self.acts[layer] = a.detach()
            new = a if self.alpha is None else a * self.alpha.to(act.device, act.dtype)[rows, None]
            if self.with_grad:
                delta = torch.zeros_like(a, requires_grad=True)
                self.deltas[layer] = delta
                new = new + delta
            if new is a:
                return act
            return act.index_put((rows, pos), new)

        return hook

    def gradients(self, objective: Tensor) -> dict[int, Tensor]:
        """dF/d(activation) at each probed layer, for the rows that probe it."""
        layers = sorted(self.deltas)
        grads = torch.autograd.grad(objective, [self.deltas[layer] for layer in layers], allow_unused=True)
        return {
            layer: (g if g is not None else torch.zeros_like(self.deltas[layer])).detach()
            for layer, g in zip(layers, grads, strict=True)
        }


@dataclass
class SpanProbe:
    """Forward hooks that add a zero-valued leaf ``delta`` to every activation of each probed layer and record the
    activations of a span of positions per row (``start[row]`` and the ``length[row] - 1`` positions after it).

    ``gradients x activations`` summed over the span is grad x act over several positions of a row, e.g. the
    answer position and the positions that predict a free-text reference's tokens.
    """

    spec: ModelSpec
    start: Int[Tensor, " row"]
    length: Int[Tensor, " row"]
    acts: dict[int, Tensor] = field(default_factory=dict)
    deltas: dict[int, Tensor] = field(default_factory=dict)

    def hooks(self) -> list[tuple[str, Callable[..., Tensor]]]:
        return [(self.spec.hook_name(layer), self._hook(layer)) for layer in range(self.spec.n_layers)]

    def _hook(self, layer: int) -> Callable[..., Tensor]:
        name = self.spec.hook_name(layer)

        def hook(act: Float[Tensor, "row pos d_mlp"], hook: Any) -> Tensor:
            check_width(act, self.spec, name)
            pos = torch.arange(act.shape[1], device=act.device)
            start = self.start.to(act.device)[:, None]
            span = (pos >= start) & (pos < start + self.length.to(act.device)[:, None])
            self.acts[layer] = act.detach() * span[..., None]
            self.deltas[layer] = torch.zeros_like(act, requires_grad=True)
            return act + self.deltas[layer]

        return hook

    def attributions(self, objective: Tensor) -> Float[Tensor, "row layer d_mlp"]:
        """Per row, sum over its span of activation x dF/d(activation), every layer."""
        layers = list(range(self.spec.n_layers))
        grads = torch.autograd.grad(objective, [self.deltas[layer] for layer in layers], allow_unused=True)
        per_layer = [
            (self.acts[layer] * g).sum(1) if g is not None else torch.zeros_like(self.acts[layer][:, 0])
            for layer, g in zip(layers, grads, strict=True)
        ]
        return torch.stack(per_layer, dim=1).detach().float()
