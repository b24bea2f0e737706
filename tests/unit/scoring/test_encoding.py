"""Questions as model input: padded batches, option scores, letter and option tokens."""

import pytest
import torch

from neuronllm_tl.attribution.estimators import grad_x_act
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.tasks.task import MCExample, Task, permutation_orders
from neuronllm_tl.tasks.template import QATemplate
from neuronllm_tl.testing import TINY_TEMPLATE, tiny_examples, tiny_task


def test_option_scores_permute_with_the_options(model):
    """With the same prompt, permuting the options only permutes the cloze scores."""
    from dataclasses import replace

    task = Task.from_examples(tiny_examples(), name="t", template=QATemplate(header="", show_options=False))
    base = task.questions()
    assert len(base) == len(task), "hidden options: one question per example"
    permuted = [replace(q, options=tuple(q.options[i] for i in (1, 0, *range(2, len(q.options))))) for q in base]
    encoder = QuestionEncoder(model, task)
    with torch.no_grad():
        a = option_scores(forward_logits(model, enc := encoder.encode(base)), enc)
        b = option_scores(forward_logits(model, enc := encoder.encode(permuted)), enc)
    torch.testing.assert_close(b[:, [1, 0]], a[:, [0, 1]], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b[:, 2:], a[:, 2:], rtol=1e-5, atol=1e-5)


def test_cloze_hides_options_and_collapses_identical_permutations():
    cloze = Task.from_examples(tiny_examples(), name="t", n_permutations=3)
    letter = cloze.with_options(answer_format="letter")
    assert cloze.effective_permutations == 1 and letter.effective_permutations == 3
    assert "A. " not in cloze.questions()[0].prompt and "A. " in letter.questions()[0].prompt
    shown = cloze.with_options(template=QATemplate(show_options=True))
    assert shown.effective_permutations == 3 and len(shown.questions()) == 3 * len(cloze)


def test_padded_batch_equals_one_question_at_a_time(model, task):
    qs = task.questions()
    encoder = QuestionEncoder(model, task)
    enc = encoder.encode(qs)
    assert (enc.attention_mask.sum(1) < enc.tokens.shape[1]).any(), "the batch must contain padding"
    spec = model_spec(model)
    batched = grad_x_act(model, spec, enc)
    for i in range(0, len(qs), 5):
        single = grad_x_act(model, spec, encoder.encode([qs[i]]))
        n_opt = len(qs[i].options)
        torch.testing.assert_close(batched.scores[i, :n_opt], single.scores[0, :n_opt], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(batched.attributions[i], single.attributions[0], rtol=1e-4, atol=1e-6)


def test_questions_with_different_option_counts_mask_missing_options(model, task):
    enc = QuestionEncoder(model, task).encode(task.questions())
    with torch.no_grad():
        scores = option_scores(forward_logits(model, enc), enc)
    assert torch.isinf(scores[~enc.option_mask]).all()
    assert torch.isfinite(scores[enc.option_mask]).all()
    assert torch.allclose(scores.softmax(-1).sum(-1), torch.ones(len(scores)))


def test_letter_tokens_are_resolved_after_the_answer_prefix(model):
    task = tiny_task("letter")
    enc = QuestionEncoder(model, task).encode(task.questions()[:3])
    tok = model.tokenizer
    assert enc.letter_ids[0, :2].tolist() == [tok.convert_tokens_to_ids("A"), tok.convert_tokens_to_ids("B")]
    assert (enc.answer_pos == enc.attention_mask.sum(1) - 1).all()


def test_letters_that_are_not_single_tokens_are_refused(model):
    task = tiny_task("letter", template=QATemplate(header="", letters="XYZW"))
    with pytest.raises(ValueError, match="not distinct single tokens"):
        QuestionEncoder(model, task).encode(task.questions())


def test_options_that_tokenize_identically_are_refused(model):
    task = Task.from_examples(
        [{"question": "the sky ?", "options": ["blue", "blue ."], "answer": 0}], name="t", template=TINY_TEMPLATE
    )
    task2 = Task.from_examples(
        [{"question": "the sky ?", "options": ["blue", "zebra"], "answer": 0}], name="t", template=TINY_TEMPLATE
    )
    QuestionEncoder(model, task).encode(task.questions())  # distinct token sequences: fine
    with pytest.raises(ValueError, match="unknown token"):
        QuestionEncoder(model, task2).encode(task2.questions())
    task3 = Task.from_examples(
        [{"question": "the sky ?", "options": ["blue", " blue"], "answer": 0}], name="t", template=TINY_TEMPLATE
    )
    with pytest.raises(ValueError, match="identical token sequences"):
        QuestionEncoder(model, task3).encode(task3.questions())


