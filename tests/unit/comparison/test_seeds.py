"""Several split seeds: per-seed values, mean ± sd across seeds, pooled intervals, and the config's seeds."""

import csv
import io
import json

import numpy as np
import pytest

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.intervals import pooled_intervals
from neuronllm_tl.comparison.report import ComparisonResult
from neuronllm_tl.comparison.result_rows import rows_from_cells
from neuronllm_tl.comparison.results_csv import COLUMNS, csv_fields, read_rows
from neuronllm_tl.evaluation.statistics import paired_ci

# per split seed: (accuracy before, after, p before, after) per held-out example
PER_SEED = {
    0: ([1, 1, 0, 1], [0, 1, 0, 0], [0.7, 0.6, 0.4, 0.7], [0.2, 0.5, 0.3, 0.2]),
    1: ([1, 0, 1, 1], [1, 0, 0, 1], [0.9, 0.3, 0.6, 0.8], [0.8, 0.3, 0.2, 0.5]),
    2: ([0, 1, 1, 1], [0, 0, 0, 1], [0.4, 0.7, 0.8, 0.6], [0.35, 0.1, 0.3, 0.55]),
}
# the held-out examples of each seed, by content name: the seeds split the same examples, so they overlap
NAMES = {0: ["e0", "e1", "e2", "e3"], 1: ["e2", "e3", "e4", "e5"], 2: ["e0", "e3", "e5", "e6"]}


def by_example_means(seeds, metric_index):
    """Independently of the package: each distinct example's mean over the seeds that held it out, in the order
    of first appearance over the seeds."""
    values = {}
    for s in seeds:
        for name, x in zip(NAMES[s], PER_SEED[s][metric_index], strict=True):
            values.setdefault(name, []).append(x)
    return [float(np.mean(v)) for v in values.values()]


def seed_cell(seed, neurons="identified", eval="target", variant="v", mode="degrade", control=None, shift=0.0):
    ab, aa, pb, pa = PER_SEED[seed]
    pa = [p + shift for p in pa]
    per = {"accuracy_before": ab, "accuracy_after": aa, "p_before": pb, "p_after": pa, "example": NAMES[seed]}
    return {
        "key": f"{variant}{mode}{neurons}{eval}{seed}{control}", "kind": "steer", "task": "t", "group": "main",
        "variant": variant, "method": variant, "mode": mode, "neurons": neurons, "seed": control, "split_seed": seed,
        "eval": eval, "eval_task": "u:evaluate" if eval == "unrelated" else "t:evaluate", "n_good": 3, "n_bad": 3,
        "n_steered": 6 - seed, "accuracy_before": float(np.mean(ab)), "accuracy_after": float(np.mean(aa)),
        "p_before": float(np.mean(pb)), "p_after": float(np.mean(pa)), "per_example": per,
    }  # fmt: skip


def test_mean_and_sd_across_seeds_are_numpys():
    cells = [seed_cell(s) for s in (2, 0, 1)]  # any order: rows list the seeds sorted
    (row,) = rows_from_cells(cells)
    dp = [np.mean(PER_SEED[s][3]) - np.mean(PER_SEED[s][2]) for s in (0, 1, 2)]
    da = [np.mean(PER_SEED[s][1]) - np.mean(PER_SEED[s][0]) for s in (0, 1, 2)]
    assert row.seeds == (0, 1, 2)
    assert row.delta_p_per_seed == pytest.approx(dp) and row.delta_accuracy_per_seed == pytest.approx(da)
    assert row.delta_p == pytest.approx(np.mean(dp)) and row.delta_p_sd == pytest.approx(np.std(dp, ddof=1))
    assert row.delta_accuracy == pytest.approx(np.mean(da))
    assert row.delta_accuracy_sd == pytest.approx(np.std(da, ddof=1))
    assert row.p_before == pytest.approx(np.mean([np.mean(PER_SEED[s][2]) for s in (0, 1, 2)]))
    assert row.n_steered == 4 and row.n_steered_per_seed == (6, 5, 4)
    clustered = [by_example_means((0, 1, 2), i) for i in (2, 3)]
    assert row.delta_p_ci == paired_ci(*clustered) and row.delta_p_ci.n == 7  # 7 distinct examples, not 12
    assert row.delta_accuracy_ci == paired_ci(*[by_example_means((0, 1, 2), i) for i in (0, 1)])
    naive = [np.concatenate([PER_SEED[s][i] for s in (0, 1, 2)]) for i in (2, 3)]
    assert row.delta_p_ci != paired_ci(*naive)  # (seed, example) pairs are not the unit


