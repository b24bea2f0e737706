"""issue #27 item 5: "answer" may be the correct option's text, and a file task has one name everywhere."""

import json

import pytest

import neuronllm_tl as nl
from neuronllm_tl.tasks.example import MCExample
from neuronllm_tl.tasks.registry import default_task_name


def test_answer_may_be_the_options_text():
    assert MCExample.from_dict({"question": "2+2?", "options": ["5", "4"], "answer": "4"}).answer == 1
    with pytest.raises(ValueError, match="not one of the options"):
        MCExample.from_dict({"question": "2+2?", "options": ["5", "4"], "answer": "four"})


def test_a_task_file_is_named_by_its_stem_wherever_it_is_printed(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [
        {"question": "2+2?", "options": ["4", "5"], "answer": "4"},
        {"question": "1+1?", "options": ["3", "2"], "answer": 1},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    task = nl.load_task(str(path))
    assert task.name == default_task_name(str(path)) == "mine" and [e.answer for e in task.examples] == [0, 1]
    assert default_task_name("capitals-mini") == "capitals-mini"
