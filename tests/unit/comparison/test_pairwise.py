"""Who beats whom: paired by split seed and example, and a win only when the CI of the difference excludes 0."""

import numpy as np
import pytest

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.intervals import compare_seeds
from neuronllm_tl.comparison.pairwise import pairwise, selection_pairs, standings
from neuronllm_tl.comparison.report import ComparisonResult
from neuronllm_tl.evaluation.statistics import paired_difference

N = 12
BEFORE = {s: list(np.linspace(0.4, 0.9, N) - 0.01 * s) for s in (0, 1)}
NAMES = {s: [f"e{i + N // 2 * s}" for i in range(N)] for s in (0, 1)}  # e6 ... e11 are held out under both seeds
DISTINCT = N + N // 2


def cell(variant, seed, deltas, mode="degrade", task="t"):
    before = BEFORE[seed]
    after = [b + d for b, d in zip(before, deltas, strict=True)]
    return {
        "key": f"{variant}{seed}{mode}", "kind": "steer", "task": task, "group": "main", "variant": variant,
        "method": variant, "mode": mode, "neurons": "identified", "seed": None, "split_seed": seed, "eval": "target",
        "eval_task": f"{task}:evaluate", "n_good": 3, "n_bad": 3, "n_steered": 3,
        "accuracy_before": 1.0, "accuracy_after": 1.0, "p_before": float(np.mean(before)),
        "p_after": float(np.mean(after)),
        "per_example": {"accuracy_before": [1] * N, "accuracy_after": [1] * N, "p_before": before, "p_after": after,
                        "example": NAMES[seed]},
    }  # fmt: skip


def noise(seed, sd=0.01):
    return np.random.default_rng(seed).normal(0, sd, N)


def three_methods(mode="degrade"):
    """strong: Δp about -0.3 on every example; weak: about -0.02; same: exactly weak's deltas."""
    cells = []
    for s in (0, 1):
        weak = -0.02 + noise(10 + s)
        cells += [cell("strong", s, -0.3 + noise(s), mode), cell("weak", s, weak, mode), cell("same", s, weak, mode)]
    return cells


def test_one_clearly_better_beats_and_equal_ones_tie():
    pairs = {(p.a, p.b): p for p in pairwise(three_methods())}
    assert set(pairs) == {("strong", "weak"), ("strong", "same"), ("weak", "same")}
    assert pairs["strong", "weak"].winner == "strong" and pairs["strong", "weak"].verdict == "strong beats weak"
    assert pairs["strong", "same"].winner == "strong"
    assert pairs["weak", "same"].winner is None and pairs["weak", "same"].verdict == "tie"
    assert pairs["weak", "same"].difference.interval.estimate == 0.0
    (s,) = standings(pairs.values())
    assert s.best == "strong" and [p.b for p in s.beats] == ["weak", "same"] and not s.ties
    assert s.best_delta_p == pytest.approx(pairs["strong", "weak"].a_delta_p)


def test_the_expected_direction_decides_who_wins():
    """Enhance should raise p(correct): the method that lowers it most loses to the one that lowers it least."""
    pairs = {(p.a, p.b): p for p in pairwise(three_methods("enhance"))}
    assert pairs["strong", "weak"].winner == "weak" and pairs["strong", "weak"].verdict == "weak beats strong"
    (s,) = standings(pairs.values())
    assert s.best in ("weak", "same") and {p.b for p in s.beats} == {"strong"} and len(s.ties) == 1
    assert all(p.a == s.best for p in (*s.beats, *s.ties))  # seen from the best
    flipped = pairs["strong", "weak"].flipped()
    assert flipped.difference.interval.low == -pairs["strong", "weak"].difference.interval.high


def by_example(cells_by_seed):
    """Independently of the package: each distinct example's Δp averaged over the seeds that held it out."""
    deltas = {}
    for s, c in sorted(cells_by_seed.items()):
        for name, d in zip(NAMES[s], np.subtract(c["per_example"]["p_after"], BEFORE[s]), strict=True):
            deltas.setdefault(name, []).append(d)
    return np.array([np.mean(v) for v in deltas.values()])


def test_pairs_are_matched_by_seed_and_example_and_resample_distinct_examples():
    cells = three_methods()
    a = {c["split_seed"]: c for c in cells if c["variant"] == "strong"}
    b = {c["split_seed"]: c for c in cells if c["variant"] == "weak"}
    diff = compare_seeds(a, b)
    assert diff == paired_difference(by_example(a), by_example(b)) and diff.interval.n == DISTINCT
    da = np.concatenate([np.subtract(a[s]["per_example"]["p_after"], BEFORE[s]) for s in (0, 1)])
    db = np.concatenate([np.subtract(b[s]["per_example"]["p_after"], BEFORE[s]) for s in (0, 1)])
    assert diff.interval != paired_difference(da, db).interval  # not the 2 N (seed, example) pairs
    assert compare_seeds(a, {0: b[0]}).interval.n == N  # only the seeds both have
    with pytest.raises(ValueError, match="different splits"):
        compare_seeds(a, {0: b[1]})  # seed 1's cell under seed 0: not the same examples
    with pytest.raises(ValueError, match="no split seed in common"):
        compare_seeds({0: a[0]}, {1: b[1]})
    def unnamed(cells):
        return {s: {**c, "per_example": {k: v for k, v in c["per_example"].items() if k != "example"}} for s, c in cells.items()}

    with pytest.raises(ValueError, match="do not name their examples"):
        compare_seeds(unnamed(a), unnamed(b))
    assert not pairwise([c for by_seed in (unnamed(a), unnamed(b)) for c in by_seed.values()])  # left out, not raised
    with pytest.raises(ValueError, match="hold different examples"):
        compare_seeds({0: a[0]}, {0: {**b[0], "per_example": {**b[0]["per_example"], "example": NAMES[1]}}})


