"""Steering changes exactly the chosen neurons at the chosen positions, and never leaks hooks."""

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.neurons.neuron_set import NeuronSet
from tests.conftest import hook_count


def one_layer_set(layer=1, good=(3, 7), bad=(5,), n_layers=3, d_mlp=48):
    g = torch.tensor([[layer, i] for i in good])
    b = torch.tensor([[layer, i] for i in bad])
    return NeuronSet(
        good=g,
        bad=b,
        good_scores=torch.ones(len(g)),
        bad_scores=-torch.ones(len(b)),
        scores=torch.zeros(n_layers, d_mlp),
        ambiguous=torch.zeros(n_layers, d_mlp, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )


def record(model, tokens, layer, hooks=()):
    store = {}

    def save(act, hook):
        store["a"] = act.detach().clone()

    model.run_with_hooks(tokens, fwd_hooks=[*hooks, (f"blocks.{layer}.mlp.hook_post", save)])
    return store["a"]


TOKENS = torch.tensor([[2, 8, 11, 15, 21, 18, 27], [2, 9, 12, 16, 20, 19, 28]])


@pytest.mark.parametrize("positions", ["answer", "all", torch.tensor([3, 5])])
@pytest.mark.parametrize("mode, g, b", [("enhance", 2.0, 0.0), ("degrade", 0.0, 2.0), ("excite_good", 2.0, 1.0)])
def test_only_chosen_neurons_at_chosen_positions_change(model, positions, mode, g, b):
    neurons = one_layer_set()
    base = record(model, TOKENS, 1)
    steered = record(model, TOKENS, 1, nl.steering_hooks(model, neurons, mode=mode, positions=positions))
    expected = base.clone()
    if isinstance(positions, str) and positions == "all":
        where = (slice(None), slice(None))
    elif isinstance(positions, str):  # "answer" on a raw model call: the last position of each row
        where = (slice(None), slice(-1, None))
    else:
        where = (torch.arange(2), positions)
    for idx, factor in (([3, 7], g), ([5], b)):
        sub = expected[where]
        sub[..., idx] = sub[..., idx] * factor
        expected[where] = sub
    torch.testing.assert_close(steered, expected)
    assert (steered != base).any()
    # earlier layers are untouched
    torch.testing.assert_close(
        record(model, TOKENS, 0, nl.steering_hooks(model, neurons, mode=mode)), record(model, TOKENS, 0)
    )


def test_context_manager_composes_with_tl_calls_and_cleans_up(model):
    neurons = one_layer_set()
    before = hook_count(model)
    plain = model(TOKENS)
    with nl.steer(model, neurons, mode="degrade") as m:
        assert m is model
        steered = model(TOKENS)
        logits, cache = model.run_with_cache(TOKENS)
        hooked = model.run_with_hooks(TOKENS, fwd_hooks=[])
    assert hook_count(model) == before
    assert not torch.allclose(steered, plain)
    torch.testing.assert_close(logits, steered)
    torch.testing.assert_close(hooked, steered)
    torch.testing.assert_close(model(TOKENS), plain)
    a = cache["blocks.1.mlp.hook_post"]
    assert (a[:, -1, [3, 7]] == 0).all()


def test_generate_under_steering(model):
    neurons = one_layer_set()
    before = hook_count(model)
    plain = model.generate(TOKENS[:1], max_new_tokens=4, do_sample=False, verbose=False)
    with nl.steer(model, neurons, factors={"good": 0.0, "bad": 0.0}, positions="all"):
        out = model.generate(TOKENS[:1], max_new_tokens=4, do_sample=False, verbose=False)
        calls = []
        with model.hooks(
            fwd_hooks=[("blocks.1.mlp.hook_post", lambda a, hook: calls.append(a[..., [3, 5, 7]].abs().max()))]
        ):
            model.generate(TOKENS[:1], max_new_tokens=2, do_sample=False, verbose=False)
    assert out.shape[-1] == TOKENS.shape[1] + 4 and plain.shape == out.shape
    assert calls and all(float(c) == 0.0 for c in calls), "steering must act on every generation step"
    assert hook_count(model) == before


def test_no_hook_leaks_after_an_exception(model):
    neurons = one_layer_set()
    before = hook_count(model)
    with pytest.raises(RuntimeError, match="boom"):
        with nl.steer(model, neurons, mode="enhance"):
            model(TOKENS)
            raise RuntimeError("boom")
    assert hook_count(model) == before

    def failing(act, hook):
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        model.run_with_hooks(
            TOKENS, fwd_hooks=[*nl.steering_hooks(model, neurons), ("blocks.2.mlp.hook_post", failing)]
        )
    assert hook_count(model) == before


def test_no_hook_leaks_when_identification_fails(model):
    """An error raised inside the attribution hooks (here NaN weights) leaves no hook behind."""
    from neuronllm_tl.testing import tiny_model, tiny_task

    broken = tiny_model()
    broken(TOKENS)
    before = hook_count(broken)
    with torch.no_grad():
        next(p for n, p in broken.named_parameters() if "mlp" in n).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN"):
        nl.identify(broken, tiny_task("cloze"), k=3)
    assert hook_count(broken) == before
    with pytest.raises(FloatingPointError, match="NaN"):
        nl.evaluate(broken, tiny_task("cloze"), one_layer_set(), controls=1)
    assert hook_count(broken) == before


def test_explicit_factors_and_bad_modes(model):
    neurons = one_layer_set()
    base = record(model, TOKENS, 1)
    steered = record(model, TOKENS, 1, nl.steering_hooks(model, neurons, factors={"good": 0.5}, positions="all"))
    torch.testing.assert_close(steered[..., 3], base[..., 3] * 0.5)
    torch.testing.assert_close(steered[..., 5], base[..., 5])
    with pytest.raises(ValueError, match="unknown steering mode"):
        nl.steering_hooks(model, neurons, mode="boost")
    with pytest.raises(ValueError, match="keys 'good' and 'bad'"):
        nl.steering_hooks(model, neurons, factors={"neutral": 2.0})
    with pytest.raises(ValueError, match="positions must be 'answer', 'all'"):
        nl.steering_hooks(model, neurons, positions="first")
    with pytest.raises(ValueError, match="use positions='answer'"):
        nl.steering_hooks(model, neurons, positions="last")


def test_steering_positions_tensor_must_match_batch(model):
    hooks = nl.steering_hooks(model, one_layer_set(), positions=torch.tensor([1, 2, 3]))
    before = hook_count(model)
    with pytest.raises(ValueError, match="3 positions given for a batch of 2"):
        model.run_with_hooks(TOKENS, fwd_hooks=hooks)
    assert hook_count(model) == before
