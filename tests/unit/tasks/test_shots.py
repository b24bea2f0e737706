"""k-shot demonstrations: label-balanced, from the identification split only, never scored."""

import pytest

from neuronllm_tl.tasks.shots import pick_demonstrations
from neuronllm_tl.tasks.task import Task


def labelled(n: int, labels=("positive", "negative", "neutral")) -> Task:
    rows = [
        {"question": f"review {i}", "options": list(labels), "answer": (i * 7) % len(labels) if i % 5 else 0}
        for i in range(n)
    ]
    return Task.from_examples(rows, name="reviews")


def label(example) -> str:
    return example.options[example.answer]


@pytest.mark.parametrize("shots", [1, 3, 6])
def test_demonstrations_are_label_balanced(shots):
    task = labelled(40)
    picked = [task.examples[i] for i in pick_demonstrations(task.examples, shots, seed=1)]
    counts = {lab: sum(label(e) == lab for e in picked) for lab in ("positive", "negative", "neutral")}
    assert len(picked) == shots == len({e.question for e in picked})
    assert max(counts.values()) - min(counts.values()) <= 1


def test_split_draws_demonstrations_from_identification_only_and_removes_them():
    task = labelled(40)
    plain_ident, plain_eval = task.split(0.5, seed=3)
    ident, held_out = task.split(0.5, seed=3, shots=3)
    shown = {d.question for d in ident.demonstrations}
    assert ident.demonstrations == held_out.demonstrations and len(shown) == 3
    assert shown <= {e.question for e in plain_ident.examples}
    assert not shown & {e.question for e in ident.examples}, "a demonstration is never asked"
    assert held_out.examples == plain_eval.examples, "the held-out split does not change with shots"
    for q in held_out.questions()[:3]:
        assert all(f"Question: {s}" in q.prompt for s in shown)


def test_shots_are_seeded():
    task = labelled(40)
    assert task.split(0.5, seed=0, shots=2)[0].demonstrations == task.split(0.5, seed=0, shots=2)[0].demonstrations
    assert task.with_shots(4, seed=0).demonstrations != task.with_shots(4, seed=5).demonstrations


def test_too_many_shots_say_what_to_do():
    with pytest.raises(ValueError, match="use fewer shots"):
        labelled(6).split(0.5, shots=3)
    with pytest.raises(ValueError, match="shots must be an int"):
        labelled(6).with_shots(-1)
