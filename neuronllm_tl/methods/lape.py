"""Activation-statistics baseline after LAPE (Tang et al., "Language-Specific Neurons: The Key to
Multilingual Capabilities of Large Language Models", ACL 2024), with tasks in place of languages.

For each neuron n and task i, r_i(n) is the share of the task's prompt tokens on which n fires
(activation > 0). With the rates normalized over the tasks, q_i = r_i / sum_j r_j, the entropy
H(n) = -sum_i q_i log q_i is low for a neuron that fires on one task only. A neuron is a candidate for
the target task if its rate there exceeds the ``quantile`` (0.95) of all rates; candidates are ranked
by specificity log(T) - H(n), ties by the target rate. The good set is the top-K; the bad set is
empty. It needs only forward passes, and at least one contrast task.

Departures: LAPE selects the lowest-entropy share of all neurons first and then assigns each to the
languages where it exceeds the threshold; ranking the target's candidates directly gives the same
order for the target. Rates are measured on the task prompts (template header included), not on free
text; "fires" means ``hook_post`` > 0, which on a SiLU-gated MLP is act(gate) * up > 0 rather than
LAPE's act(gate) > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.attribution.activations import CountedPositions, firing_rates
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.baseline_sets import positive_only_set
from neuronllm_tl.neurons.neuron_set import NeuronSet


@dataclass(frozen=True)
class LAPEConfig(MethodConfig):
    method: ClassVar[str] = "lape"
    needs_contrast_tasks: ClassVar[bool] = True
    quantile: float = 0.95
    positions: CountedPositions = "all"
    """Which tokens' firing is counted: ``"all"`` prompt tokens or only the ``"answer"`` position."""

    def __post_init__(self) -> None:
        self._check_fraction("quantile")
        if self.positions not in ("all", "answer"):
            raise ValueError(f"LAPEConfig.positions must be 'all' or 'answer', got {self.positions!r}.")


def lape_specificity(
    rates: Float[Tensor, "task layer d_mlp"], *, target: int = 0, quantile: float = 0.95
) -> tuple[Float[Tensor, "layer d_mlp"], Float[Tensor, "layer d_mlp"]]:
    """(specificity log T - H for the target's candidates, 0 elsewhere; the target's firing rate)."""
    if rates.dim() != 3 or rates.shape[0] < 2:
        raise ValueError(
            "LAPE compares a task with other tasks: give firing rates of shape [task, layer, d_mlp] with at "
            f"least two tasks (got {tuple(rates.shape)}); pass contrast tasks."
        )
    r = rates.double()
    q = r / r.sum(0, keepdim=True).clamp_min(1e-12)
    entropy = -(q * q.clamp_min(1e-12).log()).sum(0)
    threshold = torch.quantile(r.flatten(), quantile)
    specificity = (math.log(r.shape[0]) - entropy).clamp_min(0.0)
    candidate = r[target] > threshold
    return (specificity * candidate).float(), r[target].float()


def lape(inputs: MethodInputs) -> NeuronSet:
    """The registered method: firing rates of the task and of ``inputs.contrast_tasks``, then LAPE's ranking."""
    config = inputs.config
    assert isinstance(config, LAPEConfig)
    if not inputs.contrast_tasks:
        raise ValueError("lape compares the task with others: pass contrast_tasks=[another Task, ...].")
    tasks = [inputs.task, *inputs.contrast_tasks]
    rates = torch.stack([firing_rates(inputs.model, t, hook=config.hook, positions=config.positions)[0] for t in tasks])
    metadata = {**inputs.metadata(), "lape": {"contrast_tasks": [t.name for t in inputs.contrast_tasks]}}
    return lape_neurons(rates, k=inputs.k, config=config, metadata=metadata)


def lape_neurons(
    rates: Float[Tensor, "task layer d_mlp"], *, k: int, config: LAPEConfig, metadata: dict[str, Any]
) -> NeuronSet:
    specificity, target_rate = lape_specificity(rates, target=0, quantile=config.quantile)
    return positive_only_set(specificity, k, metadata, tie_break=target_rate)