def test_an_example_under_both_seeds_counts_once_in_the_pair():
    """e6 ... e11 are held out under both seeds: each is one unit, its difference averaged over the two seeds;
    the pair's means are over the same distinct examples, so that difference = a_delta_p - b_delta_p."""
    pair = next(p for p in pairwise(three_methods()) if (p.a, p.b) == ("strong", "weak"))
    cells = three_methods()
    strong = by_example({c["split_seed"]: c for c in cells if c["variant"] == "strong"})
    weak = by_example({c["split_seed"]: c for c in cells if c["variant"] == "weak"})
    assert pair.a_delta_p == pytest.approx(strong.mean()) and pair.b_delta_p == pytest.approx(weak.mean())
    assert pair.difference.interval.estimate == pytest.approx(pair.a_delta_p - pair.b_delta_p)
    assert pair.row()["n"] == DISTINCT


def test_a_small_noisy_difference_is_a_tie_even_with_the_larger_mean():
    cells = []
    for s in (0, 1):
        base = np.random.default_rng(s).normal(-0.1, 0.2, N)
        cells += [cell("x", s, base - 0.01 + noise(20 + s, 0.1)), cell("y", s, base + noise(30 + s, 0.1))]
    (pair,) = pairwise(cells)
    (s,) = standings([pair])
    assert pair.a_delta_p < pair.b_delta_p  # x lowers p(correct) more: the better degrade on average ...
    assert s.best == "x" and pair.winner is None and not s.beats and [p.b for p in s.ties] == ["y"]  # ... not surely


def test_report_has_the_compact_table_and_every_pair(tmp_path):
    result = ComparisonResult.from_cells(three_methods(), CompareConfig(tasks=("t",), seeds=(0, 1)))
    assert "## Who beats whom" in result.markdown
    line = next(ln for ln in result.standings_table().splitlines() if ln.startswith("| t |"))
    assert "| strong (" in line and "weak -" in line and line.endswith("| – |")
    result.write_pairs_csv(tmp_path / "pairwise.csv")
    lines = (tmp_path / "pairwise.csv").read_text().splitlines()
    assert lines[0].startswith("task,group,mode,a,b,seeds,n") and len(lines) == 4
    assert any(ln.endswith(",tie") and f",weak,same,0;1,{DISTINCT}," in ln for ln in lines)


def test_the_selection_group_puts_every_method_and_setting_together_and_same_measurements_once():
    """issue #24 item 5: which identification moves p(correct) most, across the main methods and the sweeps."""
    cells = []
    for s in (0, 1):
        weak, strong = -0.02 + noise(10 + s), -0.3 + noise(s)
        gxa = {**cell("neuronllm_gxa", s, weak), "key": f"gxa{s}"}
        paper_setting = {**gxa, "group": "mask", "variant": "mask=True"}  # the same measurement, another name
        unmasked = {**cell("mask=False", s, strong), "group": "mask"}
        elsewhere = cell("knowledge_neurons", s, weak, task="no sweeps here")
        cells += [gxa, unmasked, cell("knowledge_neurons", s, weak - 0.01), elsewhere]
        cells += [paper_setting] if s == 0 else []  # a partial grid: the sweep has one seed, the main variant two
    pairs = selection_pairs(cells)
    assert {p.group for p in pairs} == {"selection"} and {p.task for p in pairs} == {"t"}
    assert {frozenset((p.a, p.b)) for p in pairs} == {
        frozenset(("neuronllm_gxa = mask=True", "mask=False")),
        frozenset(("neuronllm_gxa = mask=True", "knowledge_neurons")),
        frozenset(("mask=False", "knowledge_neurons")),
    }
    (s,) = standings(pairs)
    assert s.best == "mask=False" and len(s.beats) == 2
    gxa_pair = next(p for p in pairs if "knowledge_neurons" in (p.a, p.b) and "mask=False" not in (p.a, p.b))
    assert gxa_pair.seeds == (0, 1)  # the variant with both seeds stands for the two names
    result = ComparisonResult.from_cells(cells, CompareConfig(tasks=("t",), sweeps=("mask",)))
    assert "## Selection: every method and setting" in result.markdown
    assert "| t | selection | degrade | mask=False" in result.markdown
    assert "| t | main | degrade | knowledge_neurons" in result.markdown.split("## Selection")[0]
