"""Markdown -> escaped HTML, and the notebook display of NeuronSet and EvaluationReport."""

import torch

from neuronllm_tl.display import markdown_cell, markdown_to_html
from neuronllm_tl.evaluation.evaluate import EffectRow, EvaluationReport
from neuronllm_tl.neurons.neuron_set import NeuronSet


def test_tables_headings_and_lines_become_escaped_html():
    md = "# Title <x>\n\nsome **bold** & text\n\n| a | b |\n|---|---|\n| 1 \\| 2 | <script> |\n"
    html = markdown_to_html(md)
    assert html.startswith("<div><h4>Title &lt;x&gt;</h4><p>some <b>bold</b> &amp; text</p><table>")
    assert "<thead><tr><th>a</th><th>b</th></tr></thead>" in html
    assert "<tr><td>1 | 2</td><td>&lt;script&gt;</td></tr>" in html
    assert "<script>" not in html


def test_a_markdown_cell_is_one_line_with_pipes_escaped():
    assert markdown_cell("a | b\nc") == "a \\| b c"
    assert markdown_cell("abcdefgh", max_chars=5) == "abcd…"


def _neuron_set():
    scores = torch.zeros(3, 8)
    good, bad = torch.tensor([[2, 1], [0, 3]]), torch.tensor([[1, 4]])
    scores[2, 1], scores[0, 3], scores[1, 4] = 0.5, 0.25, -0.75
    return NeuronSet(
        good=good,
        bad=bad,
        good_scores=scores[good[:, 0], good[:, 1]],
        bad_scores=scores[bad[:, 0], bad[:, 1]],
        scores=scores,
        ambiguous=torch.zeros(3, 8, dtype=torch.bool),
        metadata={"task": {"name": "<b>cap</b>"}},
    )


def test_neuron_set_shows_its_top_neurons_and_per_layer_counts():
    neurons = _neuron_set()
    md = neurons.to_markdown()
    assert "| 1 | L2:1 | +0.5 | L1:4 | -0.75 |" in md and "| 2 | L0:3 | +0.25 |  |  |" in md
    assert "| 0 | 1 | 0 |" in md and "| 1 | 0 | 1 |" in md and "| 2 | 1 | 0 |" in md
    html = neurons._repr_html_()
    assert "&lt;b&gt;cap&lt;/b&gt;" in html and "<b>cap</b>" not in html and html.count("<table>") == 2


def test_evaluation_report_shows_its_table_as_html():
    report = EvaluationReport(
        task="<i>t</i>",
        n_examples=4,
        n_questions=12,
        n_good=2,
        n_bad=1,
        baseline={"accuracy": 0.5, "p_correct": 0.4},
        rows=[EffectRow("degrade", "identified", 0.25, 0.3, -0.25, -0.1)],
    )
    html = report._repr_html_()
    assert "&lt;i&gt;t&lt;/i&gt;" in html and "<i>" not in html
    assert "<td>degrade</td><td>identified</td><td>0.250</td><td>-0.250</td>" in html
