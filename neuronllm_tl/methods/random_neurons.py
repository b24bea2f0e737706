"""Random neurons: the size-matched control without layer matching (``NeuronSet.random_like`` matches layers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.baseline_sets import good_only_set
from neuronllm_tl.neurons.neuron_set import NeuronSet


@dataclass(frozen=True)
class RandomConfig(MethodConfig):
    method: ClassVar[str] = "random"
    seed: int = 0


def random_method(inputs: MethodInputs) -> NeuronSet:
    """The registered method: ``k`` neurons drawn uniformly from all layers with the config's seed."""
    assert isinstance(inputs.config, RandomConfig)
    spec = inputs.spec
    return random_neurons(spec.n_layers, spec.d_mlp, inputs.k, seed=inputs.config.seed, metadata=inputs.metadata())


def random_neurons(
    n_layers: int, d_mlp: int, k: int, *, seed: int = 0, metadata: dict[str, Any] | None = None
) -> NeuronSet:
    """``k`` neurons drawn uniformly from all layers."""
    idx = torch.randperm(n_layers * d_mlp, generator=torch.Generator().manual_seed(seed))[:k]
    return good_only_set(idx, torch.zeros(n_layers, d_mlp), {**(metadata or {}), "k": k})
