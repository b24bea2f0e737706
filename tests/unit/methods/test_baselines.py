"""Each baseline on a tiny model against a direct, loop-based computation of its formula."""

import math

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.attribution.activations import firing_rates
from neuronllm_tl.attribution.collect import TaskAttributions, collect_attributions
from neuronllm_tl.attribution.stream import AttributionRequest, RunOptions
from neuronllm_tl.methods.knowledge_neurons import KnowledgeNeuronsConfig, knowledge_neuron_scores
from neuronllm_tl.methods.lape import lape_specificity
from neuronllm_tl.methods.neuronllm import NeuronLLMConfig, from_attributions
from neuronllm_tl.methods.qrnca import QRNCAConfig, qrnca_scores
from neuronllm_tl.methods.random_neurons import random_neurons
from neuronllm_tl.methods.registry import METHODS, method_config
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits
from neuronllm_tl.scoring.objectives import OBJECTIVES, objective_and_scores
from neuronllm_tl.testing import tiny_task
from neuronllm_tl.testing.reference import grad_x_act_reference, integrated_gradients_reference

# ---------------------------------------------------------------- loop references of the formulas


def loop_reference_attributions(model, task, *, method, objective, steps=2):
    """[question, layer, d_mlp] from one question and one layer at a time (testing/reference.py)."""
    spec = model_spec(model)
    enc = QuestionEncoder(model, task).encode(task.questions())
    rows = []
    for q in range(enc.n_questions):
        per_layer = []
        for layer in range(spec.n_layers):
            if method == "integrated_gradients":
                per_layer.append(integrated_gradients_reference(model, spec, enc, question=q, layer=layer, steps=steps, objective=objective))
            else:
                per_layer.append(grad_x_act_reference(model, spec, enc, question=q, layer=layer, objective=objective))
        rows.append(torch.stack(per_layer))
    return torch.stack(rows)


def neurons_of(t):
    return {(l, n) for l in range(t.shape[0]) for n in range(t.shape[1])}


def qrnca_loop(attr, example_index, t, v, u):
    """QRNCA as the authors' code does it: dictionaries of neurons per query."""
    queries = sorted(set(example_index))
    clusters, na = [], []
    for q in queries:
        raw = {}
        for row, e in enumerate(example_index):
            if e != q:
                continue
            a = attr[row]
            top = max(float(a[l, n]) for l, n in neurons_of(a))
            for l, n in neurons_of(a):
                x = float(a[l, n])
                if x > t * top and x > 0:
                    raw[(l, n)] = raw.get((l, n), 0.0) + x
        total = sum(raw.values())
        na.append({key: x / total for key, x in raw.items()} if total > 0 else {})
        clusters.append(set(na[-1]))
    occurrences = {}
    for c in clusters:
        for key in c:
            occurrences[key] = occurrences.get(key, 0) + 1
    common = {key for key, c in occurrences.items() if c > int(u * len(clusters))}
    per_query = []
    for scores in na:
        naica = {key: x * math.log(len(clusters) / (occurrences[key] + 1)) for key, x in scores.items()}
        ranked = [key for key, x in sorted(naica.items(), key=lambda kv: -kv[1]) if x > 0][:v]
        per_query.append({key for key in ranked if key not in common})
    return per_query, common


def kn_loop(attr, example_index, t, p):
    facts = []
    for q in sorted(set(example_index)):
        counts, n_prompts = {}, 0
        for row, e in enumerate(example_index):
            if e != q:
                continue
            n_prompts += 1
            a = attr[row]
            top = max(float(a[l, n]) for l, n in neurons_of(a))
            for l, n in neurons_of(a):
                if float(a[l, n]) > t * top and float(a[l, n]) > 0:
                    counts[(l, n)] = counts.get((l, n), 0) + 1
        facts.append({key for key, c in counts.items() if c / n_prompts > p})
    return facts


