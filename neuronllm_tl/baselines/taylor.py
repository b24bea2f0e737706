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
from typing import Any

from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.attribution.collect import TaskAttributions
from neuronllm_tl.baselines.config import BaselineConfig
from neuronllm_tl.baselines.ranking import positive_only_set

OBJECTIVE = "vocab_logprob"


@dataclass(frozen=True)
class TaylorConfig(BaselineConfig):
    method = "tn"


def taylor_importance(attr: TaskAttributions) -> Float[Tensor, "layer d_mlp"]:
    """Mean |activation x gradient| over the task's questions (``attr`` from ``grad_x_act``)."""
    return attr.attributions.abs().double().mean(0).float()


def taylor_neurons(attr: TaskAttributions, *, k: int, config: TaylorConfig, metadata: dict[str, Any]) -> Any:
    return positive_only_set(taylor_importance(attr), k, metadata)
