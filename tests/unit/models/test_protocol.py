"""The model protocol (both TransformerLens model classes match it), the model fingerprint and the version."""

import importlib.metadata
import inspect

import pytest
import torch

from neuronllm_tl.models import fingerprint as fingerprint_module
from neuronllm_tl.models.fingerprint import model_fingerprint
from neuronllm_tl.models.protocol import HookedModel, ModelConfig
from neuronllm_tl.testing import tiny_hooked_transformer, tiny_model

MODEL_MEMBERS = (
    "cfg",
    "hook_dict",
    "tokenizer",
    "training",
    "hooks",
    "run_with_hooks",
    "to_tokens",
    "parameters",
    "named_parameters",
    "forward",
    "__call__",
)
CONFIG_MEMBERS = ("n_layers", "d_mlp", "d_model", "d_vocab", "n_ctx", "model_name", "default_prepend_bos", "device")


def _hooked_transformer():
    try:
        return tiny_hooked_transformer()
    except ImportError:
        pytest.skip("HookedTransformer needs TransformerLens <= 3.9 (removed in 4.0)")


@pytest.fixture(params=["bridge", "hooked_transformer"])
def any_model(request):
    return tiny_model() if request.param == "bridge" else _hooked_transformer()


def _attribute_names(model: torch.nn.Module) -> list[set[str]]:
    return [set(vars(module)) for module in model.modules()]


def test_every_model_class_is_a_hooked_model(any_model):
    assert isinstance(any_model, HookedModel)
    assert isinstance(any_model.cfg, ModelConfig)
    # Python >= 3.12 checks protocols with inspect.getattr_static: the members must exist without __getattr__.
    for name in MODEL_MEMBERS:
        inspect.getattr_static(any_model, name)
    for name in CONFIG_MEMBERS:
        inspect.getattr_static(any_model.cfg, name)
    assert any_model.cfg.d_mlp == 48 and any_model.cfg.n_layers == 3


def test_protocols_list_the_members_the_package_uses():
    members = {name for name in vars(HookedModel) if not name.startswith("_")} | {"__call__"}
    assert members == set(MODEL_MEMBERS)
    assert {name for name in vars(ModelConfig) if not name.startswith("_")} == set(CONFIG_MEMBERS)


def test_a_plain_module_is_not_a_hooked_model():
    assert not isinstance(torch.nn.Linear(2, 2), HookedModel)
    assert not isinstance(object(), ModelConfig)


def test_fingerprint_is_stable_and_content_keyed(any_model):
    key = model_fingerprint(any_model)
    assert len(key) == 64 and int(key, 16) >= 0
    assert model_fingerprint(any_model) == key
    assert model_fingerprint(any_model, recompute=True) == key


def test_same_weights_give_the_same_fingerprint_other_seeds_another():
    assert model_fingerprint(tiny_model()) == model_fingerprint(tiny_model())
    assert model_fingerprint(tiny_model(seed=1)) != model_fingerprint(tiny_model())


def test_fingerprint_changes_after_an_in_place_weight_edit(any_model):
    key = model_fingerprint(any_model)
    param = list(any_model.parameters())[-1]
    with torch.no_grad():
        param.add_(1)
    edited = model_fingerprint(any_model)
    assert edited != key
    with torch.no_grad():
        param.data = param.data.clone()  # same values, new storage: recomputed, same key
    assert model_fingerprint(any_model) == edited


def test_fingerprint_is_memoised_until_a_parameter_changes(monkeypatch):
    model = tiny_model()
    calls = []
    compute = fingerprint_module._compute
    monkeypatch.setattr(fingerprint_module, "_compute", lambda m: calls.append(1) or compute(m))
    first = model_fingerprint(model)
    assert model_fingerprint(model) == first and len(calls) == 1
    with torch.no_grad():
        next(model.parameters()).mul_(2)
    assert model_fingerprint(model) != first and len(calls) == 2


def test_an_edit_through_data_needs_recompute():
    model = tiny_model()
    key = model_fingerprint(model)
    next(model.parameters()).data.add_(1)  # bypasses PyTorch's version counter
    assert model_fingerprint(model) == key
    assert model_fingerprint(model, recompute=True) != key


def test_fingerprint_of_half_precision_weights():
    fp32 = model_fingerprint(tiny_model())
    bf16, fp16 = model_fingerprint(tiny_model(dtype=torch.bfloat16)), model_fingerprint(tiny_model(dtype=torch.float16))
    assert len({fp32, bf16, fp16}) == 3


def test_fingerprint_writes_nothing_onto_the_model(any_model):
    before = _attribute_names(any_model)
    model_fingerprint(any_model)
    assert _attribute_names(any_model) == before


def test_version_comes_from_the_package_metadata():
    from neuronllm_tl.version import __version__

    assert __version__ == importlib.metadata.version("neuronllm_tl")


def test_fingerprint_of_a_model_that_is_not_weak_referenceable():
    class SlottedModel:
        __slots__ = ("inner", "cfg")

        def __init__(self, inner):
            self.inner, self.cfg = inner, inner.cfg

        def parameters(self):
            return self.inner.parameters()

        def named_parameters(self):
            return self.inner.named_parameters()

    inner = tiny_model()
    assert model_fingerprint(SlottedModel(inner)) == model_fingerprint(SlottedModel(inner))
