"""Steering a model with its good and bad neurons through TransformerLens hooks.

A steering *mode* gives a factor for each group. The activation of every chosen neuron is
multiplied by its group's factor: x2 excites, x0 silences (the paper's values).

=============== ============ ===========
mode            good         bad
=============== ============ ===========
``enhance``     x2           x0
``degrade``     x0           x2
``excite_good`` x2           (unchanged)
``silence_good`` x0          (unchanged)
``excite_bad``  (unchanged)  x2
``silence_bad`` (unchanged)  x0
=============== ============ ===========

Explicit ``factors={"good": 1.5, "bad": 0.5}`` override the mode. ``positions`` says where:
``"last"`` (the last position of every sequence: the answer position of an unpadded prompt, and the
new token at each step of cached generation), ``"all"``, or a tensor of one position per batch row.

Example:
    >>> with nl.steer(model, neurons, mode="degrade"):
    ...     logits = model(tokens)                # also run_with_hooks, run_with_cache, generate
    >>> logits = model.run_with_hooks(tokens, fwd_hooks=nl.steering_hooks(model, neurons, mode="enhance"))
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Literal, Mapping, Union

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.models.validation import ModelSpec, check_width, model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet

MODES: dict[str, dict[str, float]] = {
    "enhance": {"good": 2.0, "bad": 0.0},
    "degrade": {"good": 0.0, "bad": 2.0},
    "excite_good": {"good": 2.0},
    "silence_good": {"good": 0.0},
    "excite_bad": {"bad": 2.0},
    "silence_bad": {"bad": 0.0},
}
Positions = Union[Literal["last", "all"], Int[Tensor, " batch"]]


def resolve_factors(mode: str | None, factors: Mapping[str, float] | None) -> dict[str, float]:
    if factors is not None:
        unknown = set(factors) - {"good", "bad"}
        if unknown:
            raise ValueError(f"factors take the keys 'good' and 'bad', got {sorted(unknown)}.")
        return {k: float(v) for k, v in factors.items()}
    if mode not in MODES:
        raise ValueError(f"unknown steering mode {mode!r}; choose one of {sorted(MODES)} or pass factors=.")
    return MODES[mode]


def factor_grid(neurons: NeuronSet, factors: Mapping[str, float]) -> Float[Tensor, "layer d_mlp"]:
    """Multiplier of every neuron: 1 except the chosen ones."""
    grid = torch.ones(neurons.n_layers, neurons.d_mlp)
    for group, factor in factors.items():
        idx = neurons.good if group == "good" else neurons.bad
        if len(idx):
            grid[idx[:, 0], idx[:, 1]] = factor
    return grid


def _validate_positions(positions: Positions) -> None:
    if isinstance(positions, Tensor):
        if positions.dim() != 1 or positions.dtype not in (torch.int64, torch.int32):
            raise ValueError("positions as a tensor must be 1-D integer, one position per batch row.")
    elif positions not in ("last", "all"):
        raise ValueError(f"positions must be 'last', 'all' or a tensor of per-row positions, got {positions!r}.")


def scaling_hook(spec: ModelSpec, layer: int, factor: Float[Tensor, " d_mlp"], positions: Positions) -> Callable[..., Tensor]:
    """A hook function multiplying layer ``layer``'s neurons by ``factor`` at ``positions``."""
    name = spec.hook_name(layer)

    def hook(act: Float[Tensor, "batch pos d_mlp"], hook: Any) -> Tensor:
        check_width(act, spec, name)
        f = factor.to(act.device, act.dtype)
        if isinstance(positions, str) and positions == "all":
            return act * f
        if isinstance(positions, str):
            return torch.cat([act[:, :-1], act[:, -1:] * f], dim=1)
        pos = positions.to(act.device)
        if pos.shape[0] != act.shape[0]:
            raise ValueError(f"{len(pos)} positions given for a batch of {act.shape[0]} rows.")
        rows = torch.arange(act.shape[0], device=act.device)
        return act.index_put((rows, pos), act[rows, pos] * f)

    return hook


def grid_hooks(
    spec: ModelSpec, grid: Float[Tensor, "layer d_mlp"], positions: Positions
) -> list[tuple[str, Callable[..., Tensor]]]:
    """One scaling hook per layer that has a neuron whose factor is not 1."""
    layers = torch.nonzero((grid != 1).any(-1)).flatten().tolist()
    return [(spec.hook_name(l), scaling_hook(spec, l, grid[l], positions)) for l in layers]


def steering_hooks(
    model: Any,
    neurons: NeuronSet,
    *,
    mode: str | None = "enhance",
    factors: Mapping[str, float] | None = None,
    positions: Positions = "last",
) -> list[tuple[str, Callable[..., Tensor]]]:
    """``fwd_hooks`` for ``run_with_hooks`` / ``model.hooks`` that steer ``neurons`` (see module docs)."""
    spec = model_spec(model, hook=neurons.hook, require_eval=False)
    neurons.check_compatible(model)
    _validate_positions(positions)
    return grid_hooks(spec, factor_grid(neurons, resolve_factors(mode, factors)), positions)


@contextmanager
def steer(
    model: Any,
    neurons: NeuronSet,
    *,
    mode: str | None = "enhance",
    factors: Mapping[str, float] | None = None,
    positions: Positions = "last",
) -> Iterator[Any]:
    """Context manager: inside it every forward pass of ``model`` is steered; the hooks are removed on
    exit, also when an exception is raised inside the block."""
    hooks = steering_hooks(model, neurons, mode=mode, factors=factors, positions=positions)
    with model.hooks(fwd_hooks=hooks):
        yield model
