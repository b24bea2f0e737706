"""The one task registry: names, files, options, invalid rows, and the user's name."""

import json

import pytest

from neuronllm_tl.tasks.registry import (
    BUILTIN_TASKS,
    TASKS,
    list_tasks,
    load_task,
    load_task_file,
    register_task,
    unregister_task,
)
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.testing import tiny_examples


def write_questions(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_one_table_lists_built_in_and_dataset_tasks():
    tasks = list_tasks()
    assert {
        "sentiment-mini",
        "capitals-mini",
        "topics-mini",
        "mmlu",
        "arc_easy",
        "sst2",
        "rte",
        "mnli",
        "ag_news",
    } <= set(tasks)
    assert all(isinstance(d, str) and d for d in tasks.values())
    assert {TASKS[n].source for n in tasks} == {"built-in", "dataset"}
    assert set(BUILTIN_TASKS) == {n for n in tasks if TASKS[n].source == "built-in"}


def test_a_jsonl_path_loads_and_the_users_name_wins(tmp_path):
    path = write_questions(tmp_path / "mine.jsonl", tiny_examples()[:3])
    assert load_task(path).name == "mine"
    task = load_task(str(path), name="renamed", answer_format="letter", limit=2)
    assert task.name == "renamed" and len(task) == 2 and task.answer_format == "letter"
    assert load_task_file(path, name="x").name == "x"
    assert load_task("capitals-mini", name="caps", limit=3).name == "caps"


def test_invalid_lines_of_a_question_file_error_or_skip(tmp_path):
    rows = tiny_examples()[:3] + ['{"question": "q", "options": ["a", "a"], "answer": 0}', "{oops"]
    path = write_questions(tmp_path / "q.jsonl", rows)
    with pytest.raises(ValueError, match=r"q\.jsonl, line 4: .*repeat.*invalid_rows=\"skip\""):
        load_task(path)
    task = load_task(path, invalid_rows="skip")
    assert len(task) == 3 and task.skipped_rows == (4, 5)
    with pytest.raises(ValueError, match=r"holds no examples \(2 invalid rows skipped"):
        load_task(write_questions(tmp_path / "bad.jsonl", rows[3:]), invalid_rows="skip")
    with pytest.raises(ValueError, match="invalid_rows must be one of"):
        load_task(path, invalid_rows="drop")


def test_options_that_do_not_apply_are_refused_clearly(tmp_path):
    with pytest.raises(
        ValueError, match=r"subjects= applies to the dataset tasks .*not to the built-in task 'capitals-mini'"
    ):
        load_task("capitals-mini", subjects=["x"])
    with pytest.raises(ValueError, match=r"data_files= applies to the dataset tasks"):
        load_task("capitals-mini", data_files="x.tsv")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        load_task("capitals-mini", colour="red")
    table = tmp_path / "t.csv"
    table.write_text("text,label\na,1\n")
    with pytest.raises(ValueError, match=r"must be a \.jsonl of questions.*data_files="):
        load_task(str(table))
    with pytest.raises(KeyError, match="built-in tasks.*dataset tasks"):
        load_task("no-such-task")
    with pytest.raises(ValueError, match="limit must be"):
        load_task("capitals-mini", limit=0)


def test_register_task_round_trip():
    calls = []

    def loader(**options):
        calls.append(options)
        return Task.from_examples(tiny_examples(), name="mine", **options)

    register_task("tiny-registered", loader, description="twelve tiny questions")
    try:
        assert list_tasks()["tiny-registered"] == "twelve tiny questions"
        task = load_task("tiny-registered", answer_format="letter", limit=4, name="t")
        assert (task.name, len(task), task.answer_format) == ("t", 4, "letter")
        assert calls == [{"answer_format": "letter"}]
        with pytest.raises(ValueError, match="already registered.*overwrite=True"):
            register_task("tiny-registered", loader)
        with pytest.raises(ValueError, match="already registered"):
            register_task("sst2", loader)
        register_task("tiny-registered", lambda **o: "not a task", overwrite=True)
        with pytest.raises(TypeError, match="not a Task"):
            load_task("tiny-registered")
    finally:
        unregister_task("tiny-registered")
    assert "tiny-registered" not in list_tasks()


def test_a_tasks_default_read_out_applies_unless_the_caller_sets_one(monkeypatch):
    from dataclasses import replace

    from neuronllm_tl.tasks import registry

    entry = registry.TASKS["sentiment-mini"]
    monkeypatch.setitem(registry._TASKS._items, "sentiment-mini", replace(entry, readout={"calibration": "contextual"}))
    assert load_task("sentiment-mini").calibration == "contextual"
    assert load_task("sentiment-mini", calibration="none").calibration == "none"
    assert load_task("sentiment-mini", answer_format="letter").calibration == "none", "cloze read-outs only"


def test_shots_are_drawn_at_load_time_and_never_asked():
    plain = load_task("topics-mini", limit=40)
    shown = load_task("topics-mini", limit=40, shots=3)
    assert len(shown.demonstrations) == 3 and len(shown) == 37
    assert not {d.question for d in shown.demonstrations} & {e.question for e in shown.examples}
    assert {d.question for d in shown.demonstrations} <= {e.question for e in plain.examples}


def test_measured_default_read_outs():
    """docs/tasks.md chose these on fresh held-out examples; the caller's options win."""
    assert load_task("sentiment-mini").calibration == "pmi"
    assert load_task("capitals-mini").calibration == "none"
    assert load_task("sentiment-mini", calibration="none").readout == "sum"
