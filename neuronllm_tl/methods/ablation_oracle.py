"""The exact-ablation oracle, a method: the neurons whose silencing changes F the most, measured, not estimated.

Per question, E(l, i) = F(clean) - F(neuron (l, i) set to its baseline at the answer position)
(:mod:`neuronllm_tl.attribution.exact_ablation`; ``baseline="zero"`` silences, ``"mean"`` sets the neuron to
its mean answer-position activation over the task). A neuron's score is its **mean effect over the task's
examples** (each example's effect averaged over its permuted questions first), in units of F. The good
set is the top-K neurons with a positive score (silencing them lowers F the most), the bad set the
bottom-K with a negative score (silencing them raises F the most).

It is meant as ground truth for the estimates (grad x act, IG, the baselines' scores), so it ranks by
the plain mean: no coarse sets, no ambiguity mask (NeuronLLM's CNI is an estimator's choice; a ground
truth that dropped neurons would not be one). ``identify(..., method="neuronllm", attribution="ablation")``
runs CNI on the same exact effects (zero baseline) where CNI's selection is wanted.

Cost: (questions x neurons) variants, each replaying only the answer suffix where the model returns a
key/value cache. ``candidates=`` limits the work to a list of neurons (the others score 0 and are
never selected), e.g. the union of the estimates' top neurons.

Example:
    >>> truth = nl.identify(model, ident, method="ablation_oracle", k=10)              # zero ablation, every neuron
    >>> truth
    NeuronSet(good=10, bad=10, n_layers=3, d_mlp=48, hook='mlp.hook_post', task='tiny-cloze:identify',
              method='ablation_oracle')
    >>> candidates = [*neurons.good.tolist(), *neurons.bad.tolist()]   # the grad x act estimate's 3 good and 3 bad
    >>> truth = nl.identify(model, ident, method="ablation_oracle", k=2, baseline="mean", candidates=candidates)
    >>> all(pair in candidates for pair in [*truth.good.tolist(), *truth.bad.tolist()])     # only these ablated
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.attribution.collect import TaskAttributions
from neuronllm_tl.attribution.exact_ablation import AblationBaseline, Candidates, as_candidates
from neuronllm_tl.attribution.stream import AttributionRequest
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.neurons.selection import Selection, select_top_k


@dataclass(frozen=True)
class AblationConfig(MethodConfig):
    """Exact single-neuron ablation effects of F, ranked by their mean over the task's examples."""

    method: ClassVar[str] = "ablation_oracle"
    objective: str = "contrastive"
    """The F whose exact change is measured: a registered objective."""
    baseline: AblationBaseline = "zero"
    """``"zero"`` (silence) or ``"mean"`` (the neuron's mean answer-position activation over the task)."""
    candidates: Candidates | None = None
    """``(layer, index)`` pairs to measure (None: every neuron); also ``"layer:index,..."`` or a [n, 2] tensor."""
    selection: Selection = "global"
    """``"global"``: top-K over all layers; ``"per_layer"``: top-K in each layer."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", as_candidates(self.candidates))
        self.attribution_request()  # validates objective and baseline
        if self.selection not in ("global", "per_layer"):
            raise ValueError(f"selection must be 'global' or 'per_layer', got {self.selection!r}.")

    def attribution_request(self) -> AttributionRequest:
        return AttributionRequest(
            "ablation", self.objective, self.hook, ablation_baseline=self.baseline, ablation_candidates=self.candidates
        )


def mean_effect(attributions: TaskAttributions) -> Float[Tensor, "layer d_mlp"]:
    """Each neuron's effect averaged over each example's questions, then over the examples (float64)."""
    per_example = attributions.per_example().double()
    counts = torch.unique(attributions.example_index, return_counts=True)[1].double()
    return (per_example / counts[:, None, None]).mean(0)


def exact_ablation_neurons(inputs: MethodInputs) -> NeuronSet:
    """The registered method: good = top-K mean effect > 0, bad = bottom-K mean effect < 0."""
    config = inputs.config
    assert isinstance(config, AblationConfig)
    attributions = inputs.task_attributions()
    scores = mean_effect(attributions)
    good, good_scores, bad, bad_scores = select_top_k(scores, inputs.k, selection=config.selection)
    n_candidates = len(config.candidates) if config.candidates is not None else scores.numel()
    metadata = {**inputs.metadata(), "k": inputs.k}
    metadata["identification"] = {
        "n_examples": attributions.n_examples,
        "n_questions": len(attributions.example_index),
        "accuracy": float(attributions.correct.float().mean()),
        "mean_objective": float(attributions.objective_values.double().mean()),
        "n_candidates": n_candidates,
    }
    return NeuronSet(
        good=good,
        bad=bad,
        good_scores=good_scores,
        bad_scores=bad_scores,
        scores=scores.float(),
        ambiguous=torch.zeros(scores.shape, dtype=torch.bool),
        metadata=metadata,
    )
