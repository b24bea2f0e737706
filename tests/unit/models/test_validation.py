"""Every bad input gets an error that says what to do."""

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.testing import tiny_model, tiny_task


def test_training_mode_is_refused():
    model = tiny_model().train()
    with pytest.raises(ValueError, match=r"training mode.*model\.eval\(\)"):
        nl.identify(model, tiny_task(), k=3)


def test_missing_hook_is_refused(model):
    with pytest.raises(ValueError, match=r"'blocks\.0\.mlp\.hook_nope' does not exist.*hook="):
        nl.identify(model, tiny_task(), k=3, hook="mlp.hook_nope")
    with pytest.raises(ValueError, match="per-block hook suffix"):
        model_spec(model, hook="blocks.0.mlp.hook_post")


def test_hook_whose_width_is_not_d_mlp_is_refused(model):
    """MoE blocks alias hook_post to a d_model-wide tensor; any such hook must fail loudly."""
    with pytest.raises(ValueError, match=r"last dimension is not cfg\.d_mlp=48"):
        nl.identify(model, tiny_task(), k=3, hook="hook_resid_pre")


def test_gated_mlp_up_projection_hook_works(model):
    neurons = nl.identify(model, tiny_task(), k=3, hook="mlp.hook_pre_linear")
    assert neurons.hook == "mlp.hook_pre_linear" and len(neurons.good) == 3


def test_non_tl_model_is_refused():
    with pytest.raises(TypeError, match="TransformerLens model"):
        nl.identify(torch.nn.Linear(2, 2), tiny_task(), k=3)


def test_model_without_tokenizer_is_refused():
    model = tiny_model()
    model.tokenizer = None
    with pytest.raises(ValueError, match="no tokenizer"):
        nl.identify(model, tiny_task(), k=3)


def test_nan_weights_are_reported(model):
    broken = tiny_model()
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN"):
        nl.identify(broken, tiny_task(), k=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "saliency"}, "unknown method"),
        ({"k": 0}, "k must be an int >= 1"),
        ({"z": 0}, "z must be"),
        ({"z": 1.5}, "fraction"),
        ({"selection": "by_head"}, "selection"),
        ({"ig_steps": 0}, "ig_steps"),
    ],
)
def test_bad_options_are_refused(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        nl.identify(model, tiny_task(), **kwargs)


def test_bad_task_options_are_refused():
    with pytest.raises(ValueError, match="answer_format"):
        tiny_task("logits")
    with pytest.raises(ValueError, match="n_permutations"):
        tiny_task("cloze", n_permutations=0)
