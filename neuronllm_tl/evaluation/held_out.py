"""Held out by construction: an evaluation leaves out the examples that identified the neuron set.

A neuron set records the content ids of the examples it was identified on
(``metadata["identified_examples"]``, :mod:`neuronllm_tl.tasks.identity`). Before ``evaluate``,
``evaluate_generation`` or ``explain`` measures anything, :func:`held_out_part` removes those examples
from the task (``held_out="exclude"``, the default) and says how many it removed; with
``held_out="allow"`` it keeps them and the report says the measurement is *not* held out. Only then do
the reports call their examples "held-out". A set saved before it recorded its examples cannot be checked:
the report says so.

Example:
    >>> part = held_out_part(task, neurons)           # the task minus the identification examples
    >>> part.task, part.n_excluded, part.describe()
    (Task('tiny-cloze', 6 examples, cloze, 3 permutations, calibration none), 6,
     '6 held-out examples; 6 that identified the set were excluded')
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from neuronllm_tl.evaluation.scores import check_task_positions
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.steering.modes import get_mode
from neuronllm_tl.tasks.identity import example_ids
from neuronllm_tl.tasks.task import Task

HeldOut = Literal["exclude", "allow"]
IDENTIFIED_KEY = "identified_examples"


@dataclass(frozen=True)
class HeldOutPart:
    """The examples an evaluation measures, and how they relate to the set's identification examples."""

    task: Task
    n_excluded: int = 0
    """Examples left out because they identified the set."""
    n_overlap: int = 0
    """Examples kept although they identified the set (``held_out="allow"``)."""
    checked: bool = True
    """False: the set does not record its identification examples (saved by an earlier version)."""

    @property
    def is_held_out(self) -> bool:
        return self.checked and self.n_overlap == 0

    def describe(self) -> str:
        n = len(self.task)
        if not self.checked:
            return f"{n} examples; whether they are held out is unknown (this neuron set does not record its examples)"
        if self.n_overlap:
            return f"{n} examples, NOT held out: {self.n_overlap} of them identified the neuron set"
        excluded = f"; {self.n_excluded} that identified the set were excluded" if self.n_excluded else ""
        return f"{n} held-out examples{excluded}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_examples": len(self.task),
            "n_excluded": self.n_excluded,
            "n_overlap": self.n_overlap,
            "checked": self.checked,
            "held_out": self.is_held_out,
        }


def checked_evaluation(
    model: HookedModel,
    task: Task,
    neurons: NeuronSet,
    modes: Sequence[str],
    controls: int,
    positions: str,
    held_out: HeldOut,
) -> HeldOutPart:
    """An evaluation's arguments checked (controls, positions, modes, the model's shape), and the part of
    ``task`` it measures (:func:`held_out_part`): what ``evaluate`` and ``evaluate_generation`` share."""
    if not isinstance(controls, int) or controls < 0:
        raise ValueError(f"controls must be an int >= 0, got {controls!r}.")
    check_task_positions(positions)
    for mode in modes:
        get_mode(mode)
    neurons.check_compatible(model)
    return held_out_part(task, neurons, held_out=held_out)


def check_held_out(held_out: str) -> None:
    if held_out not in ("exclude", "allow"):
        raise ValueError(f"held_out must be 'exclude' or 'allow', got {held_out!r}.")


READOUT_KEYS = ("answer_format", "cloze_normalization", "calibration", "template")
"""What decides how a task is read: a set used under other values measures other neurons' meaning."""


def warn_if_other_readout(task: Task, neurons: NeuronSet) -> None:
    """Warn, naming both, when ``task`` is read otherwise than the task the set was identified on."""
    recorded = neurons.metadata.get("task") or {}
    now = task.describe()
    differ = [k for k in READOUT_KEYS if k in recorded and recorded[k] != now[k]]
    if differ:
        pairs = "; ".join(f"{k}: identified with {_short(recorded[k])}, now {_short(now[k])}" for k in differ)
        warnings.warn(
            f"task {task.name!r} is read otherwise than the task this neuron set was identified on ({pairs}). "
            "Its good and bad neurons were chosen for the other read-out; identify again under this one to compare.",
            UserWarning,
            stacklevel=3,
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def held_out_part(task: Task, neurons: NeuronSet, *, held_out: HeldOut = "exclude") -> HeldOutPart:
    """``task`` without the examples that identified ``neurons`` (or with them, labelled, under ``"allow"``);
    warns when the task is read otherwise than the set's (:func:`warn_if_other_readout`)."""
    check_held_out(held_out)
    warn_if_other_readout(task, neurons)
    recorded = neurons.metadata.get(IDENTIFIED_KEY)
    if recorded is None:
        warnings.warn(
            "this neuron set does not record the examples it was identified on (saved by an earlier version): "
            "the evaluation cannot check that its examples are held out. Identify the set again to record them.",
            UserWarning,
            stacklevel=3,
        )
        return HeldOutPart(task, checked=False)
    identified = set(recorded)
    ids = example_ids(task)
    inside = [i for i, e in enumerate(ids) if e in identified]
    if not inside or held_out == "allow":
        return HeldOutPart(task, n_overlap=len(inside))
    keep = [i for i, e in enumerate(ids) if e not in identified]
    if not keep:
        raise ValueError(
            f"all {len(ids)} examples of task {task.name!r} identified this neuron set, so none is held out. "
            "Evaluate on other examples (identify on a part: `identify --split 0.5`, or nl.identify on "
            "task.split(0.5)[0]), or measure on the identification data, labelled as such, with "
            "held_out='allow' (command line: --allow-overlap)."
        )
    return HeldOutPart(task.subset(keep), n_excluded=len(inside))


__all__ = [
    "IDENTIFIED_KEY",
    "READOUT_KEYS",
    "HeldOut",
    "HeldOutPart",
    "check_held_out",
    "checked_evaluation",
    "held_out_part",
    "warn_if_other_readout",
]
