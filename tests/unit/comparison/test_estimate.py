"""The cost estimate probes examples that stand for the split (issue #24 item 2)."""

from neuronllm_tl.comparison.estimate import representative
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
