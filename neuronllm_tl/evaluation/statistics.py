"""Confidence intervals and paired tests for steering effects, resampling held-out *examples*.

What is resampled, and why:
    The model is deterministic: the only randomness in a steering effect is *which* examples happened to
    be held out. So the interval answers "how much would this effect move with another draw of held-out
    examples from the same task?", and the unit that is resampled is the example. The questions of one
    example are not independent draws (its permutations share the stem, the answer and whatever the model
    knows about it), so each example is first reduced to one value, the mean over its permutations
    (:meth:`TaskScores.per_example_accuracy`, :meth:`TaskScores.per_example_p_correct`); only then are
    examples resampled, with replacement. Before and after are measured on the same examples, so they are
    resampled together (``scipy.stats.bootstrap(..., paired=True)``): the interval is that of the mean of
    the per-example differences.

Interval method:
    ``"BCa"`` (bias-corrected and accelerated; scipy's default) by default. It is second-order accurate
    and corrects for the bias and skew of the bootstrap distribution, which matter here: per-example
    accuracies are bounded in [0, 1] and move in steps of 1 / (number of permutations), and an effect near a
    bound (a task at accuracy 1.000) is skewed. When BCa cannot be computed (scipy warns and returns nan,
    e.g. a nearly degenerate bootstrap distribution), the percentile interval of the same bootstrap
    distribution is used and :attr:`Interval.note` says so. When every example moved by exactly the same
    amount d, no resample varies anything: the interval is [d, d] (with a note), never nan.

Comparing two methods (:func:`paired_difference`):
    ``a`` and ``b`` are the per-example deltas (after minus before) of two methods on the *same* held-out
    examples. The interval is that of mean(a - b), by the same paired bootstrap. The p-value is from
    ``scipy.stats.permutation_test`` with ``permutation_type="samples"``: under the null hypothesis the two
    methods are exchangeable on every example, so a_i and b_i are swapped at random within each example
    (a sign flip of a_i - b_i), and the statistic is the mean difference, the same quantity the interval is
    about. The test is exact (every one of the 2**n swaps) when 2**n <= ``n_resamples``. We prefer it to
    the Wilcoxon signed-rank test, which tests a location of ranks rather than the mean and handles the
    many zero differences of accuracy (examples neither method moved) by dropping or splitting them.
    **A beats B only when the interval of the difference excludes 0** on the side that is better for the
    mode (:meth:`Difference.beats`); the p-value is reported beside it, not used for the verdict.

Sign convention:
    after minus before (:func:`paired_ci`), and a minus b (:func:`paired_difference`).

Reproducible:
    every function takes ``seed`` (0 by default): the same inputs give the same interval and p-value.

Example:
    >>> base = nl.score_task(model, held_out)
    >>> steered = nl.score_task(model, held_out, steering=nl.Steering.from_mode(neurons, "degrade"))
    >>> ci = paired_ci(base.per_example_p_correct(), steered.per_example_p_correct())
    >>> ci.format("+.4f")     # estimate [low, high]
    '... [..., ...]'
    >>> ci.n, ci.method, ci.excludes_zero == (ci.low > 0 or ci.high < 0)
    (6, 'BCa', True)
    >>> paired_ci([0.2, 0.4, 0.5, 0.3], [0.1, 0.2, 0.3, 0.2]).format("+.3f")
    '-0.150 [..., ...]'
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

DEFAULT_RESAMPLES = 9999
DEFAULT_SEED = 0
CIMethod = Literal["BCa", "percentile"]
ArrayLike = Sequence[float] | np.ndarray | Any  # lists, numpy arrays, CPU torch tensors

# scipy >= 1.15 names the generator argument ``rng``; older releases ``random_state``. A Generator
# instance passed to either draws the same resamples.
_RNG_ARG = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


@dataclass(frozen=True)
class Interval:
    """A point estimate and its confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95
    n: int = 0
    """Number of examples resampled."""
    method: str = "BCa"
    """``"BCa"`` or ``"percentile"`` (BCa was degenerate, or asked for)."""
    note: str = ""

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def bounds(self, fmt: str = "+.3f") -> str:
        return f"[{self.low:{fmt}}, {self.high:{fmt}}]"

    def format(self, fmt: str = "+.3f", estimate: float | None = None) -> str:
        """``"+0.042 [+0.000, +0.104]"``; ``estimate`` replaces the point shown (e.g. a value computed elsewhere)."""
        return f"{self.estimate if estimate is None else estimate:{fmt}} {self.bounds(fmt)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interval:
        return cls(**d)


