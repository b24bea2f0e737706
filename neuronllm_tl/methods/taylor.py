"""Task-specific neurons by first-order Taylor importance, "TN" (Leng and Xiong, "Towards Understanding
Multi-Task Learning (Generalization) of LLMs via Detecting and Exploring Task-Specific Neurons", 2024):
the NeuronLLM paper's TN baseline, most likely.

importance(n) = (1/|Q|) * sum_q |a_q(n) * dL_q/da_q(n)|, with L_q = -log p(correct answer) over the
whole vocabulary (the LM loss of the answer; objective ``vocab_logprob``, whose gradient is -dL/da). It
is the first-order estimate of how much the loss changes when the neuron is zeroed. The good set is the
top-K; the measure is unsigned, so the bad set is empty.

Departures: the paper sums over every token of its fine-tuning data; here only the answer position is
scored (the position the protocol steers), over the task's questions (all permutations); the paper keeps
the top k% per layer; here the top-K over all layers, so every method steers the same number of neurons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.attribution.collect import TaskAttributions
from neuronllm_tl.attribution.stream import AttributionRequest
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.baseline_sets import positive_only_set
from neuronllm_tl.neurons.neuron_set import NeuronSet

OBJECTIVE = "vocab_logprob"


@dataclass(frozen=True)
class TaylorConfig(MethodConfig):
    method: ClassVar[str] = "tn"

    def attribution_request(self) -> AttributionRequest:
        return AttributionRequest("grad_x_act", OBJECTIVE, self.hook)


def taylor_importance(attr: TaskAttributions) -> Float[Tensor, "layer d_mlp"]:
    """Mean |activation x gradient| over the task's questions (``attr`` from ``grad_x_act``)."""
    return attr.attributions.abs().double().mean(0).float()


def taylor_neurons(inputs: MethodInputs) -> NeuronSet:
    """The registered method: the top-K neurons by Taylor importance."""
    return positive_only_set(taylor_importance(inputs.task_attributions()), inputs.k, inputs.metadata())
