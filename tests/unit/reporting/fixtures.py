"""A run folder written by hand, as demo/identify/compare would, with fake explanations (no model needed)."""

import csv
import json

import torch

from neuronllm_tl.neurons.neuron_set import NeuronSet


def neuron_set(task_name="tiny", k=4, n_layers=3, d_mlp=16):
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(n_layers, d_mlp, generator=gen)
    flat = scores.flatten().argsort(descending=True)
    ids = torch.stack([flat // d_mlp, flat % d_mlp], 1)
    good, bad = ids[:k], ids.flip(0)[:k]
    return NeuronSet(
        good=good,
        bad=bad,
        good_scores=scores[good[:, 0], good[:, 1]],
        bad_scores=scores[bad[:, 0], bad[:, 1]],
        scores=scores,
        ambiguous=torch.zeros(n_layers, d_mlp, dtype=torch.bool),
        metadata={
            "task": {"name": task_name, "n_examples": 8, "answer_format": "cloze", "effective_permutations": 1},
            "model": "tiny-random",
            "model_class": "TransformerBridge",
            "config": {"method": "neuronllm", "attribution": "grad_x_act", "z": 0.05},
            "identification": {"accuracy": 0.5, "n_questions": 8},
            "versions": {"neuronllm_tl": "0.1.0", "torch": "2.13.0"},
            "model_fingerprint": "ab" * 32,
            "task_fingerprint": "cd" * 32,
        },
    )


def report_dict(task_name="tiny:evaluate"):
    ci = {"estimate": -0.1, "low": -0.2, "high": -0.05, "confidence": 0.95, "n": 4, "method": "BCa", "note": ""}
    row = dict(
        mode="degrade",
        neuron_set="identified",
        accuracy=0.25,
        p_correct=0.3,
        delta_accuracy=-0.25,
        delta_p_correct=-0.1,
        delta_accuracy_sd=None,
        delta_p_correct_sd=None,
        n_sets=1,
        delta_accuracy_ci=dict(ci, low=-0.5, high=0.0),
        delta_p_correct_ci=ci,
    )
    random = dict(
        row,
        neuron_set="random",
        n_sets=3,
        delta_accuracy_sd=0.01,
        delta_p_correct_sd=0.02,
        delta_accuracy_ci=None,
        delta_p_correct_ci=None,
    )
    return {
        "task": task_name,
        "n_examples": 4,
        "n_questions": 4,
        "n_good": 4,
        "n_bad": 4,
        "baseline": {"accuracy": 0.5, "p_correct": 0.4},
        "rows": [row, random],
        "run_time_s": 3.0,
    }


def explanation_row(layer, index, role, task_text="What is the capital of France?"):
    return {
        "layer": layer,
        "index": index,
        "role": role,
        "score": 0.02 if role == "good" else -0.02,
        "score_sd": 0.01,
        "option_effects": [
            {"option": "Paris", "token": " Paris", "logit": 0.8},
            {"option": "Berlin", "token": " Berlin", "logit": -0.3},
        ],
        "promoted": [{"token": " Paris", "logit": 1.2}, {"token": "<b>", "logit": 0.9}],
        "suppressed": [{"token": " Berlin", "logit": -1.1}],
        "activation_when_right": 0.4,
        "activation_when_wrong": -0.1,
        "activation_by_label": [{"label": "Paris", "mean": 0.5, "n": 3}, {"label": "Rome", "mean": -0.2, "n": 2}],
        "top_examples": [{"text": task_text, "activation": 0.9, "correct": True}],
        "bottom_examples": [{"text": "What is the capital of Italy?", "activation": -0.4, "correct": False}],
        "ablation_effect": None,
        "role_text": "pushes distractor 'Berlin'" if role == "bad" else "pushes the correct option",
    }


def explanations_dict(neurons, task="tiny", n=2):
    rows = [explanation_row(*map(int, neurons.good[i]), "good") for i in range(n)]
    rows += [explanation_row(*map(int, neurons.bad[i]), "bad") for i in range(n)]
    return {"task": task, "model": "tiny-random", "thresholds": {"option_logit": 0.1}, "rows": rows}


def top_activating_dict(neurons, n=2):
    tokens = ["The", " capital", " of", " France", " is", " Paris", "\n", "<script>"]
    acts = [0.0, 0.2, -0.1, 0.9, 0.1, 1.5, -0.6, 0.3]
    snippet = {"text": "".join(tokens), "max_activation": 1.5, "tokens": tokens, "activations": acts}
    pairs = neurons.good[:n].tolist()
    return {"neurons": [{"layer": layer, "index": i, "snippets": [snippet, snippet]} for layer, i in pairs]}


def write_run(folder, *, task_name="tiny", explanations=True, report=True):
    """A demo-like run folder: neurons/, report.json and (optionally) explanations.json, top_activating.json."""
    folder.mkdir(parents=True, exist_ok=True)
    neurons = neuron_set(task_name)
    neurons.save(folder / "neurons")
    if report:
        (folder / "report.json").write_text(json.dumps(report_dict(task_name + ":evaluate")))
    if explanations:
        (folder / "explanations.json").write_text(json.dumps(explanations_dict(neurons, task_name)))
        (folder / "top_activating.json").write_text(json.dumps(top_activating_dict(neurons)))
    return folder


def write_comparison(folder, png: bytes):
    """A compare-like folder: results.csv, config.json, delta_p.png."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = [
        "task",
        "group",
        "variant",
        "method",
        "mode",
        "n_steered",
        "accuracy_before",
        "accuracy_after",
        "delta_accuracy",
        "p_before",
        "p_after",
        "delta_p",
        "rcc",
        "random_delta_p_mean",
        "random_delta_p_sd",
        "random_n",
        "beyond_random",
        "pcr",
        "delta_p_ci_low",
        "delta_p_ci_high",
    ]
    rows = [
        [
            "a.jsonl",
            "main",
            v,
            v,
            "degrade",
            "4",
            "1.0",
            "0.5",
            "-0.5",
            "0.9",
            "0.4",
            "-0.5",
            "-0.55",
            "0.0",
            "0.01",
            "3" if v == "neuronllm" else "2",  # qrnca's row: too few random sets for a verdict
            "-50",
            "3.0",
            "-0.6",
            "-0.4",
        ]
        for v in ("neuronllm", "qrnca")
    ]
    rows.append(
        [
            "a.jsonl",
            "k",
            "k=2",
            "neuronllm",
            "degrade",
            "2",
            "1.0",
            "0.9",
            "-0.1",
            "0.9",
            "0.8",
            "-0.1",
            "-0.1",
            "",
            "",
            "0",
            "",
            "",
            "",
            "",
        ]
    )
    with open(folder / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows(rows)
    (folder / "config.json").write_text(
        json.dumps({"tasks": ["a.jsonl"], "variants": ["neuronllm", "qrnca"], "ablations": ["k"], "k": 4})
    )
    (folder / "delta_p.png").write_bytes(png)
    return folder
