"""Turning a baseline's per-neuron statistics into a :class:`NeuronSet` (good set only, best first)."""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.neurons.selection import warn_if_fewer


def rank_neurons(
    primary: Float[Tensor, "layer d_mlp"], secondary: Float[Tensor, "layer d_mlp"] | None = None
) -> Tensor:
    """Flat indices of the neurons with ``primary > 0``, by ``primary`` descending, ties by ``secondary`` descending."""
    flat = primary.flatten()
    order = torch.arange(flat.numel())
    if secondary is not None:
        order = secondary.flatten().argsort(descending=True, stable=True)
    order = order[flat[order].argsort(descending=True, stable=True)]
    return order[flat[order] > 0]


def positive_only_set(
    scores: Float[Tensor, "layer d_mlp"],
    k: int,
    metadata: dict[str, Any],
    *,
    tie_break: Float[Tensor, "layer d_mlp"] | None = None,
) -> NeuronSet:
    """A NeuronSet whose good set is the top-``k`` of ``scores`` (ties by ``tie_break``) and whose bad set
    is empty: the baselines look for neurons that carry a task, not for neurons that inhibit it."""
    idx = rank_neurons(scores, tie_break)[:k]
    warn_if_fewer(k, {"good": len(idx)}, int(scores.numel()))
    return good_only_set(idx, scores, {**metadata, "k": k, "n_found": len(idx)})


def good_only_set(flat_idx: Tensor, scores: Float[Tensor, "layer d_mlp"], metadata: dict[str, Any]) -> NeuronSet:
    """The NeuronSet of the neurons at flat indices ``flat_idx`` (in that order) and no bad neurons."""
    n_layers, d_mlp = scores.shape
    return NeuronSet(
        good=torch.stack([flat_idx // d_mlp, flat_idx % d_mlp], 1).long(),
        bad=torch.zeros(0, 2, dtype=torch.long),
        good_scores=scores.flatten()[flat_idx].float(),
        bad_scores=torch.zeros(0),
        scores=scores.float(),
        ambiguous=torch.zeros(n_layers, d_mlp, dtype=torch.bool),
        metadata=metadata,
    )
