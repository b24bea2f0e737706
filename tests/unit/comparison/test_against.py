"""Each setting against the references a preset must beat (issue #24 item 6)."""

from neuronllm_tl.comparison.against import against_references, detail_table, summary_table
from neuronllm_tl.comparison.pairwise import PairResult
from neuronllm_tl.evaluation.statistics import Difference, Interval

REFS = {"KN": ("knowledge_neurons",), "paper": ("neuronllm_ig", "neuronllm_gxa")}


def _pair(task, mode, a, b, low, high):
    interval = Interval((low + high) / 2, low, high)
    return PairResult(task, "selection", mode, a, b, (0,), 0.0, 0.0, Difference(interval, 0.01))


PAIRS = [
    # task x: the grid ran IG, so the paper's setting is neuronllm_ig; z=0.01 beats both on excite_good
    _pair("x", "excite_good", "z=0.01", "knowledge_neurons", 0.01, 0.05),
    _pair("x", "excite_good", "neuronllm_ig", "z=0.01", -0.04, -0.02),  # stored the other way round
    _pair("x", "excite_good", "neuronllm_gxa = z=0.05", "z=0.01", -0.03, -0.01),
    _pair("x", "enhance", "z=0.01", "neuronllm_ig", 0.01, 0.02),
    # task y: no IG and no Knowledge Neurons; the paper's setting is grad x act, a joined name
    _pair("y", "excite_good", "z=0.01", "neuronllm_gxa = z=0.05", -0.01, 0.02),
    _pair("y", "enhance", "z=0.01", "neuronllm_gxa = z=0.05", 0.02, 0.03),
    _pair("y", "silence_good", "z=0.01", "neuronllm_gxa = z=0.05", 0.01, 0.03),  # silencing should lower: beaten
]


def test_each_reference_is_the_first_alternative_the_task_has_and_pairs_are_read_either_way():
    rows = {(v.mode, v.task, v.reference): v for v in against_references(PAIRS, ("z=0.01",), REFS)}
    assert rows["excite_good", "x", "KN"].beats and rows["excite_good", "x", "paper"].beats
    assert rows["excite_good", "x", "paper"].pair.b == "neuronllm_ig"  # not grad x act, which the task also has
    assert rows["excite_good", "y", "KN"].pair is None  # not run on y: there, but cannot count as beaten
    assert not rows["excite_good", "y", "paper"].beats  # a tie
    assert rows["enhance", "y", "paper"].beats and ("enhance", "x", "KN") not in rows  # KN has no enhance
    of_gxa = {(v.mode, v.task, v.reference) for v in against_references(PAIRS, ("neuronllm_gxa",), REFS)}
    assert ("excite_good", "x", "paper") in of_gxa and ("excite_good", "y", "paper") not in of_gxa  # it is it
    assert not rows["silence_good", "y", "paper"].beats and "beaten" in rows["silence_good", "y", "paper"].text()


def test_the_summary_counts_tasks_where_every_reference_was_run_and_beaten():
    rows = against_references(PAIRS, ("z=0.01",), REFS)
    summary = {(r[0].text, r[1].text): [c.text for c in r[2:]] for r in summary_table(rows, REFS).rows}
    assert summary["z=0.01", "excite_good"] == ["1 of 1", "1 of 2", "1 of 2"]  # y has no KN: not "beats all"
    assert summary["z=0.01", "enhance"] == ["–", "2 of 2", "2 of 2"]
    detail = detail_table(rows, REFS).to_markdown()
    assert "| z=0.01 | excite_good | y | – | +0.005 [-0.010, +0.020] tie |" in detail
