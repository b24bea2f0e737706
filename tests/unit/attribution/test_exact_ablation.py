"""Exact ablation against the one-neuron-at-a-time loop (both formats, padded batches, candidates, both
baselines, prefix and full replay), and against gradient x activation to first order."""

import pytest
import torch

from neuronllm_tl.attribution.exact_ablation import as_candidates, exact_ablation
from neuronllm_tl.attribution.collect import collect_attributions
from neuronllm_tl.attribution.estimators import grad_x_act
from neuronllm_tl.attribution.replay import supports_prefix_cache
from neuronllm_tl.attribution.stream import AttributionRequest, RunOptions
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.testing import tiny_hf_llama, tiny_task
from neuronllm_tl.testing.reference import ablation_reference, answer_activation

CANDIDATES = [(0, 3), (2, 47), (1, 0), (0, 3), (2, 5)]


def _padded(model, task, examples=(0, 2, 5)):
    """A question of each of ``examples`` as one right-padded batch (2, 3 and 4 options, prompts of different lengths)."""
    questions = [next(q for q in task.questions() if q.example_index == e) for e in examples]
    enc = QuestionEncoder(model, task).encode(questions)
    lengths = {int(enc.answer_pos[enc.row_question == q][0]) for q in range(len(questions))}
    assert len(lengths) == len(questions)  # a padded batch, not one length
    return enc


def _loop(model, spec, enc, questions, **kwargs):
    return torch.stack(
        [
            torch.stack(
                [
                    ablation_reference(model, spec, enc, question=q, layer=layer, **kwargs)
                    for layer in range(spec.n_layers)
                ]
            )
            for q in questions
        ]
    )


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    model = tiny_hf_llama(str(tmp_path_factory.mktemp("tiny_llama")))
    assert supports_prefix_cache(model)
    return model


def test_every_neuron_equals_the_one_neuron_loop(model, task):
    spec = model_spec(model)
    enc = _padded(model, task)
    out = exact_ablation(model, spec, enc, max_rows=50)
    ref = _loop(model, spec, enc, range(enc.n_questions))
    torch.testing.assert_close(out.attributions, ref, rtol=1e-4, atol=1e-6)
    assert out.mask.all() and ref.abs().max() > 1e-2
    assert not out.attributions.requires_grad


def test_candidates_equal_the_full_grid_there_and_zero_elsewhere(model, task):
    spec = model_spec(model)
    enc = _padded(model, task)
    full = exact_ablation(model, spec, enc, max_rows=10_000)
    for candidates in (CANDIDATES, torch.tensor(CANDIDATES), "0:3, 2:47,1:0,2:5"):
        for max_rows in (1, 7):
            out = exact_ablation(model, spec, enc, candidates=candidates, max_rows=max_rows)
            layer, index = torch.tensor(sorted(set(CANDIDATES))).T
            assert int(out.mask.sum()) == 4 and out.mask[layer, index].all()
            torch.testing.assert_close(out.attributions[:, layer, index], full.attributions[:, layer, index])
            assert (out.attributions[:, ~out.mask] == 0).all()


def test_mean_baseline_is_the_mean_over_the_whole_task(model, answer_format):
    """The stream's "mean" is each neuron's answer-position mean over every question of the task (here three
    batches), and the effects equal the loop that sets the neuron to that mean."""
    task = tiny_task(answer_format, n_permutations=1)
    spec = model_spec(model)
    request = AttributionRequest("ablation", ablation_baseline="mean", ablation_candidates=CANDIDATES)
    attr = collect_attributions(model, task, request, RunOptions(batch_size=4))
    enc = QuestionEncoder(model, task).encode(task.questions())
    mean = torch.stack(
        [
            torch.stack([answer_activation(model, spec, enc, q, layer) for q in range(enc.n_questions)]).mean(0)
            for layer in range(spec.n_layers)
        ]
    )
    for q in (1, 9):
        for layer, index in sorted(set(CANDIDATES)):
            ref = ablation_reference(model, spec, enc, question=q, layer=layer, baseline=mean[layer], neurons=[index])
            assert float(attr.attributions[q, layer, index]) == pytest.approx(float(ref[index]), rel=1e-4, abs=1e-6)
    zero = collect_attributions(model, task, AttributionRequest("ablation", ablation_candidates=CANDIDATES))
    assert not torch.allclose(attr.attributions, zero.attributions)