@dataclass(frozen=True)
class Difference:
    """Two methods' per-example deltas on the same examples: the interval of mean(a - b) and a p-value."""

    interval: Interval
    p_value: float
    test: str = "paired permutation test of the mean difference (scipy.stats.permutation_test, samples)"

    def beats(self, direction: int = 1) -> bool:
        """Whether a beats b: the interval of mean(a - b) excludes 0 on the side of ``direction`` (+1: larger
        is better, e.g. enhance's Δp; -1: smaller is better, e.g. degrade's Δp)."""
        if direction not in (1, -1):
            raise ValueError(f"direction is +1 (larger is better) or -1 (smaller is better), got {direction!r}.")
        return self.interval.low > 0 if direction > 0 else self.interval.high < 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _paired_arrays(before: ArrayLike, after: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"paired values are two 1-D arrays of one length, got shapes {x.shape} and {y.shape}.")
    if len(x) < 2:
        raise ValueError(f"an interval needs at least 2 examples, got {len(x)}.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("paired values must be finite (no nan or inf).")
    return x, y


def _mean_difference(before: np.ndarray, after: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(after - before, axis=axis)


def _bootstrap(x: np.ndarray, y: np.ndarray, method: str, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate BCa warns (and returns nan): handled by the caller
        return stats.bootstrap((x, y), _mean_difference, paired=True, vectorized=True, method=method, **kwargs)


def paired_ci(
    before: ArrayLike,
    after: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: CIMethod = "BCa",
) -> Interval:
    """Paired bootstrap interval of mean(after - before) over examples (one value per example in each)."""
    if method not in ("BCa", "percentile"):
        raise ValueError(f"method is 'BCa' or 'percentile', got {method!r}.")
    x, y = _paired_arrays(before, after)
    d = y - x
    estimate = float(d.mean())
    if np.all(d == d[0]):
        note = "every example changed by the same amount: the interval is that value"
        return Interval(estimate, estimate, estimate, confidence, len(d), "percentile", note)
    common = dict(confidence_level=confidence, n_resamples=n_resamples, **{_RNG_ARG: np.random.default_rng(seed)})
    res = _bootstrap(x, y, method, **common)
    low, high = res.confidence_interval
    note = ""
    if not (np.isfinite(low) and np.isfinite(high)):
        # BCa degenerate: the percentile interval of the same bootstrap distribution (no new resamples).
        res = _bootstrap(x, y, "percentile", confidence_level=confidence, n_resamples=0, bootstrap_result=res)
        low, high = res.confidence_interval
        method, note = "percentile", "BCa was degenerate here; percentile interval of the same resamples"
    return Interval(estimate, float(low), float(high), confidence, len(d), method, note)


def _mean_of_differences(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def paired_difference(
    a: ArrayLike,
    b: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    method: CIMethod = "BCa",
) -> Difference:
    """Method a against method b on the same examples: the paired interval of mean(a - b) and the two-sided
    p-value of a paired permutation test (a_i and b_i swapped within examples) of the same mean."""
    interval = paired_ci(b, a, confidence=confidence, n_resamples=n_resamples, seed=seed, method=method)
    x, y = _paired_arrays(a, b)
    res = stats.permutation_test(
        (x, y),
        _mean_of_differences,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        **{_RNG_ARG: np.random.default_rng(seed)},
    )
    return Difference(interval, float(res.pvalue))


__all__ = ["DEFAULT_RESAMPLES", "DEFAULT_SEED", "Difference", "Interval", "paired_ci", "paired_difference"]
