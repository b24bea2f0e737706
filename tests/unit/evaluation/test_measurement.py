"""One measurement for evaluate and compare (issue #26, item 3)."""

import json

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.comparison.cells import Cell
from neuronllm_tl.evaluation import evaluate as evaluate_module
from neuronllm_tl.evaluation.measurement import (
    MEASUREMENT_FORMAT,
    PER_EXAMPLE_DECIMALS,
    SteeringMeasurement,
    following,
    measure,
)
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.evaluation.statistics import paired_ci
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.testing import tiny_task


@pytest.fixture(scope="module")
def setting(model):
    task = tiny_task("cloze")
    neurons = nl.identify(model, task, k=5)
    return task, neurons


def test_a_measurement_holds_what_two_scorings_say(model, setting):
    task, neurons = setting
    steering = Steering.from_mode(neurons, "degrade")
    m = measure(model, task, steering, example_ids=[f"e{i}" for i in range(len(task))])
    before, after = score_task(model, task), score_task(model, task, steering=steering)
    assert m.delta("p") == pytest.approx(after.mean_p_correct - before.mean_p_correct)
    assert m.delta("accuracy") == pytest.approx(after.accuracy - before.accuracy)
    assert m.per_example.p_after == pytest.approx(after.per_example_p_correct().tolist())
    assert m.n_steered == steering.n_steered and m.per_example.example_ids[0] == "e0"
    assert m.intervals()[1] == paired_ci(before.per_example_p_correct(), after.per_example_p_correct())


def test_a_measurement_round_trips_through_json_with_its_format(model, setting):
    task, neurons = setting
    m = measure(model, task, Steering.from_mode(neurons, "enhance"))
    d = json.loads(json.dumps(m.to_dict()))
    back = SteeringMeasurement.from_dict(d)
    assert d["format"] == MEASUREMENT_FORMAT and back.delta("p") == m.delta("p") and back.n_steered == m.n_steered
    assert back.per_example.p_after == pytest.approx(m.per_example.p_after, abs=0.5 * 10**-PER_EXAMPLE_DECIMALS)
    assert SteeringMeasurement.from_dict(back.to_dict()) == back  # rounding once is all the loss
    with pytest.raises(ValueError, match="newer neuronllm_tl"):
        SteeringMeasurement.from_dict({**d, "format": MEASUREMENT_FORMAT + 1})


def test_following_an_unsteered_measurement_equals_measuring_from_scores(model, setting):
    task, neurons = setting
    steering = Steering.from_mode(neurons, "degrade")
    unsteered = measure(model, task, None)
    assert unsteered.delta("p") == 0 and unsteered.n_steered == 0
    chained = measure(model, task, steering, before=unsteered)
    direct = measure(model, task, steering, before=score_task(model, task))
    assert chained.per_example == direct.per_example and chained.delta("p") == pytest.approx(direct.delta("p"))


def test_a_steered_cell_stores_its_final_state_and_is_joined_to_the_unsteered_one(model, setting):
    task, neurons = setting
    unsteered = measure(model, task, None, example_ids=[f"e{i}" for i in range(len(task))])
    m = measure(model, task, Steering.from_mode(neurons, "degrade"), before=unsteered)
    stored = json.loads(json.dumps(m.final().to_dict()))
    assert "accuracy_before" not in stored and "example" not in stored["per_example"]  # one set of values
    joined = following(unsteered, SteeringMeasurement.from_dict(stored), seconds=m.seconds)
    assert joined.delta("p") == pytest.approx(m.delta("p")) and joined.per_example.example_ids[0] == "e0"
    assert joined.per_example.p_after == pytest.approx(m.per_example.p_after, abs=1e-5)
    assert joined.intervals()[1].low == pytest.approx(m.intervals()[1].low, abs=1e-4)


def test_format_1_measurements_are_still_read():
    v1 = {
        "format": 1,
        "accuracy_before": 1.0,
        "accuracy_after": 0.5,
        "p_before": 0.9,
        "p_after": 0.4,
        "n_steered": 4,
        "seconds": 2.0,
        "per_example": {
            "example": ["a", "b"],
            "accuracy_before": [1.0, 1.0],
            "accuracy_after": [0.0, 1.0],
            "p_before": [0.9, 0.9],
            "p_after": [0.2, 0.6],
        },
    }
    m = SteeringMeasurement.from_dict(v1)
    assert m.delta("accuracy") == -0.5 and m.per_example.example_ids == ("a", "b") and m.n_steered == 4


def test_old_flat_cells_are_read_only_by_from_dict():
    flat = {"key": "k", "kind": "steer", "task": "t", "mode": "degrade", "neurons": "identified", "split_seed": 1,
            "accuracy_before": 0.8, "accuracy_after": 0.5, "p_before": 0.6, "p_after": 0.3, "n_steered": 6,
            "per_example": {"accuracy_before": [1, 0], "accuracy_after": [0, 0], "p_before": [0.7, 0.5],
                            "p_after": [0.2, 0.4]}}  # fmt: skip
    cell = Cell.from_dict(flat)
    assert cell.delta("p") == pytest.approx(-0.3) and cell.n_steered == 6 and cell.split_seed == 1
    assert cell.example_names is None and cell.measurement.intervals()[1] is not None
    assert Cell.from_dict(json.loads(json.dumps(cell.to_dict()))) == cell
    unsteered = Cell.from_dict({"key": "u", "kind": "unsteered", "accuracy": 0.8, "p_correct": 0.6})
    assert unsteered.measurement.delta("p") == 0 and unsteered.measurement.per_example is None


def test_evaluate_builds_its_rows_from_measure(model, setting, monkeypatch):
    task, neurons = setting
    calls = []
    real = evaluate_module.measure

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "measure", counting)
    report = nl.evaluate(model, task, neurons, modes=["degrade"], controls=2, held_out="allow")
    assert len(calls) == 3  # the identified set and two controls
    row = report.row("degrade")
    m = real(model, task, Steering.from_mode(neurons, "degrade"))
    assert row.delta_p_correct == pytest.approx(m.delta("p"))
    assert row.delta_p_correct_ci == m.intervals()[1]
    assert torch.isfinite(torch.tensor(row.delta_accuracy))
