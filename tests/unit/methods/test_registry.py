"""One method registry: NeuronLLM and the baselines behind identify(), configs that name their method,
and a method of one's own registered in a few lines."""

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.neuronllm import NeuronLLMConfig
from neuronllm_tl.methods.registry import METHODS, get_method, method_config, register_method
from neuronllm_tl.testing import tiny_task


def test_every_builtin_is_registered_and_its_config_round_trips_through_json():
    assert {"neuronllm", "qrnca", "knowledge_neurons", "tn", "lape", "random"} <= set(METHODS)
    for name, spec in METHODS.items():
        config = spec.config_class()
        d = json.loads(json.dumps(config.to_dict()))
        assert d["method"] == name
        back = MethodConfig.from_dict(d)  # the base class dispatches on the recorded name
        assert type(back) is spec.config_class and back == config


def test_from_dict_refuses_another_methods_config():
    with pytest.raises(ValueError, match="is a 'qrnca' configuration"):
        NeuronLLMConfig.from_dict({"method": "qrnca", "t": 0.2})
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        MethodConfig.from_dict({"method": "nope"})


def test_options_are_checked_against_the_methods_fields():
    assert method_config("neuronllm", attribution="integrated_gradients", ig_steps=4).ig_steps == 4
    with pytest.raises(ValueError, match=r"no option\(s\) \['v'\]"):
        method_config("neuronllm", v=3)
    with pytest.raises(ValueError, match="attribution='grad_x_act'"):
        get_method("grad_x_act")
    with pytest.raises(ValueError, match="unknown attribution"):
        NeuronLLMConfig(attribution="saliency")


def test_identify_reaches_every_method_by_name(model):
    task = tiny_task("cloze").subset(range(4))
    for name in ("neuronllm", "tn", "random"):
        neurons = nl.identify(model, task, method=name, k=5)
        assert neurons.metadata["config"]["method"] == name and len(neurons.good) <= 5
        assert len(neurons.metadata["model_fingerprint"]) == 64 and len(neurons.metadata["task_fingerprint"]) == 64
    qrnca = nl.identify(model, task, method="qrnca", k=5, ig_steps=2, v=4)
    assert qrnca.metadata["config"] == {**method_config("qrnca").to_dict(), "ig_steps": 2, "v": 4}


def test_config_and_options_are_not_both_given(model):
    with pytest.raises(ValueError, match="not both"):
        nl.identify(model, tiny_task("cloze"), config=NeuronLLMConfig(), z=10)


@dataclass(frozen=True)
class MeanActivationConfig(MethodConfig):
    method: ClassVar[str] = "test_mean_grad"
    scale: float = 1.0


def mean_gradient_method(inputs: MethodInputs) -> nl.NeuronSet:
    scores = torch.full((inputs.spec.n_layers, inputs.spec.d_mlp), inputs.config.scale)
    idx = torch.arange(inputs.k)
    return nl.NeuronSet(torch.stack([idx * 0, idx], 1), torch.zeros(0, 2, dtype=torch.long), scores[0, : inputs.k],
                        torch.zeros(0), scores, torch.zeros_like(scores, dtype=torch.bool), inputs.metadata())


def test_a_registered_method_is_reached_by_identify_and_round_trips(model):
    register_method("test_mean_grad", MeanActivationConfig, mean_gradient_method, overwrite=True)
    neurons = nl.identify(model, tiny_task("cloze"), method="test_mean_grad", k=3, scale=2.0)
    assert neurons.good.tolist() == [[0, 0], [0, 1], [0, 2]]
    assert MethodConfig.from_dict(neurons.metadata["config"]) == MeanActivationConfig(scale=2.0)
    with pytest.raises(ValueError, match="registered already"):
        register_method("test_mean_grad", MeanActivationConfig, mean_gradient_method)
    with pytest.raises(ValueError, match="method: ClassVar"):
        register_method("other_name", MeanActivationConfig, mean_gradient_method)


def test_with_defaults_sets_only_the_fields_a_config_has():
    assert NeuronLLMConfig().with_defaults(ig_steps=3, z=10, v=7) == NeuronLLMConfig(ig_steps=3, z=10)
    # a setting the config made itself is not overridden (a comparison's z must not erase a z=0.01 variant)
    assert NeuronLLMConfig(z=0.01).with_defaults(ig_steps=3, z=10) == NeuronLLMConfig(z=0.01, ig_steps=3)
    tn = method_config("tn")
    assert tn.with_defaults(ig_steps=3) == tn and dataclasses.is_dataclass(tn)


def test_checkpoint_is_refused_by_a_method_that_does_not_stream(model, tmp_path):
    with pytest.raises(ValueError, match="does not stream"):
        nl.identify(model, tiny_task("cloze"), method="tn", k=3, checkpoint=tmp_path / "x.ckpt")
