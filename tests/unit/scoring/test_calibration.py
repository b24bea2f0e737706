"""Read-outs: per-character normalisation, PMI and contextual calibration, against direct computations."""

import pytest
import torch

from neuronllm_tl.attribution.estimators import grad_x_act
from neuronllm_tl.models.validation import model_spec, tokenizer_of
from neuronllm_tl.scoring.calibration import CONTENT_FREE
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.scoring.objectives import OptionScores
from neuronllm_tl.testing import tiny_task


def continuation_logprob(model, prompt: str, continuation: str) -> float:
    """log p(continuation | BOS + prompt), token by token, one sequence, no batching."""
    tok = tokenizer_of(model)
    prompt_ids = [tok.bos_token_id] + tok(prompt, add_special_tokens=False)["input_ids"]
    cont_ids = tok(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + cont_ids]), return_type="logits")[0].double()
    logprobs = logits.log_softmax(-1)
    return sum(float(logprobs[len(prompt_ids) - 1 + i, t]) for i, t in enumerate(cont_ids))


def read(model, task, questions=None):
    questions = questions or task.questions()
    enc = QuestionEncoder(model, task).encode(questions)
    with torch.no_grad():
        logits = forward_logits(model, enc)
    return option_scores(logits, enc).double(), OptionScores.from_logits(logits, enc), questions


@pytest.mark.parametrize("normalization", ["sum", "char"])
def test_cloze_normalisation_equals_direct_log_likelihood(model, normalization):
    task = tiny_task("cloze", cloze_normalization=normalization)
    scores, _, questions = read(model, task)
    for i, q in enumerate(questions[:4]):
        for j, option in enumerate(q.options):
            expected = continuation_logprob(model, q.prompt, " " + option)
            if normalization == "char":
                expected /= len(" " + option)
            assert float(scores[i, j]) == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_pmi_subtracts_the_options_likelihood_after_the_answer_prefix_alone(model):
    task = tiny_task("cloze", calibration="pmi")
    scores, _, questions = read(model, task)
    for i, q in enumerate(questions[:4]):
        for j, option in enumerate(q.options):
            conditional = continuation_logprob(model, q.prompt, " " + option)
            unconditional = continuation_logprob(model, task.template.answer_prefix, " " + option)
            assert float(scores[i, j]) == pytest.approx(conditional - unconditional, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("answer_format", ["cloze", "letter"])
def test_contextual_calibration_divides_by_the_content_free_probabilities(model, answer_format):
    task = tiny_task(answer_format, calibration="contextual")
    plain = task.with_options(calibration="none")
    calibrated, _, questions = read(model, task)
    raw, _, _ = read(model, plain, questions)
    for i, q in enumerate(questions[:3]):
        example = task.examples[q.example_index]
        blanks = [
            plain.template.render_prompt(
                b, q.options, b if example.context else None, answer_format=answer_format
            )
            for b in CONTENT_FREE
        ]
        free = [q.__class__(0, 0, prompt, q.options, q.order, 0) for prompt in blanks]
        free_scores, _, _ = read(model, plain, free)
        n = len(q.options)
        p_cf = free_scores[:, :n].softmax(-1).mean(0)
        expected = (raw[i, :n].softmax(-1) / p_cf) / (raw[i, :n].softmax(-1) / p_cf).sum()
        torch.testing.assert_close(calibrated[i, :n].softmax(-1), expected, rtol=1e-4, atol=1e-6)


def test_calibration_leaves_vocabulary_log_probabilities_alone(model):
    _, plain, _ = read(model, tiny_task("cloze"))
    _, calibrated, _ = read(model, tiny_task("cloze", calibration="pmi", cloze_normalization="char"))
    torch.testing.assert_close(calibrated.vocab_logprobs, plain.vocab_logprobs)
    assert not torch.allclose(calibrated.raw, plain.raw)


def test_calibrated_padded_batch_equals_one_question_at_a_time(model, answer_format):
    task = tiny_task(answer_format, calibration="contextual")
    qs = task.questions()
    encoder = QuestionEncoder(model, task)
    spec = model_spec(model)
    batched = grad_x_act(model, spec, encoder.encode(qs))
    for i in range(0, len(qs), 4):
        single = grad_x_act(model, spec, QuestionEncoder(model, task).encode([qs[i]]))
        n = len(qs[i].options)
        torch.testing.assert_close(batched.scores[i, :n], single.scores[0, :n], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(batched.attributions[i], single.attributions[0], rtol=1e-4, atol=1e-6)


def test_offsets_are_constants_of_the_gradient(model):
    """F's gradient with calibration is that of the question's own scores: the offsets shift the softmax
    weights, never add a path through the content-free pass."""
    task = tiny_task("cloze", calibration="pmi")
    enc = QuestionEncoder(model, task).encode(task.questions()[:3])
    assert enc.score_offset.requires_grad is False and bool(enc.score_offset.ne(0).any())


def test_letter_format_refuses_text_read_outs():
    with pytest.raises(ValueError, match="letter format does not score"):
        tiny_task("letter", calibration="pmi")
    with pytest.raises(ValueError, match="cloze_normalization"):
        tiny_task("letter", cloze_normalization="char")
    with pytest.raises(ValueError, match="calibration must be one of"):
        tiny_task("cloze", calibration="zhao")


def test_readout_names():
    assert tiny_task("cloze").readout == "sum"
    assert tiny_task("cloze", calibration="pmi").readout == "pmi"
    assert tiny_task("cloze", cloze_normalization="char", calibration="contextual").readout == "char+contextual"
    assert tiny_task("letter", calibration="contextual").readout == "letter+contextual"


def test_a_prompt_cache_keeps_the_offsets_across_scorings_and_steerings(model, monkeypatch):
    import neuronllm_tl as nl
    from neuronllm_tl.evaluation.scores import score_task
    from neuronllm_tl.scoring import calibration
    from neuronllm_tl.scoring.shared_prompt import PromptCache

    task = tiny_task("cloze", calibration="contextual")
    neurons = nl.identify(model, task, k=3)
    degrade = nl.Steering.from_mode(neurons, "degrade")
    plain = [score_task(model, task).probs, score_task(model, task, steering=degrade).probs]
    calls = []
    real = calibration.Calibrator._score_missing

    def counting(self, units):
        calls.append(len([u for u in units if u not in self._scores]))
        return real(self, units)

    monkeypatch.setattr(calibration.Calibrator, "_score_missing", counting)
    cache = PromptCache()
    cached = [score_task(model, task, prompt_cache=cache).probs]
    cached.append(score_task(model, task, steering=degrade, prompt_cache=cache).probs)
    assert sum(calls[1:]) == 0 < calls[0]  # computed by the first scoring only
    for a, b in zip(cached, plain, strict=True):
        torch.testing.assert_close(a, b)
    with nl.steer(model, neurons, mode="degrade"):  # under a user's hooks the store is neither read nor filled
        score_task(model, task, prompt_cache=cache)
    assert calls[-1] > 0
    torch.testing.assert_close(score_task(model, task, prompt_cache=cache).probs, plain[0])
