"""The comparison's metrics from cells, and its config."""

import json
import math

import pytest

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.variants import VARIANTS, Variant
from neuronllm_tl.comparison.report import rows_from_cells
from neuronllm_tl.methods.registry import method_config


SMALL = dict(tasks=("a", "b"), k=4, n_identify=4, n_eval=4, controls=2, ig_steps=2)


def cell(neurons, p_after, acc_after=0.5, eval="target", seed=None, mode="degrade"):
    return {"key": f"{neurons}{eval}{seed}{mode}", "kind": "steer", "task": "t", "group": "main", "variant": "v",
            "method": "neuronllm", "mode": mode, "neurons": neurons, "seed": seed, "eval": eval,
            "eval_task": "u:evaluate" if eval == "unrelated" else "t:evaluate", "n_good": 3, "n_bad": 3, "n_steered": 6,
            "accuracy_before": 0.8, "accuracy_after": acc_after, "p_before": 0.6, "p_after": p_after}


def test_metrics_are_signed_and_relative():
    cells = [cell("identified", 0.3), cell("random", 0.58, seed=0), cell("random", 0.62, seed=1),
             cell("identified", 0.55, eval="unrelated")]
    (row,) = rows_from_cells(cells)
    assert row.delta_p == pytest.approx(-0.3) and row.delta_accuracy == pytest.approx(-0.3)
    assert row.rac == pytest.approx(-0.3 / 0.8) and row.rcc == pytest.approx(-0.5)
    assert row.random_delta_p_mean == pytest.approx(0.0, abs=1e-12)
    assert row.random_delta_p_sd == pytest.approx(math.sqrt(2 * 0.02**2))
    assert row.beyond_random == pytest.approx(-0.3 / math.sqrt(2 * 0.02**2))
    assert not row.as_expected and row.too_few_controls  # 2 random sets: no verdict
    (with_three,) = rows_from_cells([*cells, cell("random", 0.60, seed=2)])
    assert with_three.as_expected  # degrade should lower p(correct), by more than 2 control sds here
    assert row.unrelated_task == "u" and row.unrelated_delta_p == pytest.approx(-0.05)
    assert row.pcr == pytest.approx(6.0)


def test_an_effect_in_the_wrong_direction_is_not_counted():
    cells = [cell("identified", 0.9), cell("random", 0.58, seed=0), cell("random", 0.62, seed=1)]
    (row,) = rows_from_cells(cells)
    assert row.beyond_random > 2 and not row.as_expected


def test_config_round_trips_and_refuses_bad_values():
    config = CompareConfig(**SMALL, sweeps=("k",), unrelated={"a": "b", "b": "a"})
    assert CompareConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown variant"):
        CompareConfig(variants=("neuronllm_ig", "qr"))
    with pytest.raises(ValueError, match="its own unrelated task"):
        CompareConfig(tasks=("a",), unrelated={"a": "a"})
    with pytest.raises(ValueError, match="tasks is empty"):
        CompareConfig(tasks=())




def test_variants_hold_method_configs_that_round_trip():
    for v in VARIANTS.values():
        d = json.loads(json.dumps(v.to_dict()))
        assert type(v.config).from_dict(d["config"]) == v.config
    mine = Variant("mine", method_config("neuronllm", objective="margin", z=10))
    assert mine.method == "neuronllm" and mine.config.objective == "margin"
    with pytest.raises(ValueError, match="unknown modes"):
        Variant("bad", method_config("tn"), modes=("amplify",))


def test_cells_with_per_example_values_give_paired_intervals_and_old_cells_none():
    from neuronllm_tl.comparison.intervals import cell_intervals, compare_cells
    from neuronllm_tl.evaluation.statistics import paired_ci, paired_difference

    per = {"accuracy_before": [1, 1, 0, 1], "accuracy_after": [0, 1, 0, 0],
           "p_before": [0.7, 0.6, 0.4, 0.7], "p_after": [0.2, 0.5, 0.3, 0.2]}  # fmt: skip
    (row,) = rows_from_cells([{**cell("identified", 0.3), "per_example": per}])
    assert row.delta_p_ci == paired_ci(per["p_before"], per["p_after"])
    assert row.delta_accuracy_ci == paired_ci(per["accuracy_before"], per["accuracy_after"])
    (old,) = rows_from_cells([cell("identified", 0.3)])
    assert old.delta_p_ci is None and old.delta_accuracy_ci is None
    other = {**cell("identified", 0.5), "per_example": {**per, "p_after": [0.7, 0.6, 0.3, 0.6]}}
    diff = compare_cells({**cell("identified", 0.3), "per_example": per}, other, "p")
    da = [a - b for a, b in zip(per["p_after"], per["p_before"])]
    db = [a - b for a, b in zip(other["per_example"]["p_after"], per["p_before"])]
    assert diff == paired_difference(da, db)
    with pytest.raises(ValueError, match="earlier version"):
        compare_cells(cell("identified", 0.3), other)


def test_fewer_than_three_controls_give_a_warning_not_a_tick():
    cells = [cell("identified", 0.3), cell("random", 0.58, seed=0), cell("random", 0.62, seed=1)]
    (row,) = rows_from_cells(cells)
    assert row.beyond_random < -2 and row.random_n == 2
    assert not row.as_expected and row.too_few_controls
    assert row.beyond_mark == " (only 2 random sets: no verdict)"
    (three,) = rows_from_cells([*cells, cell("random", 0.60, seed=2)])
    assert three.as_expected and three.beyond_mark == " ✓"
