"""A comparison's cell: one :class:`~neuronllm_tl.evaluation.measurement.SteeringMeasurement` and what it
measured (task, variant, mode, which neurons, split seed, target or unrelated task).

``cells.jsonl`` holds one :meth:`Cell.to_dict` per line (the measurement under ``"measurement"``, with its
format version); :meth:`Cell.from_dict` is the only place that reads those keys, and it also reads the flat
cells an earlier version wrote (the measurement's fields beside the labels). Everything downstream (rows,
intervals, who beats whom, the report) reads typed attributes.

Example:
    >>> from neuronllm_tl.evaluation.measurement import measure
    >>> m = measure(model, task, nl.Steering.from_mode(neurons, "degrade"))
    >>> cell = Cell("steer", m, task="tiny", variant="neuronllm_gxa", group="main", mode="degrade",
    ...             neurons="identified")
    >>> line = json.dumps(cell.to_dict())
    >>> again = Cell.from_dict(json.loads(line))
    >>> again.variant, again.mode, abs(again.delta("p") - cell.delta("p")) < 1e-4   # values rounded on disk
    ('neuronllm_gxa', 'degrade', True)
    >>> acc_ci, p_ci = again.measurement.intervals()       # paired 95% intervals over the task's 12 examples
    >>> p_ci.n
    12
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from neuronllm_tl.evaluation.measurement import Metric, SteeringMeasurement

Kind = Literal["steer", "unsteered"]
_LABELS = ("task", "variant", "method", "group", "mode", "neurons", "eval", "eval_task")


@dataclass(frozen=True)
class Cell:
    """One measurement with its labels (those of a steered cell are empty on an unsteered one)."""

    kind: Kind
    measurement: SteeringMeasurement
    eval_task: str = ""
    split_seed: int = 0
    task: str = ""
    variant: str = ""
    method: str = ""
    group: str = ""
    mode: str = ""
    neurons: str = ""
    """``"identified"`` or ``"random"`` (a control set)."""
    seed: int | None = None
    """A random control's seed (None: the identified set)."""
    eval: str = "target"
    """``"target"`` (the task's own held-out split) or ``"unrelated"`` (another task's: specificity)."""
    n_good: int = 0
    n_bad: int = 0
    key: str = ""

    @property
    def n_steered(self) -> int:
        return self.measurement.n_steered

    @property
    def seconds(self) -> float:
        return self.measurement.seconds

    @property
    def example_names(self) -> tuple[str, ...] | None:
        per = self.measurement.per_example
        return None if per is None else per.example_ids

    def delta(self, metric: Metric) -> float:
        return self.measurement.delta(metric)

    def per_example_deltas(self, metric: Metric) -> np.ndarray | None:
        return self.measurement.per_example_deltas(metric)

    def is_identified_target(self) -> bool:
        return self.kind == "steer" and self.neurons == "identified" and self.eval == "target"

    def with_labels(self, **labels: Any) -> Cell:
        return replace(self, **labels)

    def to_dict(self) -> dict[str, Any]:
        labels = {name: getattr(self, name) for name in (*_LABELS, "split_seed", "seed", "n_good", "n_bad")}
        return {"key": self.key, "kind": self.kind, **labels, "measurement": self.measurement.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Cell:
        """A cell from :meth:`to_dict`, or a flat cell of an earlier version."""
        measurement = SteeringMeasurement.from_dict(d["measurement"] if "measurement" in d else d)
        labels = {name: str(d.get(name) or "") for name in _LABELS}
        seed = d.get("seed")
        return cls(
            kind="unsteered" if d.get("kind") == "unsteered" else "steer",
            measurement=measurement,
            split_seed=int(d.get("split_seed") or 0),
            seed=None if seed in (None, "") else int(seed),
            n_good=int(d.get("n_good") or 0),
            n_bad=int(d.get("n_bad") or 0),
            key=str(d.get("key") or ""),
            **{**labels, "eval": labels["eval"] or "target"},
        )


def as_cell(cell: Cell | Mapping[str, Any]) -> Cell:
    """``cell`` as a :class:`Cell` (a mapping is read by :meth:`Cell.from_dict`)."""
    return cell if isinstance(cell, Cell) else Cell.from_dict(cell)


def as_cells(cells: Iterable[Cell | Mapping[str, Any]]) -> list[Cell]:
    return [as_cell(c) for c in cells]


__all__ = ["Cell", "Kind", "as_cell", "as_cells"]