# ---------------------------------------------------------------- objectives and attributions


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_objectives_read_the_right_quantities(model, answer_format, objective):
    task = tiny_task(answer_format)
    enc = QuestionEncoder(model, task).encode(task.questions()[:6])
    with torch.no_grad():
        logits = forward_logits(model, enc)
        f, scores = objective_and_scores(logits, enc, objective)
    for q in range(enc.n_questions):
        n_opt = int(enc.option_mask[q].sum())
        s = [float(scores[q, j]) for j in range(n_opt)]
        c = int(enc.correct[q])
        if answer_format == "letter":
            vocab_logp = logits[q, enc.answer_pos[q]].log_softmax(-1)[enc.letter_ids[q, c]]
        else:
            vocab_logp = torch.tensor(s[c])  # cloze scores are already vocabulary log-likelihoods
        expected = {
            "contrastive": s[c] - math.log(sum(math.exp(x) for x in s)),
            "vocab_prob": math.exp(float(vocab_logp)),
            "vocab_logprob": float(vocab_logp),
            "sequence_logprob": float(vocab_logp),  # the same function: the correct option's text is the reference
            "margin": s[c] - max(x for j, x in enumerate(s) if j != c),
        }[objective]
        assert float(f[q]) == pytest.approx(expected, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("method", ["grad_x_act", "integrated_gradients"])
@pytest.mark.parametrize("objective", ["vocab_prob", "vocab_logprob", "margin"])
def test_batched_attributions_of_every_objective_match_the_loop(model, method, objective):
    task = tiny_task("letter", n_permutations=2).subset(range(3))
    got = collect_attributions(model, task, AttributionRequest(method, objective, ig_steps=2), RunOptions(max_rows=5))
    ref = loop_reference_attributions(model, task, method=method, objective=objective, steps=2)
    torch.testing.assert_close(got.attributions, ref, rtol=1e-3, atol=1e-6)
    assert got.example_index.tolist() == [0, 0, 1, 1, 2, 2]


def test_gated_up_projection_gives_the_same_attributions_as_hook_post(model):
    # hook_post = act(gate) * up is linear in up: a * dF/da and IG agree at both points (see docs/results.md)
    task = tiny_task("cloze").subset(range(4))
    post, up, gate = (collect_attributions(model, task, AttributionRequest(hook=h))
                      for h in ("mlp.hook_post", "mlp.hook_pre_linear", "mlp.hook_pre"))
    torch.testing.assert_close(post.attributions, up.attributions, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(post.attributions, gate.attributions, rtol=1e-2, atol=1e-5)


def test_identify_from_attributions_equals_identify(model):
    task = tiny_task("letter", n_permutations=3)
    direct = nl.identify(model, task, method="neuronllm", attribution="grad_x_act", k=6, z=10)
    attr = collect_attributions(model, task, AttributionRequest("grad_x_act"))
    derived = nl.identify(model, task, k=6, z=10, attributions=attr)
    assert derived.good.tolist() == from_attributions(attr, k=6, config=NeuronLLMConfig(z=10), metadata={}).good.tolist()
    assert derived.good.tolist() == direct.good.tolist() and derived.bad.tolist() == direct.bad.tolist()
    torch.testing.assert_close(derived.scores, direct.scores, rtol=1e-4, atol=1e-8)
    assert derived.metadata["identification"]["accuracy"] == pytest.approx(direct.metadata["identification"]["accuracy"])


def test_task_attributions_round_trip(tmp_path, model):
    attr = collect_attributions(model, tiny_task("cloze").subset(range(3)))
    back = TaskAttributions.load(attr.save(tmp_path / "a.safetensors"))
    torch.testing.assert_close(back.attributions, attr.attributions)
    assert back.example_index.tolist() == attr.example_index.tolist() and back.metadata == attr.metadata


# ---------------------------------------------------------------- the baselines' selection rules


@pytest.fixture(scope="module")
def ig_vocab(model):
    """IG of p(correct) over the vocabulary for 4 examples x 3 permutations, from the loop reference."""
    task = tiny_task("letter", n_permutations=3).subset(range(4))
    ref = loop_reference_attributions(model, task, method="integrated_gradients", objective="vocab_prob", steps=2)
    index = [q.example_index for q in task.questions()]
    request = AttributionRequest("integrated_gradients", "vocab_prob", ig_steps=2)
    return task, TaskAttributions(ref, torch.tensor(index), torch.zeros(len(index)), torch.zeros(len(index), dtype=torch.bool),
                                  {"request": request.to_dict()})


@pytest.mark.parametrize("t,v,u", [(0.2, 20, 0.3), (0.05, 5, 0.5), (0.5, 3, 0.1)])
def test_qrnca_matches_the_loop(ig_vocab, t, v, u):
    _, attr = ig_vocab
    s = qrnca_scores(attr, QRNCAConfig(t=t, v=v, u=u))
    per_query, common = qrnca_loop(attr.attributions, attr.example_index.tolist(), t, v, u)
    for q, expected in enumerate(per_query):
        got = {tuple(x) for x in torch.nonzero(s.query_neurons[q]).tolist()}
        assert got == expected
    assert {tuple(x) for x in torch.nonzero(s.common).tolist()} == common
    share = torch.zeros_like(s.task_share)
    for neurons in per_query:
        for l, n in neurons:
            share[l, n] += 1 / len(per_query)
    torch.testing.assert_close(s.task_share, share)


@pytest.mark.parametrize("t,p", [(0.2, 0.5), (0.1, 0.0), (0.3, 0.7)])
def test_knowledge_neurons_match_the_loop(ig_vocab, t, p):
    _, attr = ig_vocab
    s = knowledge_neuron_scores(attr, KnowledgeNeuronsConfig(t=t, p=p))
    expected = kn_loop(attr.attributions, attr.example_index.tolist(), t, p)
    for q, neurons in enumerate(expected):
        assert {tuple(x) for x in torch.nonzero(s.fact_neurons[q]).tolist()} == neurons


def test_qrnca_and_kn_end_to_end_use_ig_of_the_vocabulary_probability(model, ig_vocab):
    task, ref = ig_vocab
    for name, config in (("qrnca", QRNCAConfig(ig_steps=2, v=5)), ("knowledge_neurons", KnowledgeNeuronsConfig(ig_steps=2))):
        batched = nl.identify(model, task, k=8, config=config)
        from_ref = nl.identify(model, task, k=8, config=config, attributions=ref)
        assert batched.good.tolist() == from_ref.good.tolist()
        assert len(batched.bad) == 0 and batched.metadata["config"]["method"] == name
        # ranked by task share, ties by the secondary score: shares never increase down the list
        shares = batched.scores[batched.good[:, 0], batched.good[:, 1]]
        assert bool((shares[:-1] >= shares[1:]).all())


def test_tn_is_the_mean_absolute_taylor_term_of_the_lm_loss(model):
    task = tiny_task("cloze").subset(range(5))
    neurons = nl.identify(model, task, method="tn", k=10)
    ref = loop_reference_attributions(model, task, method="grad_x_act", objective="vocab_logprob")
    expected = ref.abs().mean(0)
    torch.testing.assert_close(neurons.scores, expected, rtol=1e-3, atol=1e-7)
    top = {(l, n) for l, n in neurons.good.tolist()}
    flat = expected.flatten().topk(10).indices
    assert top == {(int(i) // expected.shape[1], int(i) % expected.shape[1]) for i in flat}


def test_lape_firing_rates_and_entropy_match_the_loop(model):
    spec = model_spec(model)
    tasks = [tiny_task("cloze").subset(range(0, 5)), tiny_task("cloze").subset(range(5, 12))]
    rates = []
    for task in tasks:
        enc = QuestionEncoder(model, task).encode(task.questions())
        fired = torch.zeros(spec.n_layers, spec.d_mlp)
        count = 0
        seen = set()
        for row in range(enc.n_rows):
            q = int(enc.row_question[row])
            if q in seen:  # a cloze question's rows share the prompt: count it once
                continue
            seen.add(q)
            _, cache = model.run_with_cache(enc.tokens[row : row + 1, : int(enc.answer_pos[row]) + 1])
            for layer in range(spec.n_layers):
                fired[layer] += (cache[spec.hook_name(layer)][0] > 0).sum(0).float()
            count += int(enc.answer_pos[row]) + 1
        got, n = firing_rates(model, task)
        assert n == count
        torch.testing.assert_close(got, fired / count)
        rates.append(got)
    rates = torch.stack(rates)
    spec_score, target_rate = lape_specificity(rates, quantile=0.5)
    threshold = torch.quantile(rates.flatten().double(), 0.5)
    for l in range(spec.n_layers):
        for n in range(spec.d_mlp):
            r = [float(rates[i, l, n]) for i in range(2)]
            total = sum(r)
            h = -sum((x / total) * math.log(x / total) for x in r if x > 0) if total > 0 else 0.0
            expected = max(0.0, math.log(2) - h) if r[0] > threshold else 0.0
            assert float(spec_score[l, n]) == pytest.approx(expected, abs=1e-5)
    neurons = nl.identify(model, tasks[0], method="lape", k=5, contrast_tasks=[tasks[1]])
    assert len(neurons.good) <= 5 and len(neurons.bad) == 0


def test_lape_without_contrast_tasks_says_what_to_pass(model):
    with pytest.raises(ValueError, match="contrast_tasks"):
        nl.identify(model, tiny_task("cloze"), method="lape", k=5)


def test_random_neurons_are_distinct_seeded_and_sized():
    a, b = random_neurons(3, 64, 20, seed=1), random_neurons(3, 64, 20, seed=1)
    assert a.good.tolist() == b.good.tolist() and len({tuple(x) for x in a.good.tolist()}) == 20
    assert random_neurons(3, 64, 20, seed=2).good.tolist() != a.good.tolist()


def test_baseline_configs_round_trip_and_refuse_bad_values():
    for name in METHODS:
        config = method_config(name)
        assert type(config).from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="fraction"):
        QRNCAConfig(t=1.5)
    with pytest.raises(ValueError, match="unknown method"):
        method_config("kn")
    with pytest.raises(ValueError, match="no option"):
        method_config("qrnca", p=0.5)


def test_mismatched_attributions_are_refused(model):
    task = tiny_task("cloze").subset(range(3))
    gxa = collect_attributions(model, task, AttributionRequest("grad_x_act", "contrastive"))
    with pytest.raises(ValueError, match="qrnca needs method='integrated_gradients', objective='vocab_prob'"):
        nl.identify(model, task, method="qrnca", k=5, attributions=gxa)
