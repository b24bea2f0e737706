"""Objectives are callables in one registry; the attribution engine takes a name or a callable alike."""

import gc
import math

import pytest
import torch

from neuronllm_tl.attribution import layer_replay as layer_module
from neuronllm_tl.attribution.estimators import grad_x_act, integrated_gradients, supports_prefix_cache
from neuronllm_tl.models import fast_paths
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring import kv_cache as cache_module
from neuronllm_tl.scoring import objectives
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits
from neuronllm_tl.scoring.objectives import (
    OBJECTIVES,
    OptionScores,
    check_objective,
    get_objective,
    objective_and_scores,
    objective_name,
    register_objective,
)
from neuronllm_tl.testing import tiny_model, tiny_task
from neuronllm_tl.testing.reference import grad_x_act_reference, integrated_gradients_reference

INF = float("inf")
RAW = torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, -INF], [-0.2, 0.7, 0.1]])
VOCAB = torch.tensor([[-3.0, -2.0, -4.0], [-1.5, -2.5, -INF], [-6.0, -5.0, -5.5]])
CORRECT = torch.tensor([1, 0, 2])


def _fixed_scores() -> OptionScores:
    return OptionScores(RAW, CORRECT, vocab_logprobs=VOCAB)


def _expected(name: str, q: int) -> float:
    s = [x for x in RAW[q].tolist() if x != -INF]
    c = int(CORRECT[q])
    return {
        "contrastive": s[c] - math.log(sum(math.exp(x) for x in s)),
        "vocab_prob": math.exp(float(VOCAB[q, c])),
        "vocab_logprob": float(VOCAB[q, c]),
        "margin": s[c] - max(x for j, x in enumerate(s) if j != c),
    }[name]


@pytest.mark.parametrize("name", ["contrastive", "vocab_prob", "vocab_logprob", "margin"])
def test_builtin_objectives_match_their_formulas(name):
    f = get_objective(name)(_fixed_scores())
    assert f.shape == (3,)
    for q in range(3):
        assert float(f[q]) == pytest.approx(_expected(name, q), rel=1e-6)


def test_builtins_are_registered_and_names_are_a_live_read_only_view(custom):
    assert {"contrastive", "vocab_prob", "vocab_logprob", "margin", custom} <= set(OBJECTIVES)
    assert custom in OBJECTIVES
    assert not hasattr(OBJECTIVES, "append") and not hasattr(OBJECTIVES, "__setitem__")


@pytest.mark.parametrize("answer_format", ["letter", "cloze"])
def test_vocabulary_log_probs_are_computed_only_when_read(model, answer_format, monkeypatch):
    task = tiny_task(answer_format)
    enc = QuestionEncoder(model, task).encode(task.questions()[:4])
    with torch.no_grad():
        logits = forward_logits(model, enc)
    calls = []
    real = objectives.option_scores
    monkeypatch.setattr(objectives, "option_scores", lambda *a, **k: calls.append(k) or real(*a, **k))
    objective_and_scores(logits, enc, "contrastive")
    assert calls == [{}]
    calls.clear()
    f, raw = objective_and_scores(logits, enc, "vocab_logprob")
    assert calls == ([{}, {"vocab_normalized": True}] if answer_format == "letter" else [{}])
    if answer_format == "cloze":  # cloze scores already are vocabulary log-likelihoods
        torch.testing.assert_close(f, raw.gather(-1, enc.correct[:, None]).squeeze(-1))


def test_option_scores_without_vocabulary_log_probs_say_how_to_get_them():
    scores = OptionScores(RAW, CORRECT)
    torch.testing.assert_close(get_objective("margin")(scores), get_objective("margin")(_fixed_scores()))
    with pytest.raises(ValueError, match="from_logits"):
        get_objective("vocab_prob")(scores)


def correct_minus_mean(scores: OptionScores) -> torch.Tensor:
    """A custom objective: the correct option's score minus the mean of the question's options."""
    s = scores.raw.masked_fill(scores.raw.isinf(), float("nan"))
    return s.gather(-1, scores.correct[:, None]).squeeze(-1) - s.nanmean(-1)


@pytest.fixture
def custom():
    name = "test-correct-minus-mean"
    assert register_objective(name, correct_minus_mean) is correct_minus_mean
    yield name
    objectives.unregister_objective(name)


