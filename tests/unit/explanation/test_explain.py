"""explain against independent computations: the direct path from the weights, activations from
run_with_cache one question at a time, exact ablation and gradient x activation from the reference loops."""

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.explanation import explain
from neuronllm_tl.explanation.explain import set_objective
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.encoding import QuestionEncoder, option_scores
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.testing import TINY_TEMPLATE, tiny_hf_llama, tiny_hooked_transformer, tiny_model, tiny_task
from neuronllm_tl.testing.reference import ablation_reference, grad_x_act_reference
from tests.conftest import hook_count

GOOD, BAD = [(2, 5), (1, 3)], [(0, 7), (2, 40)]
SENTIMENT = [
    ("the movie was great .", 0),
    ("the food was awful .", 1),
    ("this book is good .", 0),
    ("that song was poor .", 1),
    ("the song is fine .", 0),
    ("the movie was bad .", 1),
]


def neuron_set(model, good=GOOD, bad=BAD):
    """A hand-made set (the explanation does not depend on how the neurons were found)."""
    cfg = model.cfg
    scores = torch.randn(cfg.n_layers, cfg.d_mlp, generator=torch.Generator().manual_seed(0))
    good_t = torch.tensor(good, dtype=torch.long).view(-1, 2)
    bad_t = torch.tensor(bad, dtype=torch.long).view(-1, 2)
    return NeuronSet(
        good=good_t,
        bad=bad_t,
        good_scores=scores[good_t[:, 0], good_t[:, 1]],
        bad_scores=scores[bad_t[:, 0], bad_t[:, 1]],
        scores=scores,
        ambiguous=torch.zeros(cfg.n_layers, cfg.d_mlp, dtype=torch.bool),
        metadata={"hook": "mlp.hook_post"},
    )


def sentiment_task(answer_format="cloze"):
    examples = [{"question": q, "options": ["positive", "negative"], "answer": a} for q, a in SENTIMENT]
    return Task.from_examples(examples, name="tiny-sentiment", answer_format=answer_format, template=TINY_TEMPLATE)


def loop(model, task):
    """Per question, one run_with_cache: answer-position activations [layer, d_mlp], final-norm scale, answer."""
    encoder = QuestionEncoder(model, task)
    out = []
    for q in task.questions():
        enc = encoder.encode([q])
        logits, cache = model.run_with_cache(enc.tokens, attention_mask=enc.attention_mask)
        pos = int(enc.answer_pos[0])
        acts = torch.stack([cache[f"blocks.{layer}.mlp.hook_post"][0, pos] for layer in range(model.cfg.n_layers)])
        right = int(option_scores(logits, enc).argmax(-1)[0]) == q.correct
        out.append((q, acts.double(), float(cache["ln_final.hook_scale"][0, pos, 0]), right))
    return out


def first_token(model, task, option):
    prefix = " " if task.answer_format == "cloze" else ""
    return model.tokenizer(prefix + option, add_special_tokens=False)["input_ids"][0]


@pytest.fixture(scope="module")
def explained(model64):
    task = tiny_task("cloze")
    neurons = neuron_set(model64)
    return task, neurons, explain(model64, neurons, task, with_ablation=True, top_tokens=4, top_examples=3)


def direct_logits(model, layer, index, mean_act, scale):
    """a * (W_out[l, i] * w_lnf / scale) @ W_U, written from the weights."""
    with torch.no_grad():
        row = model.W_out[layer, index].double() * model.ln_final.w.double() / scale
        return mean_act * (row @ model.W_U.double())


