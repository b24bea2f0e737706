"""One steering measured on one task: before and after, per held-out example. What evaluate and compare share.

A :class:`SteeringMeasurement` holds the unsteered and the steered accuracy and p(correct) of a task, over
its questions (each permutation counts once) and per example (each example's permutations averaged first:
the unit the paired bootstrap resamples, :mod:`neuronllm_tl.evaluation.statistics`), with each example's
content name, so two measurements of the same split can be paired example by example. :func:`measure` makes
one; ``nl.evaluate`` builds its rows from them and ``nl.compare`` stores them, one per line of
``cells.jsonl``. Signs: every delta is after minus before.

On disk it is JSON (:meth:`SteeringMeasurement.to_dict`, with ``"format"``); :meth:`~SteeringMeasurement.from_dict`
also reads the flat cells that ``compare`` wrote before the format existed (their per-example values may be
missing: the measurement then has no intervals).

Example:
    >>> base = score_task(model, task)
    >>> m = measure(model, task, Steering.from_mode(neurons, "degrade"), before=base)
    >>> m.delta("p"), m.intervals()[1]            # Δ p(correct), and its paired 95% interval
    >>> SteeringMeasurement.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    True
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from neuronllm_tl.evaluation.scores import TaskScores, score_task
from neuronllm_tl.evaluation.statistics import Interval, paired_ci
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.tasks.task import Task

MEASUREMENT_FORMAT = 1
Metric = Literal["accuracy", "p"]


@dataclass(frozen=True)
class PerExample:
    """Per held-out example (its permutations averaged): before and after, and the example's content name."""

    example_ids: tuple[str, ...] | None
    accuracy_before: tuple[float, ...]
    accuracy_after: tuple[float, ...]
    p_before: tuple[float, ...]
    p_after: tuple[float, ...]

    def pair(self, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
        before, after = getattr(self, f"{metric}_before"), getattr(self, f"{metric}_after")
        return np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.p_before)


