"""evaluate's intervals: paired over held-out examples, shown in the markdown, saved in the dict."""

import json

import pytest
import torch

import neuronllm_tl as nl

from neuronllm_tl.evaluation.evaluate import evaluate
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.evaluation.statistics import paired_ci
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.steering.steering import Steering


def neurons(n_layers=3, d_mlp=48):
    return NeuronSet(
        good=torch.tensor([[1, 3], [1, 7], [2, 10]]),
        bad=torch.tensor([[1, 5], [2, 11], [2, 40]]),
        good_scores=torch.ones(3),
        bad_scores=-torch.ones(3),
        scores=torch.zeros(n_layers, d_mlp),
        ambiguous=torch.zeros(n_layers, d_mlp, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )


def test_identified_rows_carry_paired_intervals_over_examples(model, task):
    report = evaluate(model, task, neurons(), modes=["degrade"], controls=2)
    base = score_task(model, task)
    steered = score_task(model, task, steering=Steering.from_mode(neurons(), "degrade"))
    row = report.row("degrade")
    assert row.delta_p_correct == steered.mean_p_correct - base.mean_p_correct  # the point: as before
    assert row.delta_accuracy_ci == paired_ci(base.per_example_accuracy(), steered.per_example_accuracy())
    assert row.delta_p_correct_ci == paired_ci(base.per_example_p_correct(), steered.per_example_p_correct())
    assert row.delta_p_correct_ci.n == len(task)  # examples, not questions
    assert abs(row.delta_p_correct_ci.estimate - row.delta_p_correct) < 1e-6
    random_row = report.row("degrade", "random")
    assert random_row.delta_p_correct_ci is None and random_row.delta_p_correct_sd is not None


def test_markdown_and_dict_show_the_intervals(model, task):
    held_out = neurons()
    held_out.metadata["identified_examples"] = []  # a set that records its examples, none of them in the task
    report = evaluate(model, task, held_out, modes=["enhance", "degrade"], controls=2)
    md = report.to_markdown()
    for mode in ("enhance", "degrade"):
        row = report.row(mode)
        assert f"| {row.delta_accuracy:+.3f} {row.delta_accuracy_ci.bounds('+.3f')} |" in md
        assert f"| {row.delta_p_correct:+.4f} {row.delta_p_correct_ci.bounds('+.4f')} |" in md
    assert "paired 95% bootstrap interval" in md and f"over the {len(task)} held-out examples" in md
    assert " ± " in md  # the random rows keep their sd
    d = json.loads(json.dumps(report.to_dict()))
    ci = d["rows"][0]["delta_p_correct_ci"]
    assert ci["low"] <= ci["high"] and ci["confidence"] == 0.95
    assert d["settings"]["confidence"] == 0.95


def test_a_single_example_has_no_interval(model, task):
    report = evaluate(model, task.subset([0]), neurons(), modes=["degrade"], controls=0)
    assert report.row("degrade").delta_p_correct_ci is None
    assert "[" not in report.to_markdown().split("\n")[-1]


def test_identification_examples_are_excluded_or_labelled(model, task):
    ident, rest = task.split(0.5, seed=0)
    found = nl.identify(model, ident, k=5)
    report = evaluate(model, task, found, modes=["degrade"], controls=0)
    assert report.n_examples == len(rest) and report.settings["held_out"]["n_excluded"] == len(ident)
    assert f"{len(rest)} held-out examples; {len(ident)} that identified the set were excluded" in report.to_markdown()
    allowed = evaluate(model, task, found, modes=["degrade"], controls=0, held_out="allow")
    md = allowed.to_markdown()
    assert allowed.n_examples == len(task) and "NOT held out" in md and "held-out examples" not in md
    with pytest.raises(ValueError, match="none is held out.*--allow-overlap"):
        evaluate(model, ident, found, modes=["degrade"], controls=0)
    unknown = evaluate(model, rest, neurons(), modes=["degrade"], controls=0)
    assert "whether they are held out is unknown" in unknown.to_markdown()
