"""One steering measured on one task: before and after, per held-out example. What evaluate and compare share.

A :class:`SteeringMeasurement` holds the unsteered and the steered accuracy and p(correct) of a task, over
its questions (each permutation counts once) and per example (each example's permutations averaged first:
the unit the paired bootstrap resamples, :mod:`neuronllm_tl.evaluation.statistics`), with each example's
content name, so two measurements of the same split can be paired example by example. :func:`measure` makes
one; ``nl.evaluate`` builds its rows from them and ``nl.compare`` stores them, one per line of
``cells.jsonl``. Signs: every delta is after minus before.

On disk it is JSON (:meth:`SteeringMeasurement.to_dict`, with ``"format"``; per-example values rounded to
5 decimals; an unchanged measurement writes one set of values instead of two); :meth:`~SteeringMeasurement.from_dict`
reads format 1 and the flat cells that ``compare`` wrote before the format existed (their per-example values
may be missing: the measurement then has no intervals).

Example:
    >>> base = score_task(model, task)
    >>> m = measure(model, task, Steering.from_mode(neurons, "degrade"), before=base)
    >>> acc_ci, p_ci = m.intervals()              # paired 95% intervals of Δ accuracy and Δ p(correct)
    >>> abs(p_ci.estimate - m.delta("p")) < 1e-6, p_ci.n     # the same Δ p, over the 12 examples
    (True, 12)
    >>> SteeringMeasurement.from_dict(json.loads(json.dumps(m.to_dict()))).delta("p") == m.delta("p")
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

MEASUREMENT_FORMAT = 2
PER_EXAMPLE_DECIMALS = 5
"""Per-example values on disk are rounded to this many decimals (a mean moves by less than 1e-5)."""
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

    def is_unchanged(self) -> bool:
        """Whether after equals before everywhere (an unsteered score, or one state of the model alone)."""
        per = self.per_example
        same = (self.accuracy_before, self.p_before) == (self.accuracy_after, self.p_after)
        return same and (per is None or (per.accuracy_before, per.p_before) == (per.accuracy_after, per.p_after))

    def final(self) -> SteeringMeasurement:
        """The after state alone (before set to after, examples unnamed): what ``compare`` stores for a steered
        cell, since its before state is the split's unsteered measurement (:func:`following` joins them)."""
        per = self.per_example
        if per is not None:
            per = PerExample(None, per.accuracy_after, per.accuracy_after, per.p_after, per.p_after)
        return SteeringMeasurement(
            self.accuracy_after, self.accuracy_after, self.p_after, self.p_after, per, self.n_steered, self.seconds
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; per-example values rounded to :data:`PER_EXAMPLE_DECIMALS` decimals (an unchanged
        measurement writes one set of values, ``accuracy`` / ``p``, instead of before and after)."""
        per = self.per_example
        names = _UNCHANGED_KEYS if self.is_unchanged() else _CHANGED_KEYS
        values = {k: getattr(self, _full_name(k)) for k in names}
        out: dict[str, Any] = {"format": MEASUREMENT_FORMAT, **values, "n_steered": self.n_steered}
        out["seconds"] = round(self.seconds, 3)
        if per is not None:
            out["per_example"] = {k: _rounded(getattr(per, _full_name(k))) for k in names}
            if per.example_ids is not None:
                out["per_example"]["example"] = list(per.example_ids)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SteeringMeasurement:
        """A measurement from :meth:`to_dict`, or from a flat cell of an earlier ``compare`` (steered, or
        unsteered with ``accuracy`` / ``p_correct``)."""
        version = d.get("format", 0)
        if version > MEASUREMENT_FORMAT:
            raise ValueError(f"a measurement of format {version}: written by a newer neuronllm_tl; upgrade it.")
        if "accuracy_before" not in d:  # unchanged: format 2, or an unsteered cell of an earlier version
            return _unchanged(d)
        per = d.get("per_example")
        return cls(
            float(d["accuracy_before"]),
            float(d["accuracy_after"]),
            float(d["p_before"]),
            float(d["p_after"]),
            None if not per else _per_example(per, _CHANGED_KEYS),
            int(d.get("n_steered") or 0),
            float(d.get("seconds") or 0.0),
        )


_UNCHANGED_KEYS = ("accuracy", "p")
_CHANGED_KEYS = ("accuracy_before", "accuracy_after", "p_before", "p_after")


def _rounded(values: Sequence[float]) -> list[float]:
    return [round(x, PER_EXAMPLE_DECIMALS) for x in values]


def _full_name(key: str) -> str:
    return {"accuracy": "accuracy_after", "p": "p_after"}.get(key, key)


def _per_example(per: Mapping[str, Any], keys: Sequence[str]) -> PerExample:
    names = per.get("example")
    values = [tuple(float(x) for x in per[k]) for k in keys]
    return PerExample(None if names is None else tuple(str(n) for n in names), *values)


def _unchanged(d: Mapping[str, Any]) -> SteeringMeasurement:
    per = d.get("per_example")
    per_example = None if not per else _per_example(per, ("accuracy", "accuracy", "p", "p"))
    acc, p = float(d["accuracy"]), float(d["p"] if "p" in d else d["p_correct"])
    return SteeringMeasurement(
        acc, acc, p, p, per_example, int(d.get("n_steered") or 0), float(d.get("seconds") or 0.0)
    )


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
    "PER_EXAMPLE_DECIMALS",
    "Metric",
    "PerExample",
    "SteeringMeasurement",
    "following",
    "from_scores",
    "measure",
]
