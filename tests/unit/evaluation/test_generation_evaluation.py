"""Evaluation by generation (issue #12): the metrics of what the model generates, steered from the answer position
on, against random controls with paired intervals; the model's own wrong answers as cached distractors."""

import pytest
import torch

from neuronllm_tl.evaluation.generation import evaluate_generation, reference_logprobs, score_generation
from neuronllm_tl.evaluation.statistics import paired_ci
from neuronllm_tl.methods.registry import identify
from neuronllm_tl.models.validation import tokenizer_of
from neuronllm_tl.scoring import distractors as distractors_module
from neuronllm_tl.scoring.distractors import with_model_distractors
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.tasks.generation import answer_contains, answer_matches
from neuronllm_tl.testing import tiny_generation_task, tiny_hf_llama, tiny_task
from tests.conftest import hook_count


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_hf_llama(str(tmp_path_factory.mktemp("llama_generation_eval")), n_layers=3)


@pytest.fixture(scope="module")
def neurons(llama):
    return identify(llama, tiny_generation_task(), k=6)


def _steered_manual_logprob(model, steering, prompt_ids, reference):
    """log p(reference) with the steering's factors applied at every position from the answer position on."""
    ref_ids = tokenizer_of(model)(" " + reference, add_special_tokens=False)["input_ids"]
    tokens = torch.tensor([prompt_ids + ref_ids])
    start = len(prompt_ids) - 1
    grid = steering.factor_grid()

    def scale(layer):
        def hook(act, hook):
            act = act.clone()
            act[:, start:] = act[:, start:] * grid[layer]
            return act

        return hook

    hooks = [(f"blocks.{layer}.mlp.hook_post", scale(layer)) for layer in range(grid.shape[0])]
    with torch.no_grad():
        logprobs = model.run_with_hooks(tokens, fwd_hooks=hooks, return_type="logits")[0].log_softmax(-1)
    return sum(float(logprobs[start + t, tok]) for t, tok in enumerate(ref_ids))


def test_steered_reference_logprob_steers_every_position_from_the_answer_on(llama, neurons):
    task = tiny_generation_task()
    steering = Steering.from_mode(neurons, "degrade")
    got = reference_logprobs(llama, task, steering=steering)
    encoder = QuestionEncoder(llama, task)
    want = [
        _steered_manual_logprob(llama, steering, encoder.prompt_ids(q), q.options[q.correct]) for q in task.questions()
    ]
    assert torch.allclose(got, torch.tensor(want, dtype=got.dtype), atol=1e-5)
    assert not torch.allclose(got, reference_logprobs(llama, task), atol=1e-3)  # the steering does something


def test_scores_are_the_matches_of_the_generated_answers(llama):
    task = tiny_generation_task()
    scores = score_generation(llama, task, max_new_tokens=4)
    refs = [e.references for e in task.examples]
    assert scores.exact_match.tolist() == [float(answer_matches(a, r)) for a, r in zip(scores.answers, refs)]
    assert scores.contains.tolist() == [float(answer_contains(a, r)) for a, r in zip(scores.answers, refs)]
    assert all("\n" not in a for a in scores.answers)


def test_report_rows_intervals_controls_and_samples(llama, neurons):
    task = tiny_generation_task()
    # the set was identified on this task: measured on it, labelled not held out
    report = evaluate_generation(llama, task, neurons, controls=2, max_new_tokens=3, samples=3, held_out="allow")
    assert "NOT held out" in report.settings["examples"]
    assert [(r.mode, r.neuron_set) for r in report.rows] == [
        ("enhance", "identified"), ("enhance", "random"), ("degrade", "identified"), ("degrade", "random"),
    ]  # fmt: skip
    base = score_generation(llama, task, max_new_tokens=3)
    steered = score_generation(llama, task, steering=Steering.from_mode(neurons, "degrade"), max_new_tokens=3)
    row = report.row("degrade")
    assert row.deltas["ref_logprob"] == pytest.approx(float(steered.ref_logprob.mean() - base.ref_logprob.mean()))
    want = paired_ci(base.ref_logprob.numpy(), steered.ref_logprob.numpy())
    assert row.delta_ci["ref_logprob"].low == pytest.approx(want.low)
    assert report.row("degrade", "random").n_sets == 2 and report.row("degrade", "random").delta_ci is None
    assert [s["degrade"] for s in report.samples] == steered.answers[:3]
    text = report.to_markdown()
    assert "exact match" in text and "random (n=2)" in text and report.samples[0]["prompt"] in text
    assert hook_count(llama) == 0


def test_multiple_choice_tasks_and_bad_options_are_refused(llama, neurons):
    with pytest.raises(ValueError, match="nl.evaluate"):
        evaluate_generation(llama, tiny_task("cloze"), neurons)
    with pytest.raises(ValueError, match="controls"):
        evaluate_generation(llama, tiny_generation_task(), neurons, controls=-1)
    with pytest.raises(ValueError, match="context"):
        score_generation(llama, tiny_generation_task(), max_new_tokens=500)


def test_hooks_are_removed_when_generation_fails(llama, neurons, monkeypatch):
    from neuronllm_tl.scoring import generation

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(generation, "_append", boom)
    with pytest.raises(RuntimeError, match="boom"):
        score_generation(llama, tiny_generation_task(), steering=Steering.from_mode(neurons, "enhance"))
    assert hook_count(llama) == 0


def test_mined_distractors_are_wrong_answers_cached_by_content(llama, tmp_path, monkeypatch):
    bare = tiny_generation_task(distractors=False)
    kept = with_model_distractors(llama, bare, n=2, cache_dir=tmp_path, drop_unmined=False)
    assert len(kept) == len(bare) and sum(kept.describe()["distractor_sources"].values()) == len(bare)
    mined = with_model_distractors(llama, bare, n=2, cache_dir=tmp_path)
    assert mined.describe()["distractor_sources"] == {"model": len(mined)}
    for e in mined.examples:
        assert 1 <= len(e.distractors) <= 2 and not any(answer_contains(d, e.references) for d in e.distractors)
    assert len(list(tmp_path.iterdir())) == 1

    def no_model(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(distractors_module, "_mine", no_model)
    assert with_model_distractors(llama, bare, n=2, cache_dir=tmp_path) == mined
    with pytest.raises(AssertionError):  # other settings, another key
        with_model_distractors(llama, bare, n=3, cache_dir=tmp_path)
