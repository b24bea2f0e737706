"""Several split seeds: per-seed values, mean ± sd across seeds, pooled intervals, and the config's seeds."""

import csv
import json

import numpy as np
import pytest

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.intervals import pooled_intervals
from neuronllm_tl.comparison.report import ComparisonResult
from neuronllm_tl.comparison.rows import rows_from_cells
from neuronllm_tl.evaluation.statistics import paired_ci

# per split seed: (accuracy before, after, p before, after) per held-out example
PER_SEED = {
    0: ([1, 1, 0, 1], [0, 1, 0, 0], [0.7, 0.6, 0.4, 0.7], [0.2, 0.5, 0.3, 0.2]),
    1: ([1, 0, 1, 1], [1, 0, 0, 1], [0.9, 0.3, 0.6, 0.8], [0.8, 0.3, 0.2, 0.5]),
    2: ([0, 1, 1, 1], [0, 0, 0, 1], [0.4, 0.7, 0.8, 0.6], [0.35, 0.1, 0.3, 0.55]),
}


def seed_cell(seed, neurons="identified", eval="target", variant="v", mode="degrade", control=None, shift=0.0):
    ab, aa, pb, pa = PER_SEED[seed]
    pa = [p + shift for p in pa]
    per = {"accuracy_before": ab, "accuracy_after": aa, "p_before": pb, "p_after": pa}
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
    pooled = [np.concatenate([PER_SEED[s][i] for s in (0, 1, 2)]) for i in (2, 3)]
    assert row.delta_p_ci == paired_ci(*pooled) and row.delta_p_ci.n == 12
    assert row.delta_p_ci.estimate == pytest.approx(row.delta_p)  # equal split sizes: pooled mean = seeds' mean


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


def test_pooled_intervals_need_every_seeds_examples():
    old = {k: v for k, v in seed_cell(1).items() if k != "per_example"}
    assert pooled_intervals([seed_cell(0), old]) == (None, None)


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
    ok = CompareConfig(tasks=("a",), ablation_tasks=("c",), unrelated={"a": "d"}, shots={"c": 1, "d": 0})
    assert ok.shots == {"c": 1, "d": 0}
