"""The comparison's metrics from cells, and its config."""

import json
import math

import pytest

from neuronllm_tl.comparison.config import VARIANTS, CompareConfig, Variant
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
    assert row.as_expected  # degrade should lower p(correct), by more than 2 control sds here
    assert row.unrelated_task == "u" and row.unrelated_delta_p == pytest.approx(-0.05)
    assert row.pcr == pytest.approx(6.0)


def test_an_effect_in_the_wrong_direction_is_not_counted():
    cells = [cell("identified", 0.9), cell("random", 0.58, seed=0), cell("random", 0.62, seed=1)]
    (row,) = rows_from_cells(cells)
    assert row.beyond_random > 2 and not row.as_expected


def test_config_round_trips_and_refuses_bad_values():
    config = CompareConfig(**SMALL, ablations=("k",), unrelated={"a": "b", "b": "a"})
    assert CompareConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown variant"):
        CompareConfig(variants=("neuronllm", "qr"))
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
