"""Objectives of free text (issue #12): the teacher-forced log-likelihood of a reference is the manual sum of its
tokens' log-probabilities, padded batches equal one example at a time, and contrastive F needs distractors."""

import pytest
import torch

from neuronllm_tl.methods.registry import identify
from neuronllm_tl.models.validation import tokenizer_of
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.objectives import OptionScores, check_objective_fits, get_objective
from neuronllm_tl.scoring.shared_prompt import read_logits
from neuronllm_tl.testing import tiny_generation_task, tiny_hf_llama

TOL = 1e-5


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_hf_llama(str(tmp_path_factory.mktemp("llama_objectives")), n_layers=3)


@pytest.fixture(params=["native", "hf"])
def any_model(request, model, llama):
    return model if request.param == "native" else llama


def _manual_logprob(model, prompt_ids, reference):
    """sum_t log p(reference token t | prompt, earlier reference tokens), from one unpadded full pass."""
    ref_ids = tokenizer_of(model)(" " + reference, add_special_tokens=False)["input_ids"]
    tokens = torch.tensor([prompt_ids + ref_ids])
    with torch.no_grad():
        logprobs = model(tokens, return_type="logits")[0].log_softmax(-1)
    start = len(prompt_ids) - 1
    return sum(float(logprobs[start + t, tok]) for t, tok in enumerate(ref_ids))


def _sequence_logprobs(model, task, questions):
    enc = QuestionEncoder(model, task).encode(questions)
    with torch.no_grad():
        logits, read = read_logits(model, enc)
    return get_objective("sequence_logprob")(OptionScores.from_logits(logits, read))


def test_sequence_logprob_is_the_manual_sum_of_token_logprobs(any_model):
    task = tiny_generation_task()
    encoder = QuestionEncoder(any_model, task)
    questions = task.questions()
    got = _sequence_logprobs(any_model, task, questions)
    want = [_manual_logprob(any_model, encoder.prompt_ids(q), q.options[q.correct]) for q in questions]
    assert max(len(tokenizer_of(any_model)(" " + q.options[q.correct])["input_ids"]) for q in questions) >= 3
    assert torch.allclose(got, torch.tensor(want), atol=TOL)


def test_padded_batch_equals_one_example_at_a_time(any_model):
    task = tiny_generation_task()
    questions = task.questions()
    batched = _sequence_logprobs(any_model, task, questions)
    alone = torch.cat([_sequence_logprobs(any_model, task, [q]) for q in questions])
    assert torch.allclose(batched, alone, atol=TOL)


def test_option_objectives_need_distractors(model):
    bare = tiny_generation_task(distractors=False)
    for objective in ("contrastive", "margin"):
        with pytest.raises(ValueError, match="sequence_logprob"):
            check_objective_fits(objective, bare)
        with pytest.raises(ValueError, match="with_model_distractors"):
            identify(model, bare, k=3, objective=objective)
    check_objective_fits("sequence_logprob", bare)
    check_objective_fits("contrastive", tiny_generation_task())
    assert len(identify(model, bare, k=3, objective="sequence_logprob").good) == 3
