"""Paired intervals and tests over examples: equal to scipy called directly, degenerate input, aggregation."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from neuronllm_tl.evaluation.scores import TaskScores
from neuronllm_tl.evaluation.statistics import Interval, paired_ci, paired_difference

RNG = np.random.default_rng(123)
BEFORE = RNG.random(20)
AFTER = np.clip(BEFORE + RNG.normal(0.05, 0.1, 20), 0, 1)


def mean_diff(x, y, axis=-1):
    return np.mean(y - x, axis=axis)


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_the_interval_is_scipy_bootstrap_paired_over_examples(method):
    ci = paired_ci(BEFORE, AFTER, method=method, seed=7, n_resamples=2000, confidence=0.9)
    ref = stats.bootstrap(
        (BEFORE, AFTER),
        mean_diff,
        paired=True,
        vectorized=True,
        method=method,
        n_resamples=2000,
        confidence_level=0.9,
        random_state=np.random.default_rng(7),
    ).confidence_interval
    assert (ci.low, ci.high) == (ref.low, ref.high)
    assert ci.estimate == pytest.approx(float(np.mean(AFTER - BEFORE)))
    assert (ci.n, ci.confidence, ci.method, ci.note) == (20, 0.9, method, "")
    assert ci.low < ci.estimate < ci.high


def test_the_interval_is_reproducible_and_seeded():
    assert paired_ci(BEFORE, AFTER) == paired_ci(list(BEFORE), list(AFTER))
    assert paired_ci(BEFORE, AFTER, seed=1) != paired_ci(BEFORE, AFTER, seed=2)
    assert paired_ci(torch.tensor(BEFORE), torch.tensor(AFTER)) == paired_ci(BEFORE, AFTER)


def test_all_examples_changing_equally_gives_the_point_without_nan():
    ci = paired_ci([0.5, 0.25, 1.0, 0.0], [0.75, 0.5, 1.25, 0.25])
    assert (ci.estimate, ci.low, ci.high) == (0.25, 0.25, 0.25)
    assert ci.note and ci.excludes_zero
    zero = paired_ci([1.0] * 24, [1.0] * 24)
    assert (zero.low, zero.high) == (0.0, 0.0) and not zero.excludes_zero


def test_a_degenerate_bca_falls_back_to_the_percentile_interval_of_the_same_resamples():
    before, after = np.zeros(4), np.array([0.0, 0.0, 0.0, 1e-300])  # BCa's acceleration is 0/0 here
    ci = paired_ci(before, after, seed=3, n_resamples=999)
    ref = stats.bootstrap(
        (before, after), mean_diff, paired=True, vectorized=True, method="percentile", n_resamples=999,
        random_state=np.random.default_rng(3),
    ).confidence_interval  # fmt: skip
    assert ci.method == "percentile" and "BCa was degenerate" in ci.note
    assert (ci.low, ci.high) == (ref.low, ref.high) and not math.isnan(ci.low)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one length"):
        paired_ci([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least 2 examples"):
        paired_ci([0.1], [0.2])
    with pytest.raises(ValueError, match="finite"):
        paired_ci([0.1, float("nan")], [0.2, 0.3])
    with pytest.raises(ValueError, match="'BCa' or 'percentile'"):
        paired_ci(BEFORE, AFTER, method="basic")


def test_the_difference_test_is_scipy_permutation_test_and_the_paired_interval():
    a, b = AFTER - BEFORE, RNG.normal(0.0, 0.1, 20)
    diff = paired_difference(a, b, seed=5, n_resamples=3000)
    ref = stats.permutation_test(
        (a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), permutation_type="samples", vectorized=True,
        n_resamples=3000, alternative="two-sided", random_state=np.random.default_rng(5),
    )  # fmt: skip
    assert diff.p_value == ref.pvalue
    assert diff.interval == paired_ci(b, a, seed=5, n_resamples=3000)  # of mean(a - b)
    assert diff.interval.estimate == pytest.approx(float(np.mean(a - b)))


def test_small_samples_are_tested_exactly():
    a, b = np.array([0.3, 0.2, 0.4, 0.1, 0.5]), np.zeros(5)  # every difference positive: 2 of 2**5 sign flips
    assert paired_difference(a, b).p_value == pytest.approx(2 / 32)


def test_a_beats_b_only_when_the_interval_excludes_zero_on_the_better_side():
    a, b = np.full(10, 0.2) + np.linspace(0, 0.01, 10), np.zeros(10)
    diff = paired_difference(a, b)
    assert diff.interval.excludes_zero and diff.beats(+1) and not diff.beats(-1)
    assert paired_difference(b, a).beats(-1)
    tie = paired_difference(np.array([0.1, -0.1, 0.2, -0.2]), np.zeros(4))
    assert not tie.beats(+1) and not tie.beats(-1)
    with pytest.raises(ValueError, match="direction"):
        diff.beats(0)


def test_interval_format_and_round_trip():
    ci = Interval(0.0417, 0.0, 0.1042, 0.95, 24)
    assert ci.format() == "+0.042 [+0.000, +0.104]"
    assert ci.format("+.4f", estimate=0.08) == "+0.0800 [+0.0000, +0.1042]"
    assert Interval.from_dict(ci.to_dict()) == ci


def test_each_example_counts_once_whatever_its_number_of_permutations():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])  # example 0 asked 3 times, 1 once
    scores = TaskScores(probs, correct=torch.tensor([0, 0, 0, 1]), example_index=torch.tensor([0, 0, 0, 1]))
    torch.testing.assert_close(scores.per_example_accuracy(), torch.tensor([2 / 3, 1.0], dtype=torch.float64))
    p0 = (0.9 + 0.6 + 0.2) / 3
    torch.testing.assert_close(scores.per_example_p_correct(), torch.tensor([p0, 0.7], dtype=torch.float64))
    steered = TaskScores(probs.flip(-1), scores.correct, scores.example_index)
    ci = paired_ci(scores.per_example_p_correct(), steered.per_example_p_correct())
    assert ci.n == 2
    assert ci.estimate == pytest.approx(((1 - p0) - p0 + 0.3 - 0.7) / 2)
