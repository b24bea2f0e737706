"""grad x act over every answer token (issue #12's attribution positions flag) equals a manual autograd sum."""

import pytest
import torch

from neuronllm_tl.attribution.estimators import grad_x_act
from neuronllm_tl.attribution.stream import AttributionRequest
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits
from neuronllm_tl.scoring.objectives import objective_and_scores
from neuronllm_tl.testing import tiny_generation_task, tiny_hf_llama, tiny_task


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_hf_llama(str(tmp_path_factory.mktemp("llama_tokens")), n_layers=3)


def _manual(model, spec, enc, objective):
    """sum over rows of a question and over positions answer_pos .. answer_pos + len(option) - 1 of a * dF/da."""
    acts = {}

    def keep(layer):
        def hook(act, hook):
            act.retain_grad()
            acts[layer] = act
            return act

        return hook

    hooks = [(spec.hook_name(layer), keep(layer)) for layer in range(spec.n_layers)]
    with torch.enable_grad():
        f, _ = objective_and_scores(forward_logits(model, enc, hooks), enc, objective)
        f.sum().backward()
    out = torch.zeros(enc.n_questions, spec.n_layers, spec.d_mlp)
    for row in range(enc.n_rows):
        start, length = int(enc.answer_pos[row]), max(1, int(enc.cont_mask[row].sum()))
        for layer in range(spec.n_layers):
            a = acts[layer]
            out[enc.row_question[row], layer] += (a[row] * a.grad[row])[start : start + length].sum(0).detach()
    return out


@pytest.mark.parametrize("objective", ["contrastive", "sequence_logprob"])
@pytest.mark.parametrize("share_prompt", [True, False])
def test_answer_tokens_equals_the_manual_sum(llama, objective, share_prompt):
    task = tiny_generation_task()
    spec = model_spec(llama)
    enc = QuestionEncoder(llama, task).encode(task.questions())
    got = grad_x_act(llama, spec, enc, objective=objective, positions="answer_tokens", share_prompt=share_prompt)
    assert torch.allclose(got.attributions, _manual(llama, spec, enc, objective), atol=1e-5)


def test_one_token_options_give_the_answer_position_attribution(model):
    task = tiny_task("cloze")  # every option is one word: one token
    spec = model_spec(model)
    enc = QuestionEncoder(model, task).encode(task.questions())
    assert int(enc.cont_mask.sum(1).max()) == 1
    a = grad_x_act(model, spec, enc).attributions
    b = grad_x_act(model, spec, enc, positions="answer_tokens").attributions
    assert torch.allclose(a, b, atol=1e-6)


def test_only_grad_x_act_reads_answer_tokens():
    with pytest.raises(ValueError, match="grad_x_act"):
        AttributionRequest("integrated_gradients", positions="answer_tokens")
    assert "positions" not in AttributionRequest().to_dict()  # the default keeps older cache keys
    assert AttributionRequest(positions="answer_tokens").to_dict()["positions"] == "answer_tokens"
