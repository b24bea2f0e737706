"""Every fast path checks itself against the plain forward pass once per model, and falls back loudly.

Each test breaks one fast path the way a dependency could (a cache that is never read, an attention that
drifts, a check that crashes), then asks for results: they must equal the plain path's, and one
FastPathWarning must name the path, the difference and the installed versions. Without the fallback the
broken path would run and the results would differ, so these tests fail if the fallback is taken out.
"""

import warnings

import pytest
import torch

from neuronllm_tl.attribution import layer_replay, replay
from neuronllm_tl.attribution.environment import environment
from neuronllm_tl.attribution.integrated_gradients import integrated_gradients
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.models.fast_paths import FastPathWarning, fast_path_on, fast_path_status
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring import generation, kv_cache, shared_prompt
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.generation import greedy_generate
from neuronllm_tl.scoring.shared_prompt import PromptCache
from neuronllm_tl.testing import tiny_hf_llama, tiny_task


@pytest.fixture
def llama(tmp_path):
    """A fresh model object per test: fast-path decisions are remembered per model object."""
    return tiny_hf_llama(str(tmp_path / "llama"), n_layers=3)


def _cache_ignored(model, tokens, cache, hooks=(), **kwargs):
    """A suffix pass that never reads the prompt's cache (transformers 5.25 under TransformerLens 4.3)."""
    kwargs.pop("attention_mask", None)
    return model.run_with_hooks(tokens, fwd_hooks=list(hooks), return_type="logits")


def _one_warning(record, path):
    mine = [w for w in record if issubclass(w.category, FastPathWarning)]
    assert len(mine) == 1, [str(w.message) for w in mine]
    text = str(mine[0].message)
    assert f"'{path}'" in text and ("differ" in text or "raised" in text)
    assert all(name in text for name in ("torch", "transformers", "transformer_lens"))
    return text


def test_a_shared_prompt_that_ignores_its_cache_is_turned_off_and_scores_equal_the_plain_path(llama, monkeypatch):
    task = tiny_task("cloze")
    plain = score_task(llama, task, share_prompt=False).probs
    monkeypatch.setattr(shared_prompt, "run_with_cache_kv", _cache_ignored)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = score_task(llama, task, prompt_cache=PromptCache()).probs
        again = score_task(llama, task).probs  # decided once per model: no second warning
    text = _one_warning(record, "shared_prompt")
    assert "tolerance" in text
    torch.testing.assert_close(got, plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(again, plain, atol=1e-5, rtol=0)
    assert not fast_path_status(llama, "shared_prompt").on


def test_a_check_that_raises_turns_the_path_off_and_never_crashes_the_call(llama, monkeypatch):
    task = tiny_task("cloze")
    plain = score_task(llama, task, share_prompt=False).probs

    def broken(*args, **kwargs):
        raise RuntimeError("cache layout changed")

    monkeypatch.setattr(shared_prompt, "split_prompts", broken)
    with pytest.warns(FastPathWarning, match="'shared_prompt'.*raised RuntimeError: cache layout changed"):
        got = score_task(llama, task).probs
    torch.testing.assert_close(got, plain, atol=1e-5, rtol=0)


def test_a_prompt_cache_that_serves_a_wrong_copy_is_turned_off(llama, monkeypatch):
    task = tiny_task("cloze")
    plain = score_task(llama, task, share_prompt=False).probs
    real_fetch = PromptCache.fetch

    def stale(self, model, prompt, prompt_mask, run):
        out = real_fetch(self, model, prompt, prompt_mask, run)
        if self.hits:  # a hit serves a cache whose keys were damaged
            for layer in out.layers:
                layer.keys.mul_(3.0)
        return out

    monkeypatch.setattr(PromptCache, "fetch", stale)
    with pytest.warns(FastPathWarning, match="'prompt_cache'"):
        first = score_task(llama, task, prompt_cache=(cache := PromptCache())).probs
        second = score_task(llama, task, prompt_cache=cache).probs
    assert fast_path_status(llama, "shared_prompt").on
    torch.testing.assert_close(first, plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(second, plain, atol=1e-5, rtol=0)


def test_a_drifting_layer_replay_falls_back_to_an_exact_replay(llama, monkeypatch):
    task = tiny_task("letter")
    spec = model_spec(llama)
    enc = QuestionEncoder(llama, task).encode(task.questions()[:2])
    want = integrated_gradients(llama, spec, enc, steps=2, replay="full").attributions
    real = layer_replay.shared_prefix_attention
    monkeypatch.setattr(layer_replay, "shared_prefix_attention", lambda *a: real(*a) * 1.5)
    with pytest.warns(FastPathWarning, match="'layer_replay'.*replayed logits differ"):
        assert replay.replay_mode(llama, "auto") == "prefix"
        got = integrated_gradients(llama, spec, enc, steps=2, replay="auto").attributions
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-3)
    with pytest.raises(ValueError, match="replay='layer' cannot run.*replayed logits differ"):
        integrated_gradients(llama, spec, enc, steps=2, replay="layer")


def test_prefix_replay_and_cached_generation_that_ignore_the_cache_fall_back(llama, monkeypatch):
    prompts = [[3, 5, 7, 9], [4, 6, 8]]
    want = [generation._recomputed(llama, p, 4, set(), generation.no_hooks, None) for p in prompts]
    monkeypatch.setattr(generation, "run_with_cache_kv", _cache_ignored)
    monkeypatch.setattr(replay, "run_with_cache_kv", _cache_ignored)
    monkeypatch.setattr(layer_replay, "_structure_problem", lambda m: "ruled out for this test")
    with pytest.warns(FastPathWarning) as record:
        assert greedy_generate(llama, prompts, max_new_tokens=4) == want
        assert replay.replay_mode(llama, "auto") == "full"
    named = {p for p in ("cached_generation", "prefix_replay") if any(f"'{p}'" in str(w.message) for w in record)}
    assert named == {"cached_generation", "prefix_replay"}


def test_the_handoff_is_what_makes_a_cache_readable_and_its_hooks_never_stay(llama, monkeypatch):
    """On transformers >= 5.25 the bridge's attention only sees the cache through the handoff; on older
    releases the handoff is a no-op. Either way no pre-hook stays on the model."""
    reader = kv_cache._cache_readers(llama)[0]
    before = len(reader._forward_pre_hooks)
    with pytest.raises(RuntimeError), kv_cache.cache_handoff(llama):
        assert len(reader._forward_pre_hooks) == before + 1
        raise RuntimeError("boom")
    assert len(reader._forward_pre_hooks) == before


def test_a_decision_is_remembered_per_model_object(llama):
    calls = []
    assert fast_path_on(llama, "shared_prompt", lambda m: calls.append(m)) is True
    assert fast_path_on(llama, "shared_prompt", lambda m: "never asked") is True
    assert len(calls) == 1


def test_environment_reports_each_path_on_a_healthy_model_and_why_one_is_off(llama, model):
    healthy = environment(llama)
    assert all(status.on and status.checked for status in healthy.fast_paths.values()), healthy.to_text()
    assert "transformers" in healthy.versions and "layer_replay: on, verified" in healthy.to_text()
    native = environment(model)  # a native bridge returns no Hugging Face cache: ruled out, no warning
    assert not any(status.on for status in native.fast_paths.values())
    assert "no Hugging Face key/value cache" in native.fast_paths["shared_prompt"].reason