@dataclass(frozen=True)
class SteeringMeasurement:
    """A steering's effect on a task (or an unsteered score: ``n_steered`` 0, after equal to before)."""

    accuracy_before: float
    accuracy_after: float
    p_before: float
    p_after: float
    """Over the task's questions: accuracy, and the mean probability of the correct option (option softmax)."""
    per_example: PerExample | None
    """None only for a cell written before per-example values were stored."""
    n_steered: int = 0
    """Neurons the steering touched (0: unsteered)."""
    seconds: float = 0.0

    def delta(self, metric: Metric) -> float:
        return float(getattr(self, f"{metric}_after") - getattr(self, f"{metric}_before"))

    def per_example_deltas(self, metric: Metric) -> np.ndarray | None:
        if self.per_example is None:
            return None
        before, after = self.per_example.pair(metric)
        return after - before

    def intervals(self, confidence: float = 0.95) -> tuple[Interval | None, Interval | None]:
        """Paired bootstrap intervals of Δ accuracy and Δ p over the examples (None below 2 examples)."""
        if self.per_example is None or len(self.per_example) < 2:
            return None, None
        acc = paired_ci(*self.per_example.pair("accuracy"), confidence=confidence)
        return acc, paired_ci(*self.per_example.pair("p"), confidence=confidence)

    def to_dict(self) -> dict[str, Any]:
        per = self.per_example
        return {
            "format": MEASUREMENT_FORMAT,
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "p_before": self.p_before,
            "p_after": self.p_after,
            "n_steered": self.n_steered,
            "seconds": self.seconds,
            "per_example": None
            if per is None
            else {
                "example": None if per.example_ids is None else list(per.example_ids),
                **{k: list(getattr(per, k)) for k in ("accuracy_before", "accuracy_after", "p_before", "p_after")},
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SteeringMeasurement:
        """A measurement from :meth:`to_dict`, or from a flat cell of an earlier ``compare`` (steered, or
        unsteered with ``accuracy`` / ``p_correct``)."""
        version = d.get("format", 0)
        if version > MEASUREMENT_FORMAT:
            raise ValueError(f"a measurement of format {version}: written by a newer neuronllm_tl; upgrade it.")
        if "accuracy_before" not in d:  # an unsteered cell of an earlier version
            return _unsteered_legacy(d)
        per = d.get("per_example")
        return cls(
            float(d["accuracy_before"]),
            float(d["accuracy_after"]),
            float(d["p_before"]),
            float(d["p_after"]),
            None if not per else _per_example(per, ("accuracy_before", "accuracy_after", "p_before", "p_after")),
            int(d.get("n_steered") or 0),
            float(d.get("seconds") or 0.0),
        )


def _per_example(per: Mapping[str, Any], keys: Sequence[str]) -> PerExample:
    names = per.get("example")
    values = [tuple(float(x) for x in per[k]) for k in keys]
    return PerExample(None if names is None else tuple(str(n) for n in names), *values)


def _unsteered_legacy(d: Mapping[str, Any]) -> SteeringMeasurement:
    per = d.get("per_example")
    per_example = None if not per else _per_example(per, ("accuracy", "accuracy", "p", "p"))
    acc, p = float(d["accuracy"]), float(d["p_correct"])
    return SteeringMeasurement(acc, acc, p, p, per_example, 0, float(d.get("seconds") or 0.0))


def from_scores(
    before: TaskScores, after: TaskScores, example_ids: Sequence[str] | None, *, n_steered: int, seconds: float = 0.0
) -> SteeringMeasurement:
    """The measurement of two scorings of the same task's questions (``after`` is ``before`` when unsteered)."""
    per = PerExample(
        None if example_ids is None else tuple(example_ids),
        *(tuple(float(x) for x in t.tolist()) for t in (before.per_example_accuracy(), after.per_example_accuracy())),
        *(tuple(float(x) for x in t.tolist()) for t in (before.per_example_p_correct(), after.per_example_p_correct())),
    )
    return SteeringMeasurement(
        before.accuracy, after.accuracy, before.mean_p_correct, after.mean_p_correct, per, n_steered, seconds
    )


def measure(
    model: HookedModel,
    task: Task,
    steering: Steering | None,
    *,
    before: TaskScores | SteeringMeasurement | None = None,
    example_ids: Sequence[str] | None = None,
    **score_options: Any,
) -> SteeringMeasurement:
    """``task`` scored unsteered (or ``before``: its scores, or its unsteered measurement) and under ``steering``
    (None: the unsteered measurement itself). ``score_options`` go to
    :func:`~neuronllm_tl.evaluation.scores.score_task`; ``example_ids`` name the task's examples, in order."""
    start = time.time()
    if isinstance(before, SteeringMeasurement):
        after = score_task(model, task, steering=steering, **score_options)
        steered = from_scores(after, after, example_ids, n_steered=0 if steering is None else steering.n_steered)
        return following(before, steered, seconds=time.time() - start)
    base = before if before is not None else score_task(model, task, **score_options)
    after = base if steering is None else score_task(model, task, steering=steering, **score_options)
    n_steered = 0 if steering is None else steering.n_steered
    return from_scores(base, after, example_ids, n_steered=n_steered, seconds=time.time() - start)


def following(before: SteeringMeasurement, after: SteeringMeasurement, *, seconds: float) -> SteeringMeasurement:
    """The change from ``before``'s final state (an unsteered measurement) to ``after``'s, on the same examples."""
    b, a = before.per_example, after.per_example
    per = None
    if b is not None and a is not None:
        if b.example_ids is not None and a.example_ids is not None and b.example_ids != a.example_ids:
            raise ValueError("the two measurements hold different examples: they cannot be paired.")
        per = PerExample(b.example_ids or a.example_ids, b.accuracy_after, a.accuracy_after, b.p_after, a.p_after)
    return SteeringMeasurement(
        before.accuracy_after, after.accuracy_after, before.p_after, after.p_after, per, after.n_steered, seconds
    )


__all__ = [
    "MEASUREMENT_FORMAT",
    "Metric",
    "PerExample",
    "SteeringMeasurement",
    "following",
    "from_scores",
    "measure",
]
