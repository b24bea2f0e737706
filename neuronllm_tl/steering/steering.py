"""The one steering value: which neurons, by which factors, at which positions; and the hooks that apply it.

A :class:`Steering` multiplies the activation of every neuron of a :class:`NeuronSet` group by that
group's factor (``{"good": 2.0, "bad": 0.0}`` for the mode ``enhance``; see
:mod:`neuronllm_tl.steering.modes`), at the chosen ``positions``:

* ``"answer"`` (default): the answer position. Inside :func:`neuronllm_tl.evaluation.score_task` /
  ``evaluate`` that is each question row's exact answer position (the last prompt token, also when the
  row is padded or carries a cloze continuation); on a raw ``model(tokens)`` call under :func:`steer` it
  is each row's last real token: placed by the call's ``attention_mask`` on a padded batch, and a padded
  batch that cannot be placed is refused (:mod:`neuronllm_tl.steering.positions`). It is the new token at
  each step of cached generation.
* ``"all"``: every position.
* a 1-D integer tensor of one position per batch row.

:func:`steer` (a context manager) and :func:`steering_hooks` (a ``fwd_hooks`` list) accept either a
``Steering`` or a ``NeuronSet`` with ``mode=`` / ``factors=`` (default mode ``enhance``). A steering is
saved with its neuron set: ``steering.save(folder)`` writes the set (``NeuronSet.save``) and
``steering.json`` beside it.

Example:
    >>> s = nl.Steering.from_mode(neurons, "degrade")
    >>> with nl.steer(model, s):
    ...     logits = model(tokens)                # also run_with_hooks, run_with_cache, generate
    >>> logits = model.run_with_hooks(tokens, fwd_hooks=nl.steering_hooks(model, neurons, mode="enhance"))
    >>> s.save("runs/degrade")                    # the neuron set and steering.json (under tmp_path here)
    PosixPath('runs/degrade')
    >>> nl.Steering.load("runs/degrade", model=model).factors == s.factors
    True
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import ModelSpec, check_width, model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.steering.modes import MODES, check_factors, get_mode, mode_of
from neuronllm_tl.steering.positions import (
    AnswerPositions,
    Positions,
    check_positions,
    last_real_positions,
    watching_answer_positions,
)

Hooks = list[tuple[str, Callable[..., Tensor]]]
STEERING_FILE = "steering.json"
STEERING_FORMAT = 1


def scaling_hook(
    spec: ModelSpec,
    layer: int,
    factor: Float[Tensor, " d_mlp"],
    positions: Positions,
    tracker: AnswerPositions | None = None,
) -> Callable[..., Tensor]:
    """A hook function multiplying layer ``layer``'s neurons by ``factor`` at ``positions`` (``"answer"``
    here is each row's last real token as ``tracker`` found it in the call, else the last position)."""
    name = spec.hook_name(layer)

    def hook(act: Float[Tensor, "batch pos d_mlp"], hook: Any) -> Tensor:
        check_width(act, spec, name)
        f = factor.to(act.device, act.dtype)
        if isinstance(positions, str) and positions == "all":
            return act * f
        pos = positions if not isinstance(positions, str) else tracker.current if tracker is not None else None
        if pos is None:  # "answer" on an unpadded call: the last position of every row
            return torch.cat([act[:, :-1], act[:, -1:] * f], dim=1)
        pos = pos.to(act.device)
        if pos.shape[0] != act.shape[0]:
            raise ValueError(f"{len(pos)} positions given for a batch of {act.shape[0]} rows.")
        rows = torch.arange(act.shape[0], device=act.device)
        return act.index_put((rows, pos), act[rows, pos] * f)

    return hook


def scaling_from_hook(
    spec: ModelSpec, layer: int, factor: Float[Tensor, " d_mlp"], start: Int[Tensor, " row"]
) -> Callable[..., Tensor]:
    """A hook function multiplying layer ``layer``'s neurons by ``factor`` at every position ``>= start[row]``."""
    name = spec.hook_name(layer)

    def hook(act: Float[Tensor, "batch pos d_mlp"], hook: Any) -> Tensor:
        check_width(act, spec, name)
        pos = torch.arange(act.shape[1], device=act.device)
        steered = (pos[None, :] >= start.to(act.device)[:, None])[..., None]
        return torch.where(steered, act * factor.to(act.device, act.dtype), act)

    return hook


