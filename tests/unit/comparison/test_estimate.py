"""The cost estimate probes examples that stand for the split (issue #24 item 2)."""

from neuronllm_tl.comparison.cells import Cell
from neuronllm_tl.comparison.estimate import CellCost, CostEstimate, measured_cost, representative
from neuronllm_tl.evaluation.measurement import SteeringMeasurement
from neuronllm_tl.tasks.task import Task


def test_probes_spread_over_the_options_lengths_not_the_first_examples():
    rows = [{"question": f"q{i}", "options": ["a" * (1 + i % 10), "b"], "answer": 0} for i in range(40)]
    task = Task.from_examples(rows, name="lengths")
    picked = representative(task, 3)
    lengths = sorted(len(task.examples[i].options[0]) for i in picked)
    assert lengths == [2, 6, 9]  # the quantiles 1/6, 1/2 and 5/6 of lengths 1..10
    (median,) = representative(task, 1)
    assert len(task.examples[median].options[0]) == 6
    assert len(set(representative(task, 50))) == 40  # never more probes than examples, none twice


def _cell(key, seconds, kind="steer", **labels):
    return Cell(kind, SteeringMeasurement(1.0, 1.0, 1.0, 1.0, None, seconds=seconds), key=key, **labels)


def test_a_runs_cost_counts_a_shared_cell_once_under_its_first_variant():
    cells = [
        _cell("u0", 5.0, kind="unsteered", eval_task="a:evaluate"),
        _cell("u1", 7.0, kind="unsteered", eval_task="b:evaluate"),
        _cell("c0", 2.0, task="a", variant="gxa", eval="target", eval_task="a:evaluate"),
        _cell("c1", 3.0, task="a", variant="gxa", eval="unrelated", eval_task="b:evaluate"),
        _cell("c0", 2.0, task="a", variant="z=0.05", eval="target", eval_task="a:evaluate"),  # the same cell
        _cell("c2", 4.0, task="b", variant="gxa", eval="target", eval_task="b:evaluate"),
    ]
    cost = measured_cost(cells, [("a", "gxa", 10.0), ("a", "gxa", 1.0), ("b", "gxa", 20.0)])
    by = {(c.task, c.variant): (c.identify_s, c.scoring_s) for c in cost.cells}
    assert by == {("a", "gxa"): (11.0, 5.0), ("b", "gxa"): (20.0, 4.0)}
    assert cost.unsteered_s == {"a": 5.0, "b": 7.0}  # each split under the task it is held out from
    assert cost.total_s == 52.0 and cost.measured
    assert "Measured total: 0.9 min" in cost.to_markdown()


def test_an_estimate_beside_a_run_compares_the_units_done_with_what_they_took():
    whole = (CellCost("a", "gxa", 60.0, 60.0), CellCost("a", "tn", 60.0, 0.0), CellCost("b", "gxa", 120.0, 0.0))
    expected = CostEstimate(whole, {"a": 60.0}, 1.0)
    # a run holding a's gxa for 2 of its 3 seeds and nothing else
    measured = CostEstimate((CellCost("a", "gxa", 30.0, 30.0, share_done=2 / 3),), {"a": 30.0}, 0.0, measured=True)
    lines = expected.beside(measured).splitlines()
    assert lines[2:] == ["| a | 4.0 min | 2.0 min | 1.5 min | 0.75 |",  # 120 s x 2/3 + a's unsteered 60 s x 2/3
                         "| b | 2.0 min | – | – | – |",
                         "| total | 6.0 min | 2.0 min | 1.5 min | 0.75 |"]  # fmt: skip


def test_cells_on_the_unrelated_task_are_costed_at_its_own_scoring_time(model, tmp_path, monkeypatch):
    # sentiment-mini's unrelated cells score AG News (long texts): the grid took 11.1 min for its random variant
    # where the estimate, costing them at sentiment-mini's own scoring time, expected 1.2 min
    from neuronllm_tl.comparison import estimate as estimate_module
    from neuronllm_tl.comparison.config import CompareConfig
    from neuronllm_tl.comparison.variants import VARIANTS
    from tests.integration.test_comparison import write_tasks

    a, b = write_tasks(tmp_path)
    per_example = {a: (10.0, 1.0), b: (1000.0, 100.0)}  # (cold, warm) seconds per held-out example
    monkeypatch.setattr(estimate_module._Prober, "scoring_per_example", lambda self, task, v: per_example[task])
    monkeypatch.setattr(estimate_module._Prober, "identify_per_example", lambda self, *args: 0.0)
    monkeypatch.setattr(estimate_module, "score_task", lambda *args, **kwargs: None)
    config = CompareConfig(tasks=(a, b), variants=("random",), k=4, n_identify=4, n_eval=4, controls=2, seeds=(0,))
    cost = {c.task: c.scoring_s for c in estimate_module.estimate_comparison(model, config).cells}
    modes = len(VARIANTS["random"].modes)  # random: no controls; one identified and one unrelated cell per mode
    assert cost == {a: 4 * modes * (1.0 + 100.0), b: 4 * modes * (100.0 + 1.0)}
