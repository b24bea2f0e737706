"""The role rules on constructed cases; the Explanations value: the schema the report reads, CSV, markdown, HTML."""

import csv
import json

import pytest
import torch

from neuronllm_tl.explanation import THRESHOLDS, Explanations, NeuronExplanation, explain
from neuronllm_tl.explanation.roles import RoleEvidence, role_text
from tests.unit.explanation.test_explain import neuron_set, sentiment_task

SCHEMA_TOP = {"examples", "task", "model", "thresholds", "rows"}
SCHEMA_ROW = {
    "layer",
    "index",
    "role",
    "score",
    "score_sd",
    "option_effects",
    "promoted",
    "suppressed",
    "activation_when_right",
    "activation_when_wrong",
    "activation_by_label",
    "top_examples",
    "bottom_examples",
    "ablation_effect",
    "role_text",
}
CITIES = ("Paris", "Berlin", "Rome", "Oslo")


def evidence(effects, probs, *, correct=None, names=None, total=-0.1, labels=(), sd=1.0):
    n = len(effects)
    return RoleEvidence(
        effects=[torch.tensor(e, dtype=torch.float64) for e in effects],
        probs=[torch.tensor(p, dtype=torch.float64) for p in probs],
        names=list(names or [CITIES[: len(e)] for e in effects]),
        correct=list(correct or [0] * n),
        weights=[1.0 / n] * n,
        total=total,
        labels=list(labels),
        activation_sd=sd,
    )


def test_direct_change_is_the_first_order_change_of_log_p_correct():
    ev = evidence([[0.1, 0.3, -0.2]], [[0.5, 0.3, 0.2]])
    scores = torch.log(torch.tensor([0.5, 0.3, 0.2]))
    eps = 1e-6
    step = torch.tensor([0.1, 0.3, -0.2]) * eps
    numeric = float(((scores + step).log_softmax(-1)[0] - scores.log_softmax(-1)[0]) / eps)
    assert ev.direct_change()[0] == pytest.approx(numeric, rel=1e-4)


def test_pushing_one_distractor_and_whether_it_is_a_frequent_wrong_answer():
    pushed = [[0.0, 0.3, 0.0, 0.0]] * 4  # Berlin up, wherever Paris is the answer
    assert (
        role_text(evidence(pushed, [[0.4, 0.2, 0.2, 0.2]] * 4))
        == "pushes distractor 'Berlin' (direct path 60% of the effect)"
    )
    wrong = evidence(pushed, [[0.3, 0.5, 0.1, 0.1]] * 4)  # the model answers Berlin
    assert role_text(wrong) == "pushes distractor 'Berlin' (a frequent wrong answer; direct path 150% of the effect)"


def test_suppressing_the_correct_option_spreads_the_harm_over_the_distractors():
    ev = evidence([[-0.3, 0.0, 0.0, 0.0]] * 4, [[0.4, 0.2, 0.2, 0.2]] * 4)
    assert role_text(ev) == "suppresses the correct option (direct path 180% of the effect)"


def test_pushing_the_correct_option_or_one_answer():
    probs = [[0.4, 0.2, 0.2, 0.2]] * 4
    names = [CITIES[i:] + CITIES[:i] for i in range(4)]  # each city is the answer (first) once
    spread = evidence([[0.3, 0.0, 0.0, 0.0]] * 4, probs, names=names, total=0.2)
    assert role_text(spread) == "pushes the correct option (direct path 90% of the effect)"
    one = evidence([[0.3, 0.0, 0.0, 0.0]] + [[0.01, 0.0, 0.0, 0.0]] * 3, probs, names=names, total=0.1)
    assert role_text(one) == "pushes the answer 'Paris' (direct path 50% of the effect)"


def test_a_direct_path_too_small_or_against_the_effect_is_not_read():
    ev = evidence([[-0.3, 0.0, 0.0, 0.0]] * 4, [[0.4, 0.2, 0.2, 0.2]] * 4, total=-1.0)  # D = -0.18 < T / 4
    assert role_text(ev) == "acts through later layers (direct path 18% of the effect)"
    ev = evidence([[0.3, 0.0, 0.0, 0.0]] * 4, [[0.4, 0.2, 0.2, 0.2]] * 4, total=-0.1)  # D > 0 > T
    assert role_text(ev) == "acts through later layers (direct path -180% of the effect)"
    assert role_text(evidence([[0.3, 0.0]] * 4, [[0.5, 0.5]] * 4, total=None)) == "mixed"