def test_option_effects_and_vocabulary_equal_the_weights(model64, explained):
    task, neurons, ex = explained
    rows = loop(model64, task)
    scale = sum(r[2] for r in rows) / len(rows)
    for r in ex.rows:
        mean_act = float(torch.stack([acts[r.layer, r.index] for _, acts, _, _ in rows]).mean())
        expected = direct_logits(model64, r.layer, r.index, mean_act, scale)
        options = {e["option"]: e["logit"] for e in r.option_effects}
        assert set(options) == {o for q in task.questions() for o in q.options}
        for option, logit in options.items():
            assert logit == pytest.approx(float(expected[first_token(model64, task, option)]), rel=1e-9, abs=1e-12)
        assert [e["logit"] for e in r.option_effects] == sorted(options.values(), reverse=True)
        top = expected.topk(4)
        assert [p["logit"] for p in r.promoted] == pytest.approx(top.values.tolist(), rel=1e-9)
        assert [p["token"] for p in r.promoted] == [model64.tokenizer.decode([i]) for i in top.indices.tolist()]
        low = expected.topk(4, largest=False)
        assert [p["logit"] for p in r.suppressed] == pytest.approx(low.values.tolist(), rel=1e-9)


def test_activations_equal_a_run_with_cache_loop(model64, explained):
    task, neurons, ex = explained
    rows = loop(model64, task)
    for r in ex.rows:
        acts = torch.tensor([a[r.layer, r.index] for _, a, _, _ in rows], dtype=torch.float64)
        right = torch.tensor([ok for *_, ok in rows])
        assert r.activation_when_right == pytest.approx(float(acts[right].mean()), rel=1e-9)
        assert r.activation_when_wrong == pytest.approx(float(acts[~right].mean()), rel=1e-9)
        groups = {}  # the tiny template shows the options, so each example has permuted questions
        for (q, *_), a, ok in zip(rows, acts.tolist(), right.tolist(), strict=True):
            groups.setdefault(q.example_index, []).append((a, ok))
        per_example = {e: (sum(a for a, _ in g) / len(g), all(ok for _, ok in g)) for e, g in groups.items()}
        order = sorted(per_example, key=lambda e: -per_example[e][0])
        assert [e["activation"] for e in r.top_examples] == pytest.approx([per_example[e][0] for e in order[:3]])
        assert [e["text"] for e in r.top_examples] == [task.examples[e].question for e in order[:3]]
        assert [e["correct"] for e in r.top_examples] == [per_example[e][1] for e in order[:3]]
        assert [e["activation"] for e in r.bottom_examples] == pytest.approx(
            [per_example[e][0] for e in order[::-1][:3]]
        )
        assert r.activation_by_label == []  # the tiny task mixes label sets: not a classification task


def test_ablation_effect_and_score_spread_equal_the_reference_loops(model64, explained):
    task, neurons, ex = explained
    spec = model_spec(model64)
    enc = QuestionEncoder(model64, task).encode(task.questions())
    for r in ex.rows:
        effects = {}
        for q, question in enumerate(task.questions()):
            e = ablation_reference(model64, spec, enc, question=q, layer=r.layer, neurons=[r.index])[r.index]
            effects.setdefault(question.example_index, []).append(float(e))
        expected = sum(sum(v) / len(v) for v in effects.values()) / len(effects)
        assert r.ablation_effect == pytest.approx(expected, rel=1e-6, abs=1e-9)
        per_example = torch.zeros(len(task), dtype=torch.float64)
        for q, question in enumerate(task.questions()):
            gxa = grad_x_act_reference(model64, spec, enc, question=q, layer=r.layer)[r.index]
            per_example[question.example_index] += float(gxa)
        assert r.score_sd == pytest.approx(float(per_example.std()), rel=1e-5)
        assert r.score == pytest.approx(float(neurons.scores[r.layer, r.index]))
    assert [r.role for r in ex.rows] == ["good", "good", "bad", "bad"]
    assert set_objective(neurons) == "contrastive"