@pytest.mark.parametrize("answer_format", ["letter", "cloze"])
def test_a_registered_objective_flows_through_both_methods_and_equals_the_loop(model, answer_format, custom):
    task = tiny_task(answer_format)
    spec = model_spec(model)
    enc = QuestionEncoder(model, task).encode(task.questions()[:4])
    gxa = grad_x_act(model, spec, enc, objective=custom)
    ig = integrated_gradients(model, spec, enc, steps=3, max_rows=7, objective=custom)
    for q in range(enc.n_questions):
        for layer in range(spec.n_layers):
            ref = grad_x_act_reference(model, spec, enc, question=q, layer=layer, objective=custom)
            torch.testing.assert_close(gxa.attributions[q, layer], ref, rtol=1e-4, atol=1e-6)
            ref = integrated_gradients_reference(model, spec, enc, question=q, layer=layer, steps=3, objective=custom)
            torch.testing.assert_close(ig.attributions[q, layer], ref, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gxa.objective, correct_minus_mean(OptionScores(gxa.scores, enc.correct)))
    assert gxa.attributions.abs().sum() > 0
    unregistered = grad_x_act(model, spec, enc, objective=correct_minus_mean)  # a callable needs no name
    torch.testing.assert_close(unregistered.attributions, gxa.attributions)


def test_a_name_is_registered_once_unless_overwritten(custom):
    register_objective(custom, correct_minus_mean)  # the same function again: a no-op
    with pytest.raises(ValueError, match="overwrite=True"):
        register_objective(custom, get_objective("margin"))
    register_objective(custom, get_objective("margin"), overwrite=True)
    assert get_objective(custom) is get_objective("margin")
    with pytest.raises(TypeError, match="callable"):
        register_objective("not-callable", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        register_objective("", correct_minus_mean)


def test_unknown_objective_lists_the_registered_names(custom):
    with pytest.raises(ValueError, match="unknown objective 'contrastiv'") as err:
        check_objective("contrastiv")
    for name in ("contrastive", "vocab_prob", "vocab_logprob", "margin", custom):
        assert name in str(err.value)
    assert "register_objective" in str(err.value)
    with pytest.raises(TypeError, match="registered name or a callable"):
        get_objective(3)  # type: ignore[arg-type]
    assert get_objective(correct_minus_mean) is correct_minus_mean
    assert objective_name(get_objective(custom)) == custom
    assert objective_name(correct_minus_mean) == custom  # a registered callable goes by its name

    def unregistered(scores):
        return scores.raw[:, 0]

    assert objective_name(unregistered) == "unregistered"


def test_an_objective_must_return_one_value_per_question(model, task):
    enc = QuestionEncoder(model, task).encode(task.questions()[:3])
    with torch.no_grad():
        logits = forward_logits(model, enc)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        objective_and_scores(logits, enc, lambda scores: scores.raw.sum())


def test_supports_prefix_cache_writes_nothing_onto_the_model_and_forgets_it_with_the_model():
    model = tiny_model()
    before = dict(vars(model))
    assert supports_prefix_cache(model) is False  # a native bridge returns (logits, None)
    assert supports_prefix_cache(model) is False
    assert "key/value cache" in layer_module.layer_replay_problem(model)
    assert vars(model).keys() == before.keys()
    assert all(vars(model)[k] is v for k, v in before.items())
    tables = (cache_module._PREFIX_CACHE_SUPPORT, layer_module._STRUCTURE, fast_paths._STATUSES)
    assert all(model in table for table in tables)
    gc.collect()  # models of earlier tests that are already unreachable leave now, not in the count below
    sizes = [len(table) for table in tables]
    del model
    gc.collect()
    assert [len(table) for table in tables] == [n - 1 for n in sizes]


class _Toy(torch.nn.Module):
    """A model whose forward raises ``error`` (or returns no cache) for return_type='logits_and_cache'."""

    def __init__(self, error: type[Exception] | None = None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.error, self.calls = error, 0

    def forward(self, tokens, return_type="logits", **kwargs):
        self.calls += 1
        if self.error is not None:
            raise self.error(f"Invalid return_type: {return_type}")
        return torch.zeros(1), None


class _ToyHooked(_Toy):
    """HookedTransformer's forward: no past_key_values, no **kwargs."""

    def forward(self, tokens, return_type="logits", past_kv_cache=None):
        self.calls += 1


def test_supports_prefix_cache_catches_only_an_unknown_return_type():
    refuses = _Toy(ValueError)  # a TransformerBridge before TL 4
    assert supports_prefix_cache(refuses) is False and refuses.calls == 1
    assert supports_prefix_cache(refuses) is False and refuses.calls == 1  # remembered
    hooked = _ToyHooked()
    assert supports_prefix_cache(hooked) is False and hooked.calls == 0
    assert supports_prefix_cache(_Toy()) is False  # a native TL 4 bridge: (logits, None)
    broken = _Toy(RuntimeError)  # a real failure is not taken for "no cache"
    with pytest.raises(RuntimeError):
        supports_prefix_cache(broken)
