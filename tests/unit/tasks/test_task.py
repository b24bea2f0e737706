"""Tasks: permutations, demonstrations, splits, validation, fingerprints."""

import pytest
import torch

from neuronllm_tl.attribution.estimators import grad_x_act
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.tasks.task import MCExample, Task, permutation_orders
from neuronllm_tl.tasks.template import QATemplate
from neuronllm_tl.testing import TINY_TEMPLATE, tiny_examples, tiny_task


def test_permutations_move_the_correct_option_and_nothing_else():
    task = tiny_task("cloze", n_permutations=3)
    questions = task.questions()
    assert len(questions) == 3 * len(task)
    for e_idx, ex in enumerate(task.examples):
        qs = [q for q in questions if q.example_index == e_idx]
        positions = [q.correct for q in qs]
        assert len(set(positions)) == min(3, len(ex.options))
        for q in qs:
            assert sorted(q.options) == sorted(ex.options)
            assert q.options[q.correct] == ex.options[ex.answer]
            assert [ex.options[i] for i in q.order] == list(q.options)
            assert ex.question in q.prompt
            # the prompt differs between permutations only in the option lines
            stripped = [line for line in q.prompt.splitlines() if not line[:3].rstrip(" ").endswith(".")]
            assert stripped == [line for line in qs[0].prompt.splitlines() if not line[:3].rstrip(" ").endswith(".")]


def test_permutations_are_seeded():
    a = tiny_task("cloze", seed=1).questions()
    assert a == tiny_task("cloze", seed=1).questions()
    assert a != tiny_task("cloze", seed=2).questions()


def test_more_permutations_than_options_visit_every_position_first():
    import random

    orders = permutation_orders(2, 1, 5, random.Random(0))
    positions = [o.index(1) for o in orders]
    assert sorted(positions[:2]) == [0, 1] and sorted(positions[2:4]) == [0, 1]


def test_demonstrations_precede_the_question_and_header_appears_once():
    template = QATemplate()
    task = Task.from_examples(
        tiny_examples()[:2], name="t", demonstrations=tiny_examples()[5:6], template=template, answer_format="letter"
    )
    prompt = task.questions()[0].prompt
    assert prompt.count(template.header) == 1
    assert prompt.index("sky") < prompt.index("movie")
    assert "Answer: A" in prompt and prompt.endswith("Answer:")


def test_split_has_no_example_in_both_parts():
    task = tiny_task("cloze")
    a, b = task.split(0.5, seed=3)
    assert len(a) + len(b) == len(task)
    assert not set(a.examples) & set(b.examples)
    assert task.split(0.5, seed=3) == (a, b)


@pytest.mark.parametrize(
    "row, message",
    [
        ({"question": "q", "options": ["a"], "answer": 0}, "at least 2 options"),
        ({"question": "q", "options": ["a", "b"], "answer": 2}, "int index"),
        ({"question": "q", "options": ["a", "a"], "answer": 0}, "repeat"),
        ({"question": "q", "options": ["a", ""], "answer": 0}, "non-empty"),
        ({"question": "q", "answer": 0}, "lacks"),
    ],
)
def test_bad_examples_are_refused(row, message):
    with pytest.raises(ValueError, match=message):
        MCExample.from_dict(row)


def test_empty_task_is_refused():
    with pytest.raises(ValueError, match="no examples"):
        Task.from_examples([], name="empty")


def test_too_long_questions_are_refused(model):
    task = Task.from_examples(
        [{"question": "the " * 200, "options": ["red", "blue"], "answer": 0}], name="long", template=TINY_TEMPLATE
    )
    with pytest.raises(ValueError, match="context"):
        QuestionEncoder(model, task).encode(task.questions())


def test_subset_out_of_range_says_how_many_examples_there_are():
    task = tiny_task("cloze")
    assert len(task.subset(range(3))) == 3
    with pytest.raises(IndexError, match="has 12 examples"):
        task.subset(range(20))


def test_fingerprint_follows_the_questions_not_the_name():
    task = tiny_task("letter")
    assert len(task.fingerprint()) == 64 and task.fingerprint() == tiny_task("letter").fingerprint()
    assert task.with_options(name="another name").fingerprint() == task.fingerprint()
    rows = tiny_examples()
    rows[0] = {**rows[0], "answer": 1}  # flip one answer
    flipped = Task.from_examples(rows, name=task.name, answer_format="letter", template=TINY_TEMPLATE)
    assert flipped.fingerprint() != task.fingerprint()
    assert task.with_options(answer_format="cloze").fingerprint() != task.fingerprint()
    assert task.with_options(skipped_rows=(3,)).fingerprint() == task.fingerprint()
    assert task.with_options(skipped_rows=(3,)) == task


def test_letters_are_counted_only_where_they_are_shown():
    rows = [{"question": "pick one", "options": [f"o{i}" for i in range(12)], "answer": 11}]
    cloze = Task.from_examples(rows, name="many")  # cloze hides the options: no letters needed
    assert len(cloze.questions()) == 1
    with pytest.raises(ValueError, match="12 options but the template has only 10 letters"):
        cloze.with_options(answer_format="letter")
    with pytest.raises(ValueError, match="answer_format='cloze'"):
        cloze.with_options(template=QATemplate(show_options=True))
    assert len(cloze.with_options(answer_format="letter", template=QATemplate(letters="ABCDEFGHIJKL")).questions()) == 3


def test_a_task_repr_is_one_short_line():
    from neuronllm_tl.testing import tiny_task

    text = repr(tiny_task("cloze"))
    assert text == "Task('tiny-cloze', 12 examples, cloze, 3 permutations, calibration none)" and "\n" not in text