def test_letter_format_averages_permutations_and_reads_letter_tokens(model64):
    task = sentiment_task("letter")
    neurons = neuron_set(model64, good=[(1, 3)], bad=[(2, 40)])
    ex = explain(model64, neurons, task)
    rows = loop(model64, task)
    assert {e["option"] for e in ex.rows[0].option_effects} == {"A", "B"}
    for r in ex.rows:
        by_example = {}
        for q, acts, _, _ in rows:
            by_example.setdefault(q.example_index, []).append(float(acts[r.layer, r.index]))
        means = {e: sum(v) / len(v) for e, v in by_example.items()}
        labels = {
            lab: [means[e] for e, (_, a) in enumerate(SENTIMENT) if a == i]
            for i, lab in enumerate(["positive", "negative"])
        }
        assert [(d["label"], d["n"]) for d in r.activation_by_label] == [("positive", 3), ("negative", 3)]
        for d in r.activation_by_label:
            assert d["mean"] == pytest.approx(sum(labels[d["label"]]) / 3, rel=1e-9)
        assert r.top_examples[0]["activation"] == pytest.approx(max(means.values()), rel=1e-9)
        assert r.ablation_effect is None


def test_explain_removes_its_hooks_after_an_exception(model, monkeypatch):
    import neuronllm_tl.explanation.records as records

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(records, "check_width", boom)
    before = hook_count(model)
    with pytest.raises(RuntimeError, match="boom"):
        explain(model, neuron_set(model), tiny_task("cloze"))
    assert hook_count(model) == before == 0


def test_bad_arguments_say_how_to_fix_them(model):
    task = tiny_task("cloze")
    with pytest.raises(TypeError, match="NeuronSet"):
        explain(model, [(0, 1)], task)
    with pytest.raises(ValueError, match="top_tokens must be an int >= 1"):
        explain(model, neuron_set(model), task, top_tokens=0)
    with pytest.raises(ValueError, match="k >= 1"):
        explain(model, neuron_set(model).top(0), task)


def _hooked():
    try:
        return tiny_hooked_transformer(dtype=torch.float64)
    except ImportError:
        pytest.skip("HookedTransformer needs TransformerLens <= 3.9 (removed in 4.0)")


@pytest.mark.parametrize("kind", ["bridge_native", "bridge_hf_llama", "hooked_transformer"])
def test_direct_effects_on_every_model_class(kind, tmp_path):
    model = {
        "bridge_native": lambda: tiny_model(),
        "bridge_hf_llama": lambda: tiny_hf_llama(str(tmp_path)),
        "hooked_transformer": _hooked,
    }[kind]()
    task = sentiment_task()
    neurons = neuron_set(model, good=[(1, 3)], bad=[(0, 7)])
    ex = explain(model, neurons, task)
    rows = loop(model, task)
    scale = sum(r[2] for r in rows) / len(rows)
    for r in ex.rows:
        mean_act = float(torch.stack([a[r.layer, r.index] for _, a, _, _ in rows]).mean())
        expected = direct_logits(model, r.layer, r.index, mean_act, scale)
        for e in r.option_effects:
            assert e["logit"] == pytest.approx(
                float(expected[first_token(model, task, e["option"])]), rel=1e-4, abs=1e-6
            )
    assert hook_count(model) == 0
    assert nl.explain is explain


def test_explain_leaves_out_the_examples_that_identified_the_set(model):
    """issue #27 item 1: a role measured on the data that chose the neuron is circular."""
    import neuronllm_tl as nl

    task = tiny_task("cloze")
    ident, held = task.split(0.5, seed=0)
    neurons = nl.identify(model, ident, k=2)
    with pytest.raises(ValueError, match="none is held out"):
        explain(model, neurons, ident)
    ex = explain(model, neurons, task)  # the whole task: its identification half is excluded, and said
    assert ex.examples == f"{len(held)} held-out examples; {len(ident)} that identified the set were excluded"
    assert f"({ex.examples})" in ex.to_markdown()
    labelled = explain(model, neurons, ident, held_out="allow")
    assert "NOT held out" in labelled.examples and type(ex).from_dict(labelled.to_dict()).examples == labelled.examples