def test_prefix_replay_equals_full_sequences_and_the_loop(llama, answer_format):
    task = tiny_task(answer_format)
    spec = model_spec(llama)
    enc = _padded(llama, task)
    full = exact_ablation(llama, spec, enc, replay="full")
    ref = _loop(llama, spec, enc, range(enc.n_questions))
    torch.testing.assert_close(full.attributions, ref, rtol=1e-4, atol=1e-6)
    for max_rows in (5, 10_000):
        prefix = exact_ablation(llama, spec, enc, replay="prefix", max_rows=max_rows)
        torch.testing.assert_close(prefix.attributions, full.attributions, rtol=1e-3, atol=1e-6)
    mean_full = exact_ablation(llama, spec, enc, baseline="mean", candidates=[(0, 1), (1, 7)], replay="full")
    mean_prefix = exact_ablation(llama, spec, enc, baseline="mean", candidates=[(0, 1), (1, 7)], replay="prefix")
    torch.testing.assert_close(mean_prefix.attributions, mean_full.attributions, rtol=1e-3, atol=1e-6)
    assert ref.abs().max() > 1e-4


def test_grad_x_act_is_its_first_order_estimate(model64, answer_format):
    """grad x act = a dF/da is the first-order term of F(a) - F(0): over every neuron they correlate, and with
    the baseline (1 - eps) a the exact effect / eps tends to grad x act as eps -> 0 (error O(eps))."""
    task = tiny_task(answer_format)
    spec = model_spec(model64)
    enc = QuestionEncoder(model64, task).encode(task.questions()[:6])
    gxa = grad_x_act(model64, spec, enc).attributions
    exact = exact_ablation(model64, spec, enc).attributions
    assert torch.corrcoef(torch.stack([gxa.flatten(), exact.flatten()]))[0, 1] > 0.9
    for q in (0, 4):
        a = torch.stack([answer_activation(model64, spec, enc, q, layer) for layer in range(spec.n_layers)])
        sub = enc.take_questions(torch.tensor([q]))
        errors = []
        for eps in (1e-2, 1e-3):
            scaled = exact_ablation(model64, spec, sub, baseline=(1 - eps) * a).attributions[0] / eps
            errors.append(float((scaled - gxa[q]).abs().max() / gxa[q].abs().max()))
        assert errors[1] < 3e-3 and errors[1] < errors[0] / 3


def test_bad_arguments_are_refused(model):
    task = tiny_task("letter")
    spec = model_spec(model)
    enc = QuestionEncoder(model, task).encode(task.questions()[:1])
    with pytest.raises(ValueError, match="out of range"):
        exact_ablation(model, spec, enc, candidates=[(3, 0)])
    with pytest.raises(ValueError, match="out of range"):
        exact_ablation(model, spec, enc, candidates=[(0, 48)])
    with pytest.raises(ValueError, match="baseline must be"):
        exact_ablation(model, spec, enc, baseline="median")
    with pytest.raises(ValueError, match=r"\[3, 48\]"):
        exact_ablation(model, spec, enc, baseline=torch.zeros(48))
    with pytest.raises(ValueError, match="replay='full'"):
        exact_ablation(model, spec, enc, replay="prefix")
    for bad in ([], [(0,)], [(0, -1)], [(0.5, 1)], "0-1"):
        with pytest.raises(ValueError, match="candidates"):
            as_candidates(bad)
    assert as_candidates("1:2,0:3,1:2") == ((0, 3), (1, 2))


def test_collected_ablation_says_which_neurons_were_measured(model, tmp_path):
    from neuronllm_tl.attribution.collect import TaskAttributions, collect_attributions
    from neuronllm_tl.attribution.stream import AttributionRequest
    from neuronllm_tl.testing import tiny_task

    task = tiny_task("cloze").subset(range(3))
    attr = collect_attributions(model, task, AttributionRequest(estimator="ablation", ablation_candidates=CANDIDATES))
    expected = torch.zeros_like(attr.measured)
    expected[tuple(torch.tensor(CANDIDATES).T)] = True
    assert torch.equal(attr.measured, expected)
    assert torch.equal(TaskAttributions.load(attr.save(tmp_path / "a.safetensors")).measured, expected)
    assert collect_attributions(model, task).measured is None, "grad x act attributes every neuron"
