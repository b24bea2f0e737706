"""The same pipeline on every TransformerLens model class the user may have."""

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.attribution.estimators import exact_ablation, integrated_gradients, supports_prefix_cache
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.testing import tiny_hf_llama, tiny_hooked_transformer, tiny_model, tiny_task
from neuronllm_tl.testing.reference import ablation_reference, integrated_gradients_reference
from tests.conftest import hook_count


def _bridge():
    return tiny_model()


def _hooked():
    try:
        return tiny_hooked_transformer()
    except ImportError:
        pytest.skip("HookedTransformer needs TransformerLens <= 3.9 (removed in 4.0)")


def _hf_llama_bridge(tmp_path_factory):
    """A real Hugging Face architecture (Llama, random weights) wrapped by boot_transformers."""
    return tiny_hf_llama(str(tmp_path_factory.mktemp("tiny_llama")))


@pytest.fixture(params=["bridge_native", "bridge_hf_llama", "hooked_transformer"])
def any_model(request, tmp_path_factory):
    if request.param == "bridge_native":
        return _bridge()
    if request.param == "bridge_hf_llama":
        return _hf_llama_bridge(tmp_path_factory)
    return _hooked()


def test_pipeline_runs_on_every_model_class(any_model, tmp_path):
    model = any_model
    ident, held_out = tiny_task("cloze").split(0.5, seed=0)
    neurons = nl.identify(model, ident, k=4)
    assert len(neurons.good) == 4 and neurons.d_mlp == model.cfg.d_mlp
    neurons = nl.NeuronSet.load(neurons.save(tmp_path / "n"), model=model)
    before = hook_count(model)
    report = nl.evaluate(model, held_out, neurons, controls=2)
    assert {(r.mode, r.neuron_set) for r in report.rows} == {
        ("enhance", "identified"), ("enhance", "random"), ("degrade", "identified"), ("degrade", "random")
    }
    tokens = QuestionEncoder(model, held_out).encode(held_out.questions()[:1]).tokens
    plain = model(tokens)
    with nl.steer(model, neurons, mode="degrade"):
        steered = model(tokens)
    assert not torch.allclose(plain, steered)
    assert hook_count(model) == before


def test_fast_ig_equals_reference_on_every_model_class(any_model):
    model = any_model
    task = tiny_task("letter")
    spec = model_spec(model)
    enc = QuestionEncoder(model, task).encode(task.questions()[:2])
    out = integrated_gradients(model, spec, enc, steps=4, max_rows=5)
    for layer in range(spec.n_layers):
        ref = integrated_gradients_reference(model, spec, enc, question=1, layer=layer, steps=4)
        torch.testing.assert_close(out.attributions[1, layer], ref, rtol=1e-4, atol=1e-6)


def test_exact_ablation_equals_the_loop_on_every_model_class(any_model):
    """Prefix replay on the HF-backed bridge, whole sequences on the native bridge and HookedTransformer."""
    model = any_model
    task = tiny_task("cloze")
    spec = model_spec(model)
    enc = QuestionEncoder(model, task).encode(task.questions()[:2])
    out = exact_ablation(model, spec, enc, max_rows=16)
    for layer in range(spec.n_layers):
        ref = ablation_reference(model, spec, enc, question=1, layer=layer)
        torch.testing.assert_close(out.attributions[1, layer], ref, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("answer_format", ["letter", "cloze"])
def test_prefix_replay_equals_full_sequence_ig(tmp_path_factory, answer_format):
    model = _hf_llama_bridge(tmp_path_factory)
    assert supports_prefix_cache(model)
    task = tiny_task(answer_format)
    spec = model_spec(model)
    enc = QuestionEncoder(model, task).encode(task.questions()[:5])
    full = integrated_gradients(model, spec, enc, steps=5, replay="full")
    for max_rows in (1, 7, 1000):
        fast = integrated_gradients(model, spec, enc, steps=5, replay="prefix", max_rows=max_rows)
        torch.testing.assert_close(fast.attributions, full.attributions, rtol=1e-4, atol=1e-7)
    assert full.attributions.abs().sum() > 0


def test_prefix_replay_is_refused_without_a_cache(model):
    task = tiny_task("letter")
    enc = QuestionEncoder(model, task).encode(task.questions()[:1])
    assert not supports_prefix_cache(model)
    with pytest.raises(ValueError, match="replay='full'"):
        integrated_gradients(model, model_spec(model), enc, steps=2, replay="prefix")