def test_one_seed_has_no_sd_and_its_own_interval():
    (row,) = rows_from_cells([seed_cell(1)])
    assert row.delta_p_sd is None and row.delta_accuracy_sd is None and row.seeds == (1,)
    assert row.delta_p_ci == paired_ci(PER_SEED[1][2], PER_SEED[1][3])
    result = ComparisonResult([row], CompareConfig(tasks=("t",), seeds=(1,)))
    table = result.main_table("t")
    assert "| Δ p | Δ p 95% CI |" in table and "±" not in table.splitlines()[2]  # no controls, no sd
    assert "per seed" not in table


def test_controls_and_unrelated_cells_pool_over_seeds():
    cells = [seed_cell(s) for s in (0, 1)]
    cells += [seed_cell(s, neurons="random", control=c, shift=0.01 * c) for s in (0, 1) for c in (2 * s, 2 * s + 1)]
    cells += [seed_cell(s, eval="unrelated", shift=0.1) for s in (0, 1)]
    (row,) = rows_from_cells(cells)
    randoms = [c["p_after"] - c["p_before"] for c in cells if c["neurons"] == "random"]
    assert row.random_n == 4 and row.random_delta_p_mean == pytest.approx(np.mean(randoms))
    assert row.random_delta_p_sd == pytest.approx(np.std(randoms, ddof=1))
    unrelated = np.mean([c["p_after"] - c["p_before"] for c in cells if c["eval"] == "unrelated"])
    assert row.unrelated_task == "u" and row.unrelated_delta_p == pytest.approx(unrelated)
    assert row.pcr == pytest.approx(abs(row.delta_p) / abs(unrelated))
    # the unrelated Δ p has its own paired interval, clustered by example like the target's
    shifted = [by_example_means((0, 1), 2), [x + 0.1 for x in by_example_means((0, 1), 3)]]
    want, got = paired_ci(*shifted), row.unrelated_delta_p_ci
    assert (got.estimate, got.low, got.high) == pytest.approx((want.estimate, want.low, want.high))
    assert got.low != pytest.approx(row.delta_p_ci.low)  # the unrelated cells' own interval
    back = read_rows(csv.DictReader(io.StringIO(_csv_text([row]))))[0]
    assert back.unrelated_delta_p_ci.low == pytest.approx(row.unrelated_delta_p_ci.low)
    table = ComparisonResult([row], CompareConfig(tasks=("t",), seeds=(0, 1))).main_table("t")
    assert f"{row.unrelated_delta_p:+.4f} {row.unrelated_delta_p_ci.bounds('+.4f')}" in table


