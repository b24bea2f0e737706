"""issue #25: a model with sliding-window layers (Gemma 3). A bridge's key/value cache continued past the window
does not apply it, so the cache paths step aside for longer sequences (loudly), and stay exact within it."""

import warnings

import pytest
import torch

from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.models.fast_paths import FastPathWarning
from neuronllm_tl.scoring.generation import greedy_generate
from neuronllm_tl.scoring.kv_cache import cache_paths_fit, sliding_window_of
from neuronllm_tl.scoring.shared_prompt import shared_prompt_on
from neuronllm_tl.testing import tiny_hf_gemma3, tiny_hf_llama, tiny_task


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    return tiny_hf_gemma3(str(tmp_path_factory.mktemp("gemma")), sliding_window=8)


def test_the_window_is_read_from_the_config(gemma, tmp_path):
    assert sliding_window_of(gemma) == 8 and sliding_window_of(tiny_hf_llama(str(tmp_path / "llama"))) is None


def test_past_the_window_scoring_takes_the_plain_pass_and_says_so(gemma):
    task = tiny_task("cloze")
    assert shared_prompt_on(gemma)  # its probe fits in the window: the path itself is verified
    assert max(len(gemma.to_tokens(q.prompt)[0]) for q in task.questions()) > 8
    with pytest.warns(FastPathWarning, match="exceed this model's 8-token sliding window"):
        shared = score_task(gemma, task)
    plain = score_task(gemma, task, share_prompt=False)
    torch.testing.assert_close(shared.probs, plain.probs, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not cache_paths_fit(gemma, 9)  # said once per model
        assert cache_paths_fit(gemma, 8)


def test_generation_past_the_window_equals_greedy_decoding_by_plain_passes(gemma):
    prompt = gemma.to_tokens("a b c d e f g h i")[0].tolist()
    assert len(prompt) > 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FastPathWarning)
        (got,) = greedy_generate(gemma, [prompt], max_new_tokens=3)
    tokens, want = list(prompt), []
    with torch.no_grad():
        for _ in range(3):
            nxt = int(gemma(torch.tensor([tokens]), return_type="logits")[0, -1].argmax())
            want.append(nxt)
            tokens.append(nxt)
    assert got == want[: len(got)] and len(got) >= 1
