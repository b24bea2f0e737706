"""Knowledge Neurons baseline (Dai, Dong, Hao, Sui, Chang and Wei, "Knowledge Neurons in Pretrained
Transformers", ACL 2022).

For a fact (here: an example) expressed by several prompts (here: its permuted questions), with
IG_p(n) the integrated gradients of p(answer) over the whole vocabulary (objective ``vocab_prob``) at
the answer position:

1. per prompt, keep n if IG_p(n) > t * max_n' IG_p(n') (the paper: t = 0.2);
2. the fact's knowledge neurons: those kept in more than a share p of its prompts.

Task level (not in the paper, which works per fact): a neuron's task score is the share of examples
whose knowledge neurons contain it; ties are broken by its mean IG over the examples. The good set
is the top-K and the bad set is empty.

Departures: the paper also removes neurons shared by facts of different relations, which has no
counterpart within one task, and is not done; m = 20 steps (the paper) is the default but the
comparison grid may use fewer (it says so in its output); prompts are option permutations, so in
cloze format with hidden options (one distinct prompt per example) step 2 keeps all of step 1;
the neuron is ``hook_post`` unless ``hook=`` says otherwise (the paper: the FFN intermediate, the
same point on non-gated MLPs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from neuronllm_tl.attribution.collect import TaskAttributions
from neuronllm_tl.attribution.stream import AttributionRequest
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.baseline_sets import positive_only_set
from neuronllm_tl.methods.qrnca import above_fraction_of_max, vocab_ig_request
from neuronllm_tl.neurons.neuron_set import NeuronSet


@dataclass(frozen=True)
class KnowledgeNeuronsConfig(MethodConfig):
    method: ClassVar[str] = "knowledge_neurons"
    t: float = 0.2
    """Per-prompt threshold, as a fraction of the prompt's largest attribution."""
    p: float = 0.5
    """A neuron must be kept in more than this share of an example's prompts."""
    ig_steps: int = 20

    def __post_init__(self) -> None:
        self._check_fraction("t")
        self._check_fraction("p", closed_low=True)
        self._check_positive_int("ig_steps")

    def attribution_request(self) -> AttributionRequest:
        return vocab_ig_request(self.hook, self.ig_steps)


@dataclass
class KnowledgeNeuronScores:
    fact_neurons: Bool[Tensor, "example layer d_mlp"]
    task_share: Float[Tensor, "layer d_mlp"]
    mean_ig: Float[Tensor, "layer d_mlp"]


def knowledge_neuron_scores(attr: TaskAttributions, config: KnowledgeNeuronsConfig) -> KnowledgeNeuronScores:
    kept = above_fraction_of_max(attr.attributions, config.t).double()
    n_prompts = torch.bincount(attr.example_index, minlength=attr.n_examples).double()[:, None, None]
    share = torch.zeros(attr.n_examples, *kept.shape[1:], dtype=torch.float64).index_add_(0, attr.example_index, kept)
    fact_neurons = share / n_prompts > config.p
    mean_ig = (attr.per_example().double() / n_prompts).mean(0)
    return KnowledgeNeuronScores(fact_neurons, fact_neurons.double().mean(0).float(), mean_ig.float())


def knowledge_neurons(inputs: MethodInputs) -> NeuronSet:
    """The registered method: knowledge neurons shared by the task's facts."""
    assert isinstance(inputs.config, KnowledgeNeuronsConfig)
    attr, config = inputs.task_attributions(), inputs.config
    s = knowledge_neuron_scores(attr, config)
    meta = {
        **inputs.metadata(),
        "knowledge_neurons": {"mean_fact_neurons": float(s.fact_neurons.sum((1, 2)).float().mean())},
    }
    return positive_only_set(s.task_share, inputs.k, meta, tie_break=s.mean_ig)
