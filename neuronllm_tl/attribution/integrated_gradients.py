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
replays only the answer position (and the option tokens in cloze format) for every variant. The
engine (:mod:`neuronllm_tl.attribution.replay`) is shared with exact ablation
(:mod:`neuronllm_tl.attribution.exact_ablation`).

Example:
    >>> out = integrated_gradients(model, model_spec(model), enc, steps=16, objective="vocab_prob")
    >>> out.attributions.shape  # [question, layer, d_mlp]
    torch.Size([36, 3, 48])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from neuronllm_tl.attribution.probes import AnswerProbe, BatchAttribution, probed_objective
from neuronllm_tl.attribution.replay import (
    Replay,
    VariantPass,
    check_replay,
    replay_mode,
    supports_prefix_cache,
    variant_passes,
)
from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import ModelSpec
from neuronllm_tl.scoring.encoding import EncodedQuestions
from neuronllm_tl.scoring.objectives import Objective, get_objective, reads_only_option_scores
from neuronllm_tl.scoring.shared_prompt import read_logits

__all__ = ["Replay", "integrated_gradients", "supports_prefix_cache"]


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

    ``replay="layer"`` starts each variant at its own layer after the question's cached prompt,
    ``"prefix"`` replays every layer of the answer position after it, ``"full"`` reruns whole sequences;
    ``"auto"`` takes the fastest the model supports (:func:`~neuronllm_tl.attribution.replay.replay_mode`).
    The result does not depend on ``max_rows`` or ``replay``.
    """
    fn = get_objective(objective)
    layer_list = _checked_layers(spec, steps=steps, layers=layers, max_rows=max_rows, replay=replay)
    with torch.no_grad():
        f, scores = probed_objective(*read_logits(model, enc), fn)
    acc = _IGAccumulator(enc.n_questions, spec, enc.tokens.device)
    variants = _Variants(torch.tensor(layer_list, device=enc.tokens.device), steps)
    mode = replay_mode(model, replay, int(enc.tokens.shape[1]))
    variant_layer = variants.layer(torch.arange(len(variants), device=variants.layers.device))
    for p in variant_passes(
        model,
        enc,
        len(variants),
        max_rows=max_rows,
        mode=mode,
        variant_layer=variant_layer,
        letter_columns=reads_only_option_scores(fn),
    ):
        probe, grads = _probe_variants(model, spec, p, variants, fn)
        acc.add(probe, grads, p.hook_rows()[1], p.question)
    return BatchAttribution(acc.result(steps), f, scores)


def _checked_layers(
    spec: ModelSpec, *, steps: int, layers: Sequence[int] | None, max_rows: int, replay: str
) -> list[int]:
    check_positive_int(steps, "steps")
    check_replay(replay, max_rows)
    layer_list = list(range(spec.n_layers)) if layers is None else [int(layer) for layer in layers]
    bad = [layer for layer in layer_list if not 0 <= layer < spec.n_layers]
    if bad:
        raise ValueError(f"layers {bad} are out of range for a model with {spec.n_layers} layers.")
    return layer_list


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


def _probe_variants(
    model: HookedModel, spec: ModelSpec, p: VariantPass, variants: _Variants, objective: Objective
) -> tuple[AnswerProbe, dict[int, Tensor]]:
    """One forward + backward over the pass, whose question i is variant ``p.variant[i]``."""
    answer_pos, row_sub_question = p.hook_rows()
    row_v = p.variant[row_sub_question]
    probe_mask = torch.nn.functional.one_hot(variants.layer(row_v), spec.n_layers).bool()
    probe = AnswerProbe(spec, answer_pos, probe_mask, alpha=variants.alpha(row_v))
    with torch.enable_grad():
        f, _ = probed_objective(p.logits(model, probe.hooks()), p.sub, objective, vocab=p.columns is None)
        grads = probe.gradients(f.sum())
    return probe, grads