def test_firing_on_one_label():
    labels = [{"label": "positive", "mean": 0.1, "n": 3}, {"label": "negative", "mean": 1.0, "n": 3}]
    flat = [[0.0, 0.0]] * 4
    assert role_text(evidence(flat, [[0.5, 0.5]] * 4, labels=labels, total=None)) == "fires on label 'negative'"
    # a gap of 0.9 is under 0.8 sd of 2.0
    assert role_text(evidence(flat, [[0.5, 0.5]] * 4, labels=labels, sd=2.0, total=None)) == "mixed"
    four = [{"label": name, "mean": m, "n": 3} for name, m in zip(CITIES, [0.1, -3.8, 0.0, -0.6], strict=True)]
    ev = evidence(flat, [[0.5, 0.5]] * 4, labels=four, sd=3.0, total=None)  # a low gap of 3.2 >= 0.8 * 3.0
    assert role_text(ev) == "fires negatively on label 'Berlin'"
    two = [{"label": "positive", "mean": -1.0, "n": 3}, {"label": "negative", "mean": 0.1, "n": 3}]
    assert role_text(evidence(flat, [[0.5, 0.5]] * 4, labels=two, total=None)) == "fires negatively on label 'positive'"
    both = evidence([[0.0, 0.3]] * 4, [[0.6, 0.4]] * 4, names=[("positive", "negative")] * 4, labels=labels, total=-0.1)
    assert role_text(both) == "pushes distractor 'negative' (direct path 120% of the effect); fires on label 'negative'"


@pytest.fixture(scope="module")
def explanations(model):
    return explain(model, neuron_set(model, good=[(1, 3)], bad=[(0, 7)]), sentiment_task(), top_examples=2)


def test_to_dict_has_exactly_the_report_schema(explanations):
    d = explanations.to_dict()
    assert set(d) == SCHEMA_TOP
    assert d["thresholds"] == THRESHOLDS and all(isinstance(v, float) for v in d["thresholds"].values())
    for row in d["rows"]:
        assert set(row) == SCHEMA_ROW
        assert row["role"] in ("good", "bad") and isinstance(row["layer"], int) and isinstance(row["score"], float)
        assert all(set(e) == {"option", "token", "logit"} for e in row["option_effects"])
        assert all(set(e) == {"token", "logit"} for e in row["promoted"] + row["suppressed"])
        assert all(set(e) == {"label", "mean", "n"} for e in row["activation_by_label"])
        assert all(set(e) == {"text", "activation", "correct"} for e in row["top_examples"] + row["bottom_examples"])
        assert row["ablation_effect"] is None and isinstance(row["role_text"], str)
    assert json.loads(json.dumps(d)) == d
    assert Explanations.from_dict(d).to_dict() == d


def test_csv_has_one_line_per_neuron_with_json_lists(explanations, tmp_path):
    with explanations.to_csv(tmp_path / "ex.csv").open() as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(explanations.rows) == 2
    assert set(lines[0]) == SCHEMA_ROW
    assert json.loads(lines[0]["option_effects"]) == explanations.rows[0].option_effects


def test_markdown_and_html_escape_the_task_text(model):
    from neuronllm_tl.tasks.task import Task
    from neuronllm_tl.testing import TINY_TEMPLATE

    examples = [{"question": "the <b> movie | was & great .", "options": ["positive", "negative"], "answer": 0}] * 2
    task = Task.from_examples(examples, name="<script>x</script>", template=TINY_TEMPLATE)
    ex = explain(model, neuron_set(model, good=[(1, 3)], bad=[]), task)
    text = str(ex)
    assert text == ex.to_markdown() and "| L1:3 | good |" in text
    assert "the <b> movie \\| was & great ." in text
    html = ex._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "the &lt;b&gt; movie | was &amp; great ." in html and "<table>" in html


def test_neuron_explanation_fields_are_the_row_schema():
    from dataclasses import fields

    assert {f.name for f in fields(NeuronExplanation)} == SCHEMA_ROW
