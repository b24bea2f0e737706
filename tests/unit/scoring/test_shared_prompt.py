"""Options sharing their prompt's pass score exactly as one full row per option (issue #13, item 4)."""

import pytest
import torch

from neuronllm_tl.attribution.estimators import grad_x_act
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.scoring.shared_prompt import PromptCache, can_share_prompt, shared_prompt_logits, split_prompts
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.testing import tiny_hf_llama, tiny_task
from tests.conftest import hook_count

TOL = 1e-5


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_hf_llama(str(tmp_path_factory.mktemp("llama_shared")), n_layers=3)


def _encoded(model, task):
    return QuestionEncoder(model, task).encode(task.questions())


def _both(model, enc):
    with torch.no_grad():
        full = option_scores(forward_logits(model, enc), enc)
        shared = option_scores(*shared_prompt_logits(model, enc))
    return full, shared


def _assert_equal_scores(a, b):
    assert torch.equal(torch.isinf(a), torch.isinf(b))
    assert (a - b).nan_to_num(posinf=0.0, neginf=0.0).abs().max() < TOL


def test_split_keeps_each_prompt_once_and_each_row_from_its_answer_position(llama):
    enc = _encoded(llama, tiny_task("cloze"))
    prompt, prompt_mask, suffix = split_prompts(enc)
    assert prompt.shape[0] == enc.n_questions
    assert len(set(prompt_mask.sum(1).tolist())) > 1  # prompts of several lengths: padding is exercised
    for row in range(enc.n_rows):
        q, a = int(enc.row_question[row]), int(enc.answer_pos[row])
        n = int(enc.attention_mask[row].sum())
        assert torch.equal(prompt[q, : int(prompt_mask[q].sum())], enc.tokens[row, :a])
        assert torch.equal(suffix.tokens[row, : n - a], enc.tokens[row, a:n])
        assert int(suffix.attention_mask[row].sum()) == n - a
    assert bool((suffix.answer_pos == 0).all())


@pytest.mark.parametrize("normalization", ["sum", "mean", "char"])
def test_shared_scores_equal_one_row_per_option(llama, normalization):
    enc = _encoded(llama, tiny_task("cloze", cloze_normalization=normalization))
    _assert_equal_scores(*_both(llama, enc))


@pytest.mark.parametrize("calibration", ["pmi", "contextual"])
def test_calibrated_and_few_shot_scores_are_unchanged(llama, calibration):
    task = tiny_task("cloze", calibration=calibration).with_shots(2)
    enc = _encoded(llama, task)
    assert bool(enc.score_offset.abs().sum() > 0)
    _assert_equal_scores(*_both(llama, enc))


def _neurons():
    return NeuronSet(
        good=torch.tensor([[0, 3], [1, 7], [2, 10]]),
        bad=torch.tensor([[1, 5], [2, 11], [2, 30]]),
        good_scores=torch.ones(3),
        bad_scores=-torch.ones(3),
        scores=torch.zeros(3, 40),
        ambiguous=torch.zeros(3, 40, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )


@pytest.mark.parametrize("positions", ["answer", "all"])
def test_steered_task_scores_are_unchanged(llama, positions):
    task = tiny_task("cloze")
    # large factors: the random tiny model's option probabilities barely move under x0 / x2
    steering = Steering(_neurons(), {"good": 40.0, "bad": -40.0}, positions=positions)
    full = score_task(llama, task, steering=steering, share_prompt=False, batch_size=5)
    shared = score_task(llama, task, steering=steering, batch_size=5)
    plain = score_task(llama, task, batch_size=5)
    assert (full.probs - shared.probs).abs().max() < TOL
    assert (full.probs - plain.probs).abs().max() > 1e-3  # the steering acts, in both paths
    assert torch.equal(full.correct, shared.correct)


def test_the_prompt_runs_once_per_question(llama):
    enc = _encoded(llama, tiny_task("cloze"))
    seen = []

    def record(act, hook):
        seen.append(tuple(act.shape[:2]))

    with torch.no_grad():
        shared_prompt_logits(llama, enc, prompt_hooks=[("blocks.0.mlp.hook_post", record)])
    prompt, _, _ = split_prompts(enc)
    assert seen == [tuple(prompt.shape)]
    assert hook_count(llama) == 0


def test_who_can_share(llama, model):
    cloze = tiny_task("cloze")
    assert can_share_prompt(llama, _encoded(llama, cloze))
    assert not can_share_prompt(llama, _encoded(llama, tiny_task("letter")))  # one row per question already
    assert not can_share_prompt(model, _encoded(model, cloze))  # native bridge: no Hugging Face cache


def test_a_failing_hook_leaves_no_hook_behind(llama):
    enc = _encoded(llama, tiny_task("cloze"))

    def fail(act, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"), torch.no_grad():
        shared_prompt_logits(llama, enc, suffix_hooks=[("blocks.1.mlp.hook_post", fail)])
    assert hook_count(llama) == 0


def test_grad_x_act_is_unchanged_by_sharing_the_prompt(llama):
    spec = model_spec(llama)
    enc = _encoded(llama, tiny_task("cloze"))
    full = grad_x_act(llama, spec, enc, share_prompt=False)
    shared = grad_x_act(llama, spec, enc)
    assert (full.attributions - shared.attributions).abs().max() < TOL * full.attributions.abs().max()
    assert (full.objective - shared.objective).abs().max() < TOL
    assert hook_count(llama) == 0


def test_a_prompt_cache_runs_each_prompt_once_and_gives_the_same_scores(tmp_path):
    model = tiny_hf_llama(str(tmp_path / "llama"), n_layers=3)
    task = tiny_task("cloze")
    cache = PromptCache()
    plain = score_task(model, task, batch_size=5)
    answer = Steering(_neurons(), {"good": 40.0, "bad": -40.0})
    everywhere = Steering(_neurons(), {"good": 40.0, "bad": -40.0}, positions="all")
    first = score_task(model, task, batch_size=5, prompt_cache=cache)
    n_batches = cache.misses
    steered = score_task(model, task, steering=answer, batch_size=5, prompt_cache=cache)
    assert cache.misses == n_batches and cache.hits == n_batches  # the steered pass reused every prompt
    assert torch.equal(first.probs, plain.probs)
    reference = score_task(model, task, steering=answer, batch_size=5, share_prompt=False)
    assert (steered.probs - reference.probs).abs().max() < TOL
    at_all = score_task(model, task, steering=everywhere, batch_size=5, prompt_cache=cache)
    assert cache.hits == n_batches and cache.misses == n_batches  # a hooked prompt pass is never cached
    reference_all = score_task(model, task, steering=everywhere, batch_size=5, share_prompt=False)
    assert (at_all.probs - reference_all.probs).abs().max() < TOL
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # new weights: a new fingerprint, so no stale cache is served
    edited = score_task(model, task, batch_size=5, prompt_cache=cache)
    assert cache.misses == 2 * n_batches
    assert torch.equal(edited.probs, score_task(model, task, batch_size=5).probs)


def test_the_prompt_cache_is_bounded_by_bytes(llama):
    enc = _encoded(llama, tiny_task("cloze"))
    cache = PromptCache(max_bytes=1)
    for part in (enc.take_questions(torch.tensor([0, 1])), enc.take_questions(torch.tensor([2, 3]))):
        with torch.no_grad():
            shared_prompt_logits(llama, part, prompt_cache=cache)
    assert len(cache._entries) == 1  # the older entry was dropped
