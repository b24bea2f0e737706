"""The one steering value: the mode table, Steering (hooks, save/load), and score_task / evaluate built on it."""

import pytest
import torch

from neuronllm_tl.evaluation.evaluate import evaluate
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.encoding import QuestionEncoder, option_scores
from neuronllm_tl.steering import MODES, Mode, Steering, get_mode, mode_groups, register_mode, steer, steering_hooks
from neuronllm_tl.steering import modes as modes_module
from tests.conftest import hook_count

TOKENS = torch.tensor([[2, 8, 11, 15, 21, 18, 27], [2, 9, 12, 16, 20, 19, 28]])
HOOK = "blocks.{}.mlp.hook_post"


def two_layer_set(n_layers=3, d_mlp=48):
    good = torch.tensor([[1, 3], [1, 7], [2, 10]])
    bad = torch.tensor([[1, 5], [2, 11], [2, 40]])
    return NeuronSet(
        good=good,
        bad=bad,
        good_scores=torch.ones(3),
        bad_scores=-torch.ones(3),
        scores=torch.zeros(n_layers, d_mlp),
        ambiguous=torch.zeros(n_layers, d_mlp, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )


@pytest.fixture
def restore_modes():
    """Custom modes registered by a test are removed after it."""
    saved = set(modes_module.MODES)
    yield
    for name in set(modes_module.MODES) - saved:
        modes_module.unregister_mode(name)


def hand_hooks(neurons, factors, positions):
    """The expected steering, written out: multiply the chosen neurons at ``positions``
    (``"last"``: the last position of each row, ``"all"``, or a tensor of one position per row)."""
    hooks = []
    for layer in range(neurons.n_layers):
        mult = torch.ones(neurons.d_mlp)
        for group, factor in factors.items():
            for at, i in getattr(neurons, group).tolist():
                if at == layer:
                    mult[i] = factor
        if (mult == 1).all():
            continue

        def hook(act, hook, mult=mult):
            if isinstance(positions, str) and positions == "all":
                return act * mult
            out = act.clone()
            rows = torch.arange(act.shape[0])
            pos = torch.full((act.shape[0],), act.shape[1] - 1) if isinstance(positions, str) else positions
            out[rows, pos] = act[rows, pos] * mult
            return out

        hooks.append((HOOK.format(layer), hook))
    return hooks


def record(model, tokens, layer, hooks=()):
    store = {}

    def save(act, hook):
        store["a"] = act.detach().clone()

    model.run_with_hooks(tokens, fwd_hooks=[*hooks, (HOOK.format(layer), save)])
    return store["a"]


def hand_scores(model, task, neurons, factors, positions):
    """p(option) of every question with a hand-written hook at each row's answer position (or all)."""
    enc = QuestionEncoder(model, task).encode(task.questions())
    hooks = hand_hooks(neurons, factors, enc.answer_pos if positions == "answer" else "all")
    with torch.no_grad():
        logits = model.run_with_hooks(enc.tokens, attention_mask=enc.attention_mask, fwd_hooks=hooks)
    return option_scores(logits, enc).softmax(-1)


# --- the mode table ---------------------------------------------------------------------------------


def test_mode_table_holds_factors_and_expected_signs():
    table = {name: (mode.factors, mode.expected_sign) for name, mode in MODES.items()}
    assert table == {
        "enhance": ({"good": 2.0, "bad": 0.0}, 1),
        "degrade": ({"good": 0.0, "bad": 2.0}, -1),
        "excite_good": ({"good": 2.0}, 1),
        "silence_good": ({"good": 0.0}, -1),
        "excite_bad": ({"bad": 2.0}, -1),
        "silence_bad": ({"bad": 0.0}, 1),
    }
    assert mode_groups("enhance") == {"good", "bad"} and mode_groups("silence_bad") == {"bad"}
    assert MODES["excite_good"].groups == frozenset({"good"})
    with pytest.raises(TypeError):
        MODES["mine"] = Mode({"good": 3.0}, 1)  # read-only: use register_mode


def test_register_mode_validates(restore_modes):
    with pytest.raises(ValueError, match="registered already.*overwrite=True"):
        register_mode("enhance", {"good": 3.0}, expected_sign=1)
    with pytest.raises(ValueError, match="keys 'good' and 'bad'"):
        register_mode("boost", {"neutral": 3.0}, expected_sign=1)
    with pytest.raises(ValueError, match=r"expected_sign must be \+1"):
        register_mode("boost", {"good": 3.0}, expected_sign=0)
    with pytest.raises(ValueError, match="at least one group"):
        register_mode("boost", {}, expected_sign=1)
    with pytest.raises(ValueError, match="finite"):
        register_mode("boost", {"good": float("nan")}, expected_sign=1)
    assert "boost" not in MODES
    register_mode("boost", {"good": 3}, expected_sign=1)
    assert register_mode("boost", {"good": 4.0}, expected_sign=1, overwrite=True) == Mode({"good": 4.0}, 1)
    assert get_mode("boost").factors == {"good": 4.0}
    with pytest.raises(ValueError, match="unknown steering mode 'nope'.*register_mode"):
        get_mode("nope")


def test_registered_mode_drives_steer_and_evaluate(model, restore_modes):
    from neuronllm_tl.testing import tiny_task

    neurons = two_layer_set()
    register_mode("triple_bad", {"bad": 3.0}, expected_sign=-1)
    expected = record(model, TOKENS, 2, hand_hooks(neurons, {"bad": 3.0}, "last"))
    with steer(model, neurons, mode="triple_bad"):
        steered = record(model, TOKENS, 2)
    torch.testing.assert_close(steered, expected)
    task = tiny_task("cloze")
    report = evaluate(model, task, neurons, modes=["triple_bad"], controls=2)
    row = report.row("triple_bad")
    want = hand_scores(model, task, neurons, {"bad": 3.0}, "answer")
    correct = score_task(model, task).correct
    assert row.p_correct == pytest.approx(float(want.gather(-1, correct[:, None]).mean()), abs=1e-6)
    assert report.row("triple_bad", "random").n_sets == 2


# --- Steering --------------------------------------------------------------------------------------


def test_steering_value_from_mode_and_factors():
    neurons = two_layer_set()
    s = Steering.from_mode(neurons, "excite_good")
    assert (s.mode, s.factors, s.positions, s.n_steered) == ("excite_good", {"good": 2.0}, "answer", 3)
    assert Steering(neurons, {"good": 2, "bad": 0}).mode == "enhance"
    custom = Steering(neurons, {"good": 1.5}, "all")
    assert custom.mode is None and custom.n_steered == 3 and Steering(neurons, {"good": 0, "bad": 0}).n_steered == 6
    with pytest.raises(AttributeError):
        s.factors = {"good": 0.0}  # frozen
    with pytest.raises(ValueError, match="mode 'enhance' has factors"):
        Steering(neurons, {"good": 3.0}, mode="enhance")
    with pytest.raises(TypeError, match="needs a NeuronSet"):
        Steering("neurons", {"good": 2.0})


def test_answer_under_steer_is_the_last_position(model):
    neurons = two_layer_set()
    for mode in ("enhance", "degrade"):
        expected = record(model, TOKENS, 2, hand_hooks(neurons, MODES[mode].factors, "last"))
        with steer(model, Steering.from_mode(neurons, mode)):
            via_value = record(model, TOKENS, 2)
        torch.testing.assert_close(via_value, expected)
        torch.testing.assert_close(record(model, TOKENS, 2, steering_hooks(model, neurons, mode=mode)), expected)
    default = record(model, TOKENS, 1, steering_hooks(model, neurons))  # a NeuronSet alone: enhance
    torch.testing.assert_close(default, record(model, TOKENS, 1, hand_hooks(neurons, MODES["enhance"].factors, "last")))


def test_steer_positions_of_a_steering_and_overrides(model):
    neurons = two_layer_set()
    s = Steering(neurons, {"good": 0.5}, "all")
    all_pos = record(model, TOKENS, 1, hand_hooks(neurons, {"good": 0.5}, "all"))
    torch.testing.assert_close(record(model, TOKENS, 1, steering_hooks(model, s)), all_pos)
    rows = torch.tensor([2, 4])
    torch.testing.assert_close(
        record(model, TOKENS, 1, s.hooks(model, positions=rows)),
        record(model, TOKENS, 1, hand_hooks(neurons, {"good": 0.5}, rows)),
    )
    with steer(model, s, positions="answer"):
        last = record(model, TOKENS, 1)
    torch.testing.assert_close(last, record(model, TOKENS, 1, hand_hooks(neurons, {"good": 0.5}, "last")))


@pytest.mark.parametrize("positions", ["answer", "all", torch.tensor([1, 4])])
def test_steering_save_load_round_trip(model, tmp_path, positions):
    s = Steering.from_mode(two_layer_set(), "degrade", positions=positions)
    folder = s.save(tmp_path / "steer")
    assert {p.name for p in folder.iterdir()} >= {"steering.json", "neurons.safetensors", "metadata.json"}
    back = Steering.load(folder, model=model)
    assert (back.mode, back.factors, back.n_steered) == (s.mode, s.factors, s.n_steered)
    if isinstance(positions, str):
        assert back.positions == positions
    else:
        assert torch.equal(back.positions, positions)
    assert torch.equal(back.neurons.good, s.neurons.good) and torch.equal(back.neurons.bad, s.neurons.bad)
    torch.testing.assert_close(record(model, TOKENS, 2, back.hooks(model)), record(model, TOKENS, 2, s.hooks(model)))
    custom = Steering(two_layer_set(), {"bad": 1.25}).save(tmp_path / "custom")
    assert Steering.load(custom).factors == {"bad": 1.25} and Steering.load(custom).mode is None


def test_steering_load_errors(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="not a saved Steering"):
        Steering.load(tmp_path)
    folder = Steering.from_mode(two_layer_set(n_layers=4), "enhance").save(tmp_path / "wide")
    with pytest.raises(ValueError, match="n_layers=4"):
        Steering.load(folder, model=model)


def test_no_hook_leaks_with_a_steering(model):
    before = hook_count(model)
    with pytest.raises(RuntimeError, match="boom"):
        with steer(model, Steering.from_mode(two_layer_set(), "enhance", positions="all")):
            model(TOKENS)
            raise RuntimeError("boom")
    assert hook_count(model) == before
    with pytest.raises(ValueError, match="3 positions given for a batch of 2"):
        with steer(model, two_layer_set(), positions=torch.tensor([1, 2, 3])):
            model(TOKENS)
    assert hook_count(model) == before


# --- score_task and evaluate -----------------------------------------------------------------------


@pytest.mark.parametrize("positions", ["answer", "all"])
@pytest.mark.parametrize("mode", ["enhance", "silence_bad"])
def test_score_task_with_a_steering_matches_hand_written_hooks(model, task, positions, mode):
    neurons = two_layer_set()
    s = score_task(model, task, steering=Steering.from_mode(neurons, mode, positions=positions), batch_size=1000)
    expected = hand_scores(model, task, neurons, MODES[mode].factors, positions)
    torch.testing.assert_close(s.probs[:, : expected.shape[1]], expected)
    base = score_task(model, task, batch_size=1000)
    assert not torch.allclose(s.probs, base.probs)


def test_evaluate_rows_are_steerings_from_the_mode_table(model, task):
    neurons = two_layer_set()
    report = evaluate(model, task, neurons, modes=["degrade"], controls=2, seed=3)
    base = score_task(model, task)
    ident = score_task(model, task, steering=Steering.from_mode(neurons, "degrade"))
    row = report.row("degrade")
    assert (row.accuracy, row.p_correct) == (ident.accuracy, ident.mean_p_correct)
    assert row.delta_p_correct == ident.mean_p_correct - base.mean_p_correct
    randoms = [
        score_task(model, task, steering=Steering.from_mode(neurons.random_like(3 + i), "degrade")) for i in range(2)
    ]
    random_row = report.row("degrade", "random")
    assert random_row.p_correct == pytest.approx(sum(r.mean_p_correct for r in randoms) / 2, abs=1e-12)
    assert report.settings["positions"] == "answer"


def test_bad_positions_and_modes_say_how_to_fix(model, task):
    neurons = two_layer_set()
    for old in ("last", "prompt"):
        with pytest.raises(ValueError, match="use positions='answer'"):
            steering_hooks(model, neurons, positions=old)
        with pytest.raises(ValueError, match="use positions='answer'"):
            Steering.from_mode(neurons, "enhance", positions=old)
        with pytest.raises(ValueError, match="use positions='answer'"):
            evaluate(model, task, neurons, positions=old)
    with pytest.raises(ValueError, match="positions must be 'answer', 'all' or a 1-D integer tensor"):
        Steering(neurons, {"good": 2.0}, "first")
    with pytest.raises(ValueError, match="1-D integer"):
        Steering(neurons, {"good": 2.0}, torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="fits one batch only"):
        score_task(model, task, steering=Steering(neurons, {"good": 2.0}, torch.tensor([1, 2])))
    with pytest.raises(TypeError, match="steering= takes a Steering"):
        score_task(model, task, steering=neurons)
    with pytest.raises(ValueError, match="unknown steering mode 'boost'"):
        evaluate(model, task, neurons, modes=["boost"])
    with pytest.raises(ValueError, match="already carries its factors"):
        steering_hooks(model, Steering.from_mode(neurons, "enhance"), mode="degrade")
    with pytest.raises(ValueError, match="either mode='degrade' or factors"):
        steering_hooks(model, neurons, mode="degrade", factors={"good": 1.0})
    with pytest.raises(TypeError, match="a Steering or a NeuronSet"):
        steering_hooks(model, {"good": [1, 2]})