def _csv_text(rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(csv_fields(r) for r in rows)
    return out.getvalue()


def test_pooled_intervals_need_every_seeds_examples():
    old = {k: v for k, v in seed_cell(1).items() if k != "per_example"}
    assert pooled_intervals([seed_cell(0), old]) == (None, None)
    unnamed = [seed_cell(s) for s in (0, 1)]
    for c in unnamed:
        del c["per_example"]["example"]
    assert pooled_intervals(unnamed) == (None, None)  # several seeds, examples not named: cannot be clustered
    assert pooled_intervals(unnamed[:1]) == pooled_intervals([seed_cell(0)])  # one seed: by position


def named_cell(seed, names, p_before, p_after):
    per = {"accuracy_before": [1] * len(names), "accuracy_after": [1, 0] * (len(names) // 2),
           "p_before": p_before, "p_after": p_after, "example": names}  # fmt: skip
    return {**seed_cell(seed), "per_example": per}


def test_an_example_held_out_under_three_seeds_counts_once_with_its_mean():
    """Example x is held out under seeds 0, 1 and 2: the interval is that of x counted once, with its before and
    after averaged over the three seeds, next to the other examples; not that of the 12 (seed, example) pairs."""
    before = {0: [0.9, 0.5, 0.6, 0.7], 1: [0.8, 0.4, 0.3, 0.6], 2: [0.7, 0.5, 0.8, 0.2]}
    after = {0: [0.1, 0.45, 0.5, 0.65], 1: [0.2, 0.35, 0.3, 0.5], 2: [0.15, 0.5, 0.6, 0.25]}
    names = {s: ["x", *(f"s{s}e{i}" for i in range(3))] for s in (0, 1, 2)}
    cells = [named_cell(s, names[s], before[s], after[s]) for s in (2, 0, 1)]  # any order: rows sort the seeds
    (row,) = rows_from_cells(cells)
    once_before = [np.mean([before[s][0] for s in (0, 1, 2)])] + [b for s in (0, 1, 2) for b in before[s][1:]]
    once_after = [np.mean([after[s][0] for s in (0, 1, 2)])] + [a for s in (0, 1, 2) for a in after[s][1:]]
    assert row.delta_p_ci == paired_ci(once_before, once_after) and row.delta_p_ci.n == 10
    naive = paired_ci(np.concatenate(list(before.values())), np.concatenate(list(after.values())))
    assert naive.n == 12 and (row.delta_p_ci.low, row.delta_p_ci.high) != (naive.low, naive.high)
    assert row.delta_accuracy_ci.n == 10


def test_markdown_and_csv_show_each_seed_and_mean_sd(tmp_path):
    cells = [seed_cell(s) for s in (0, 1, 2)]
    result = ComparisonResult.from_cells(cells, CompareConfig(tasks=("t",), seeds=(0, 1, 2)))
    (row,) = result.rows
    table = result.main_table("t")
    assert "| Δ acc. (mean ± sd) | Δ acc. per seed |" in table and "| Δ p (mean ± sd) | Δ p per seed |" in table
    assert f"{row.delta_p:+.4f} ± {row.delta_p_sd:.4f}" in table
    assert ", ".join(f"{x:+.4f}" for x in row.delta_p_per_seed) in table
    result.write_csv(tmp_path / "results.csv")
    (line,) = csv.DictReader(open(tmp_path / "results.csv"))
    assert line["seeds"] == "0;1;2" and float(line["delta_p_sd"]) == pytest.approx(row.delta_p_sd)
    assert [float(x) for x in line["delta_p_per_seed"].split(";")] == pytest.approx(row.delta_p_per_seed)
    assert float(line["delta_p"]) == pytest.approx(row.delta_p) and line["n_steered_per_seed"] == "6;5;4"


def test_old_config_with_one_seed_reads_as_seeds():
    old = {**CompareConfig(tasks=("a", "b")).to_dict(), "seed": 7}
    del old["seeds"]
    assert CompareConfig.from_dict(old).seeds == (7,)
    assert CompareConfig.from_dict(json.loads(json.dumps(old))) == CompareConfig(tasks=("a", "b"), seeds=(7,))
    with pytest.raises(ValueError, match="both 'seed' and 'seeds'"):
        CompareConfig.from_dict({**old, "seeds": [1]})
    config = CompareConfig(tasks=("a", "b"), seeds=(3, 1), shots={"a": 2}, task_options={"b": {"calibration": "pmi"}})
    assert CompareConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize(
    "seeds, message",
    [((), "seeds is empty"), ((0, 1, 0), r"repeats \[0\].*\(0, 1\)"), ((0, -1), "not ints >= 0"),
     ((0, True), "not ints >= 0"), ((0, 1.5), "not ints >= 0"), (3, "tuple of split seeds")],
)  # fmt: skip
def test_seeds_must_be_distinct_non_negative_ints(seeds, message):
    with pytest.raises(ValueError, match=message) as info:
        CompareConfig(tasks=("a",), seeds=seeds)
    assert "seeds=(0, 1, 2)" in str(info.value)  # says how to fix it
    assert CompareConfig(tasks=("a",), seeds=[2, 0]).seeds == (2, 0)  # a list is kept as a tuple


def test_task_settings_are_checked():
    with pytest.raises(ValueError, match=r"shots names task\(s\) \['c'\]"):
        CompareConfig(tasks=("a", "b"), shots={"c": 2})
    with pytest.raises(ValueError, match="int >= 0"):
        CompareConfig(tasks=("a", "b"), shots={"a": -1})
    with pytest.raises(ValueError, match="sets 'answer_format'.*CompareConfig.answer_format"):
        CompareConfig(tasks=("a", "b"), task_options={"a": {"answer_format": "letter"}})
    with pytest.raises(ValueError, match="sets 'seed'.*CompareConfig.seeds"):
        CompareConfig(tasks=("a", "b"), task_options={"a": {"seed": 3}})
    ok = CompareConfig(tasks=("a",), sweep_tasks=("c",), unrelated={"a": "d"}, shots={"c": 1, "d": 0})
    assert ok.shots == {"c": 1, "d": 0}


def test_the_same_examples_under_every_seed_are_no_more_evidence_than_one_seed():
    """Three seeds that held out the same examples and measured the same values: the interval is that of one
    seed; pooling the (seed, example) pairs would have claimed a narrower one."""
    cells = [{**seed_cell(s), "per_example": seed_cell(0)["per_example"]} for s in (0, 1, 2)]
    (row,) = rows_from_cells(cells)
    one = paired_ci(PER_SEED[0][2], PER_SEED[0][3])
    assert (row.delta_p_ci.low, row.delta_p_ci.high, row.delta_p_ci.n) == (pytest.approx(one.low), pytest.approx(one.high), 4)
    naive = paired_ci(PER_SEED[0][2] * 3, PER_SEED[0][3] * 3)
    assert naive.high - naive.low < row.delta_p_ci.high - row.delta_p_ci.low
