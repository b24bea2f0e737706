"""Generation tasks (issue #12): free-text examples, their checks, the answer matching, the built-in tasks."""

import json

import pytest

from neuronllm_tl.tasks.generation import GenerationExample, answer_contains, answer_matches, normalize_answer
from neuronllm_tl.tasks.registry import GENERATION_TASKS, load_task
from neuronllm_tl.tasks.row_conversion import load_question_file
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.testing import tiny_generation_task


def test_normalisation_and_matching_follow_squad():
    assert normalize_answer("  The  Dominican Republic! ") == "dominican republic"
    assert answer_matches("paris.", ["Paris"]) and not answer_matches("Paris, France", ["Paris"])
    assert answer_contains("Paris, France", ["Paris"]) and not answer_contains("Parisian", ["Paris"])
    assert not answer_contains("", ["Paris"])


def test_an_example_scores_its_first_reference_against_its_distractors():
    ex = GenerationExample.from_dict({"prompt": "2 + 2 =", "references": ["4", "four"], "distractors": ["5"]})
    assert ex.options == ("4", "5") and ex.answer == 0 and ex.distractor_source == "given"
    alone = GenerationExample.from_dict({"prompt": "2 + 2 =", "reference": "4"})
    assert alone.options == ("4",) and alone.distractor_source == "none"
    assert GenerationExample.from_dict(ex.to_dict()) == ex


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "2 + 2 ="}, "references"),
        ({"prompt": "2 + 2 =", "references": []}, "at least one reference"),
        ({"prompt": "2 + 2 =", "references": ["4"], "distractors": ["the 4"]}, "match a reference"),
        ({"prompt": "2 + 2 =", "references": ["4"], "distractors": ["5", "5"]}, "distinct"),
    ],
)
def test_invalid_examples_say_what_to_fix(row, message):
    with pytest.raises(ValueError, match=message):
        GenerationExample.from_dict(row)


def test_a_generation_task_asks_each_prompt_once_with_the_reference_correct():
    task = tiny_generation_task()
    questions = task.questions()
    assert len(questions) == len(task) and task.effective_permutations == 1
    for q, e in zip(questions, task.examples, strict=True):
        assert q.options[q.correct] == e.references[0] and set(q.options) == set(e.options)
        assert q.prompt.endswith("Answer:")
    assert task.describe()["distractor_sources"] == {"given": 8}


def test_the_fingerprint_follows_every_reference():
    task = tiny_generation_task()
    e = task.examples[0]
    other = GenerationExample.make(e.question, [*e.references, "azure"], distractors=e.distractors)
    assert task.with_options(examples=(other, *task.examples[1:])).fingerprint() != task.fingerprint()


def test_formats_and_read_outs_that_do_not_fit_are_refused():
    rows = [{"prompt": "2 + 2 =", "references": ["4"], "distractors": ["5"]}]
    with pytest.raises(ValueError, match="answer_format='generate'"):
        Task.from_examples(rows, name="g", answer_format="cloze")
    with pytest.raises(ValueError, match="needs generation examples"):
        Task.from_examples([{"question": "q", "options": ["a", "b"], "answer": 0}], name="m", answer_format="generate")
    with pytest.raises(ValueError, match="summed log-likelihood"):
        Task.from_examples(rows, name="g", answer_format="generate", calibration="pmi")


def test_a_jsonl_of_prompts_loads_as_a_generation_task(tmp_path):
    path = tmp_path / "sums.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": f"{i} + 1 =", "reference": str(i + 1)}) for i in range(3)))
    task = load_question_file(path)
    assert task.is_generation and len(task) == 3
    assert load_task(str(path)).is_generation


@pytest.mark.parametrize("name", list(GENERATION_TASKS))
def test_built_in_generation_tasks_load_offline_with_200_examples(name):
    task = load_task(name)
    assert task.is_generation and len(task) >= 200
    assert all(len(e.distractors) == 3 for e in task.examples)
    assert len({e.question for e in task.examples}) == len(task)
    ident, held_out = task.split(0.5, seed=0)
    assert len(held_out) >= 100 and not {e.question for e in ident.examples} & {e.question for e in held_out.examples}
