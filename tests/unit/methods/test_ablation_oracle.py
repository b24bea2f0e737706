"""method="ablation_oracle": the exact top-K good and bottom-K bad neurons by mean effect, end to end."""

import json

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.attribution.collect import check_attributions, collect_attributions
from neuronllm_tl.attribution.stream import AttributionRequest
from neuronllm_tl.methods.ablation_oracle import AblationConfig
from neuronllm_tl.testing import tiny_task


def _task():
    return tiny_task("letter", n_permutations=2)  # 24 questions, two per example


def test_identify_returns_the_exact_top_and_bottom_k(model, tmp_path):
    task = _task()
    neurons = nl.identify(model, task, method="ablation_oracle", k=5)
    attr = collect_attributions(model, task, AttributionRequest("ablation"))
    effect = torch.stack([attr.attributions[attr.example_index == e].double().mean(0) for e in range(12)]).mean(0)
    order = effect.flatten().argsort(descending=True)
    top, bottom = order[:5], order.flip(0)[:5]
    assert (effect.flatten()[top] > 0).all() and (effect.flatten()[bottom] < 0).all()
    assert neurons.good.tolist() == [[i // 48, i % 48] for i in top.tolist()]
    assert neurons.bad.tolist() == [[i // 48, i % 48] for i in bottom.tolist()]
    torch.testing.assert_close(neurons.scores, effect.float())
    torch.testing.assert_close(neurons.good_scores, effect.flatten()[top].float())
    assert not neurons.ambiguous.any()
    assert neurons.metadata["identification"]["n_questions"] == 24
    loaded = nl.NeuronSet.load(neurons.save(tmp_path / "truth"), model=model)
    assert nl.MethodConfig.from_dict(loaded.metadata["config"]) == AblationConfig()
    again = nl.identify(model, task, method="ablation_oracle", k=5, attributions=attr)  # shared attributions, same set
    assert again.good.tolist() == neurons.good.tolist()


def test_candidates_and_mean_baseline_bound_the_sets(model):
    candidates = [(0, 1), (0, 2), (1, 5), (2, 7), (2, 30), (1, 40)]
    neurons = nl.identify(model, _task(), method="ablation_oracle", k=10, baseline="mean", candidates=candidates)
    chosen = neurons.good.tolist() + neurons.bad.tolist()
    assert chosen and all(tuple(n) in candidates for n in chosen)
    assert len(chosen) <= len(candidates)
    assert (neurons.scores != 0).sum() <= len(candidates)
    config = neurons.metadata["config"]
    assert config["baseline"] == "mean" and config["candidates"] == tuple(sorted(candidates))


def test_config_candidates_round_trip_through_json_and_text():
    config = AblationConfig(candidates="1:2,0:3", baseline="mean", selection="per_layer")
    assert config == AblationConfig(candidates=[[0, 3], [1, 2]], baseline="mean", selection="per_layer")
    assert nl.MethodConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.attribution_request().to_dict() == {
        "method": "ablation",
        "objective": "contrastive",
        "hook": "mlp.hook_post",
        "ablation_baseline": "mean",
        "ablation_candidates": [[0, 3], [1, 2]],
    }
    with pytest.raises(ValueError, match="ablation_baseline"):
        AblationConfig(baseline="median")
    with pytest.raises(ValueError, match="selection"):
        AblationConfig(selection="layers")


def test_requests_carry_ablation_fields_only_for_ablation(model):
    for method in ("grad_x_act", "integrated_gradients"):
        assert not any(key.startswith("ablation") for key in AttributionRequest(method).to_dict())
    assert AttributionRequest("ablation").to_dict()["ablation_baseline"] == "zero"
    assert "ig_steps" not in AttributionRequest("ablation").to_dict()
    task = tiny_task("letter", n_permutations=1)
    zero = collect_attributions(model, task, AttributionRequest("ablation", ablation_candidates=[(0, 1)]))
    with pytest.raises(ValueError, match="ablation_baseline='zero'"):
        check_attributions(
            zero, AttributionRequest("ablation", ablation_baseline="mean", ablation_candidates=[(0, 1)]), "x"
        )


def test_neuronllm_can_run_cni_on_exact_effects(model):
    task = tiny_task("letter", n_permutations=1)
    neurons = nl.identify(model, task, method="neuronllm", attribution="ablation", k=4)
    assert len(neurons.good) == 4 and (neurons.good_scores > 0).all()
    assert neurons.metadata["config"]["attribution"] == "ablation"


def test_the_old_names_still_work_for_one_release_with_a_warning(model):
    """issue #26 item 5: the oracle method was "ablation", and an AttributionRequest's estimator was ``method``."""
    task = tiny_task("letter", n_permutations=1)
    candidates = [(0, 1), (1, 2), (2, 3)]
    new = nl.identify(model, task, method="ablation_oracle", k=1, candidates=candidates)
    with pytest.warns(FutureWarning, match="method 'ablation' is now 'ablation_oracle'"):
        old = nl.identify(model, task, method="ablation", k=1, candidates=candidates)
    assert old.metadata["config"]["method"] == "ablation_oracle" and old.good.tolist() == new.good.tolist()
    saved = {**AblationConfig().to_dict(), "method": "ablation"}  # a config saved before the rename: read silently
    assert nl.MethodConfig.from_dict(saved) == AblationConfig()
    with pytest.warns(FutureWarning, match=r"AttributionRequest\(method=...\) is now AttributionRequest\(estimator="):
        request = AttributionRequest(method="integrated_gradients", ig_steps=2)
    assert request == AttributionRequest(estimator="integrated_gradients", ig_steps=2)
    assert request.to_dict()["method"] == "integrated_gradients"  # the cache keys of earlier runs still match
    with pytest.raises(ValueError, match="give estimator= only"):
        AttributionRequest(estimator="ablation", method="integrated_gradients")