@dataclass(frozen=True, eq=False)
class Steering:
    """Scale ``neurons`` by ``factors`` (``{"good": x, "bad": y}``; a missing group is unchanged) at ``positions``.

    ``mode`` is the name of the mode the factors come from: set by :meth:`from_mode`, otherwise the first
    registered mode with exactly these factors, or None for custom factors.
    """

    neurons: NeuronSet
    factors: Mapping[str, float]
    positions: Positions = "answer"
    mode: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.neurons, NeuronSet):
            raise TypeError(
                f"Steering needs a NeuronSet (from nl.identify or NeuronSet.load), got {type(self.neurons).__name__}."
            )
        factors = check_factors(self.factors)
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "positions", check_positions(self.positions))
        if self.mode is None:
            object.__setattr__(self, "mode", mode_of(factors))
        elif self.mode in MODES and MODES[self.mode].factors != factors:
            raise ValueError(
                f"mode {self.mode!r} has factors {MODES[self.mode].factors}, not {factors}; "
                "use Steering.from_mode(neurons, mode) or leave mode out for custom factors."
            )

    @classmethod
    def from_mode(cls, neurons: NeuronSet, mode: str, *, positions: Positions = "answer") -> Steering:
        """The steering of a registered mode (see :data:`neuronllm_tl.steering.MODES`)."""
        return cls(neurons, get_mode(mode).factors, positions, mode=mode)

    @property
    def n_steered(self) -> int:
        """Number of neurons in the groups this steering touches."""
        return sum(len(getattr(self.neurons, group)) for group in self.factors)

    def factor_grid(self) -> Float[Tensor, "layer d_mlp"]:
        """Multiplier of every neuron: 1 except the chosen ones."""
        grid = torch.ones(self.neurons.n_layers, self.neurons.d_mlp)
        for group, factor in self.factors.items():
            idx = getattr(self.neurons, group)
            if len(idx):
                grid[idx[:, 0], idx[:, 1]] = factor
        return grid

    def hooks(
        self,
        model: HookedModel,
        *,
        positions: Positions | None = None,
        attention_mask: Tensor | None = None,
        tracker: AnswerPositions | None = None,
    ) -> Hooks:
        """``fwd_hooks`` for ``run_with_hooks`` / ``model.hooks``: one scaling hook per layer with a steered
        neuron. ``positions`` overrides the steering's own (``score_task`` passes each batch's answer positions).
        At ``"answer"`` on a padded batch, give the batch's ``attention_mask``: each row is then steered at its
        last real token (without it, at the last column; :func:`steer` finds the mask in the call itself)."""
        spec = model_spec(model, hook=self.neurons.hook, require_eval=False)
        self.neurons.check_compatible(model)
        pos = self.positions if positions is None else check_positions(positions)
        if attention_mask is not None and isinstance(pos, str) and pos == "answer":
            pos = last_real_positions(attention_mask)
        grid = self.factor_grid()
        layers = torch.nonzero((grid != 1).any(-1)).flatten().tolist()
        return [(spec.hook_name(layer), scaling_hook(spec, layer, grid[layer], pos, tracker)) for layer in layers]

    def hooks_from(self, model: HookedModel, start: Int[Tensor, " row"]) -> Hooks:
        """``fwd_hooks`` steering every position ``>= start[row]`` (generation: the answer position and every
        position after it); a steering at ``"all"`` steers every position whatever ``start``."""
        if isinstance(self.positions, Tensor):
            raise ValueError(
                "a steering at a tensor of positions fits one batch only; use positions='answer' or 'all'."
            )
        spec = model_spec(model, hook=self.neurons.hook, require_eval=False)
        self.neurons.check_compatible(model)
        start = torch.zeros_like(start) if self.positions == "all" else start
        grid = self.factor_grid()
        layers = torch.nonzero((grid != 1).any(-1)).flatten().tolist()
        return [(spec.hook_name(layer), scaling_from_hook(spec, layer, grid[layer], start)) for layer in layers]

    def save(self, path: str | Path) -> Path:
        """Write the neuron set (``NeuronSet.save``) and ``steering.json`` into folder ``path``; returns it."""
        folder = self.neurons.save(path)
        positions = self.positions.tolist() if isinstance(self.positions, Tensor) else self.positions
        record = {
            "format_version": STEERING_FORMAT,
            "factors": dict(self.factors),
            "mode": self.mode,
            "positions": positions,
        }
        (folder / STEERING_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
        return folder

    @classmethod
    def load(cls, path: str | Path, model: HookedModel | None = None) -> Steering:
        """Read a steering written by :meth:`save`; with ``model``, also refuse a mismatched model."""
        folder = Path(path)
        if not (folder / STEERING_FILE).is_file():
            raise FileNotFoundError(
                f"{folder} is not a saved Steering: it has no {STEERING_FILE} (written by Steering.save)."
            )
        record = json.loads((folder / STEERING_FILE).read_text())
        if record.get("format_version", 0) > STEERING_FORMAT:
            raise ValueError(
                f"{folder} was written by a newer neuronllm_tl (steering format {record['format_version']}); "
                "upgrade the package."
            )
        neurons = NeuronSet.load(folder, model=model)
        positions = record["positions"]
        if isinstance(positions, list):
            positions = torch.tensor(positions, dtype=torch.long)
        mode = record.get("mode")
        if mode in MODES and MODES[mode].factors != check_factors(record["factors"]):
            mode = None  # the mode was re-registered with other factors since: the saved factors win
        return cls(neurons, record["factors"], positions, mode=mode)


def as_steering(
    steering_or_neurons: Steering | NeuronSet,
    *,
    mode: str | None = None,
    factors: Mapping[str, float] | None = None,
    positions: Positions | None = None,
) -> Steering:
    """A Steering as is (``positions`` may override its own), or one built from a NeuronSet with ``mode``
    (default ``"enhance"``) or explicit ``factors``."""
    if isinstance(steering_or_neurons, Steering):
        if mode is not None or factors is not None:
            raise ValueError("a Steering already carries its factors; pass mode=/factors= only with a NeuronSet.")
        if positions is None:
            return steering_or_neurons
        return dataclasses.replace(steering_or_neurons, positions=positions)
    if not isinstance(steering_or_neurons, NeuronSet):
        raise TypeError(f"expected a Steering or a NeuronSet, got {type(steering_or_neurons).__name__}.")
    pos = "answer" if positions is None else positions
    if factors is not None:
        if mode is not None:
            raise ValueError(f"pass either mode={mode!r} or factors={dict(factors)}, not both.")
        return Steering(steering_or_neurons, factors, pos)
    return Steering.from_mode(steering_or_neurons, "enhance" if mode is None else mode, positions=pos)


def steering_hooks(
    model: HookedModel,
    steering_or_neurons: Steering | NeuronSet,
    *,
    mode: str | None = None,
    factors: Mapping[str, float] | None = None,
    positions: Positions | None = None,
    attention_mask: Tensor | None = None,
) -> Hooks:
    """``fwd_hooks`` for ``run_with_hooks`` / ``model.hooks`` that apply the steering (see module docs).
    ``positions=None`` keeps a Steering's own positions, or ``"answer"`` for a NeuronSet; ``attention_mask``
    places ``"answer"`` on a padded batch (:meth:`Steering.hooks`)."""
    steering = as_steering(steering_or_neurons, mode=mode, factors=factors, positions=positions)
    return steering.hooks(model, attention_mask=attention_mask)


@contextmanager
def steer(
    model: HookedModel,
    steering_or_neurons: Steering | NeuronSet,
    *,
    mode: str | None = None,
    factors: Mapping[str, float] | None = None,
    positions: Positions | None = None,
) -> Iterator[HookedModel]:
    """Context manager: inside it every forward pass of ``model`` is steered; the hooks are removed on
    exit, also when an exception is raised inside the block. Arguments as :func:`steering_hooks`.

    At ``positions="answer"`` each call is watched for its padding (:mod:`neuronllm_tl.steering.positions`):
    an ``attention_mask`` passed with the call places each row's last real token, and a right-padded token
    batch without one is refused rather than steered at a pad token."""
    steering = as_steering(steering_or_neurons, mode=mode, factors=factors, positions=positions)
    at_answer = isinstance(steering.positions, str) and steering.positions == "answer"
    with watching_answer_positions(model) if at_answer else nullcontext() as tracker:
        with model.hooks(fwd_hooks=steering.hooks(model, tracker=tracker)):
            yield model


__all__ = [
    "Hooks",
    "Positions",
    "Steering",
    "as_steering",
    "check_positions",
    "scaling_from_hook",
    "scaling_hook",
    "steer",
    "steering_hooks",
]
