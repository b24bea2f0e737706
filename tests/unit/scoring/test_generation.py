"""Greedy decoding (issue #12): the batched cached engine equals a one-row, whole-sequence loop; hooks act from
the answer position on; the HookedTransformer fallback equals TransformerLens' own greedy generate."""

import pytest
import torch

from neuronllm_tl.models.validation import tokenizer_of
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.generation import answer_text, greedy_generate, no_hooks, stop_token_ids
from neuronllm_tl.scoring.kv_cache import supports_prefix_cache
from neuronllm_tl.scoring.shared_prompt import PromptCache
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.testing import tiny_generation_task, tiny_hf_llama, tiny_model
from neuronllm_tl.testing.models import tiny_hooked_transformer
from tests.conftest import hook_count


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_hf_llama(str(tmp_path_factory.mktemp("llama_generate")), n_layers=3)


def _prompts(model):
    task = tiny_generation_task()
    encoder = QuestionEncoder(model, task)
    return [encoder.prompt_ids(q) for q in task.questions()]


def _one_row_loop(model, prompt, steps, hooks_from=no_hooks, first=None):
    """The reference: rerun the whole sequence every step, hooks from the prompt's last position on."""
    tokens = torch.tensor([prompt])
    hooks = hooks_from(torch.tensor([len(prompt) - 1]))
    out = []
    with torch.no_grad():
        for step in range(steps):
            logits = model.run_with_hooks(tokens, fwd_hooks=list(hooks), return_type="logits")
            token = int(logits[0, -1].argmax()) if step or first is None else first
            out.append(token)
            tokens = torch.cat([tokens, torch.tensor([[token]])], dim=1)
    return out


def steering_of(good, bad, *, n_layers, d_mlp, factor=3.0):
    neurons = NeuronSet(
        good=torch.tensor(good),
        bad=torch.tensor(bad),
        good_scores=torch.ones(len(good)),
        bad_scores=-torch.ones(len(bad)),
        scores=torch.zeros(n_layers, d_mlp),
        ambiguous=torch.zeros(n_layers, d_mlp, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )
    return Steering(neurons, {"good": factor, "bad": 0.0})


def _steering(model):
    return steering_of([[0, 1], [1, 7], [2, 3]], [[1, 2], [2, 30]], n_layers=3, d_mlp=40)


def test_the_llama_takes_the_cached_engine(llama):
    assert supports_prefix_cache(llama)


def test_padded_cached_batch_equals_one_row_at_a_time(llama):
    prompts = _prompts(llama)
    assert len({len(p) for p in prompts}) > 1  # the batch is padded
    got = greedy_generate(llama, prompts, max_new_tokens=5)
    assert got == [_one_row_loop(llama, p, 5) for p in prompts]


def test_forced_first_tokens(llama):
    prompts = _prompts(llama)
    first = torch.arange(5, 5 + len(prompts))
    got = greedy_generate(llama, prompts, max_new_tokens=4, first_tokens=first)
    assert [row[0] for row in got] == first.tolist()
    assert got == [_one_row_loop(llama, p, 4, first=int(first[i])) for i, p in enumerate(prompts)]


def test_hooks_act_from_the_answer_position_on_and_never_leak(llama):
    prompts = _prompts(llama)
    steering = _steering(llama)

    def hooks_from(start):
        return steering.hooks_from(llama, start)

    got = greedy_generate(llama, prompts, max_new_tokens=5, hooks_from=hooks_from, prompt_cache=PromptCache())
    assert got == [_one_row_loop(llama, p, 5, hooks_from) for p in prompts]
    assert got != greedy_generate(llama, prompts, max_new_tokens=5)  # the steering changes what is generated
    assert hook_count(llama) == 0


def test_stop_tokens_end_a_row_and_the_answer_is_cut_at_the_newline(llama):
    prompts = _prompts(llama)
    free = greedy_generate(llama, prompts, max_new_tokens=5)
    stop = free[0][1]
    got = greedy_generate(llama, prompts, max_new_tokens=5, stop_ids={stop})
    assert got[0] == free[0][:2]
    tok = tokenizer_of(llama)
    assert answer_text(tok, tok("blue green", add_special_tokens=False)["input_ids"]) == "blue green"


def test_stop_tokens_of_a_real_style_tokenizer_include_newlines():
    class Tok:
        eos_token_id = 0

        def get_vocab(self):
            return {"<eos>": 0, "a": 1, "\n": 2, "b\n": 3}

        def convert_tokens_to_string(self, tokens):
            return "".join(tokens)

    assert stop_token_ids(Tok()) == {0, 2, 3}


def test_models_without_a_cache_take_the_one_row_engine():
    model = tiny_model()  # a native bridge: no Hugging Face cache
    assert not supports_prefix_cache(model)
    prompts = _prompts(model)
    steering = steering_of([[0, 1], [2, 3]], [[1, 2]], n_layers=model.cfg.n_layers, d_mlp=model.cfg.d_mlp)

    def hooks_from(start):
        return steering.hooks_from(model, start)

    got = greedy_generate(model, prompts, max_new_tokens=4, hooks_from=hooks_from)
    assert got == [_one_row_loop(model, p, 4, hooks_from) for p in prompts]
    assert hook_count(model) == 0


def test_hooked_transformer_fallback_equals_transformer_lens_generate():
    try:
        model = tiny_hooked_transformer()
    except ImportError:
        pytest.skip("HookedTransformer needs TransformerLens <= 3.9 (removed in 4.0)")
    assert not supports_prefix_cache(model)
    prompts = _prompts(model)[:3]
    got = greedy_generate(model, prompts, max_new_tokens=4)
    for prompt, row in zip(prompts, got, strict=True):
        tl = model.generate(
            torch.tensor([prompt]), max_new_tokens=4, do_sample=False, stop_at_eos=False, verbose=False,
            use_past_kv_cache=True, return_type="tokens",
        )  # fmt: skip
        assert row == tl[0, len(prompt) :].tolist()


def test_prompts_need_two_tokens(llama):
    with pytest.raises(ValueError, match="at least 2 tokens"):
        greedy_generate(llama, [[3]], max_new_tokens=2)
