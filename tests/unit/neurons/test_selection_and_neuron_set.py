"""CNI selection against a loop-based reference, streaming, and NeuronSet persistence."""

import json

import pytest
import torch

import neuronllm_tl as nl
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.neurons.selection import ContrastiveAccumulator, resolve_z, select_top_k
from neuronllm_tl.testing import tiny_model, tiny_task


def reference_ace(es: torch.Tensor, z: int) -> torch.Tensor:
    """Direct transcription of the CNI formula with Python loops (global coarse sets)."""
    n_ex, n_l, d = es.shape
    good_sets, bad_sets = [], []
    for e in range(n_ex):
        items = sorted(((float(es[e, l, n]), (l, n)) for l in range(n_l) for n in range(d)), reverse=True)
        good_sets.append({w for v, w in items[:z] if v > 0})
        bad_sets.append({w for v, w in items[-z:] if v < 0})
    all_good, all_bad = set().union(*good_sets), set().union(*bad_sets)
    ace = torch.zeros(n_l, d, dtype=torch.float64)
    for l in range(n_l):
        for n in range(d):
            w = (l, n)
            if w in all_good and w in all_bad:
                continue
            ace[l, n] = sum(float(es[e, l, n]) for e in range(n_ex) if w in good_sets[e] or w in bad_sets[e]) / n_ex
    return ace


def test_contrastive_selection_matches_reference_and_streams():
    gen = torch.Generator().manual_seed(0)
    es = torch.randn(9, 3, 8, generator=gen, dtype=torch.float64)
    z = 5
    one = ContrastiveAccumulator(3, 8, z=z)
    one.update(es)
    streamed = ContrastiveAccumulator(3, 8, z=z)
    for chunk in es.split([2, 4, 3]):
        streamed.update(chunk)
    ref = reference_ace(es, z)
    torch.testing.assert_close(one.ace(), ref)
    torch.testing.assert_close(streamed.ace(), ref)
    assert one.ambiguous.any(), "random scores should produce ambiguous neurons"
    assert (one.ace()[one.ambiguous] == 0).all()


def reference_share(es: torch.Tensor, t: float) -> torch.Tensor:
    """Knowledge Neurons' threshold rule, signed, with Python loops: +1 per example above t x max, -1 below t x min."""
    n_ex, n_l, d = es.shape
    out = torch.zeros(n_l, d, dtype=torch.float64)
    for e in range(n_ex):
        hi, lo = float(es[e].max()), float(es[e].min())
        for l in range(n_l):
            for n in range(d):
                v = float(es[e, l, n])
                out[l, n] += (v > 0 and v > t * hi) - (v < 0 and v < t * lo)
    return out / n_ex


def test_the_selection_ablations_of_issue_14_match_their_formulas():
    es = torch.randn(7, 3, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    acc = ContrastiveAccumulator(3, 8, z=5, share_threshold=0.3)
    for chunk in es.split([3, 4]):
        acc.update(chunk)
    masked_mean = es.mean(0).masked_fill(acc.ambiguous, 0.0)
    torch.testing.assert_close(acc.scores("mean"), masked_mean)
    torch.testing.assert_close(acc.scores("mean", mask=False), es.mean(0))
    torch.testing.assert_close(acc.scores("share", mask=False), reference_share(es, 0.3))
    unmasked = acc.scores("ace", mask=False)
    assert (unmasked[acc.ambiguous] != 0).any()  # the mask is what zeroes them
    torch.testing.assert_close(unmasked.masked_fill(acc.ambiguous, 0.0), reference_ace(es, 5))
    with pytest.raises(ValueError, match="aggregation must be one of"):
        acc.scores("median")


def test_identify_with_the_mask_off_keeps_the_ambiguous_neurons(model):
    task = tiny_task("cloze")
    paper = nl.identify(model, task, k=5, z=3)
    unmasked = nl.identify(model, task, k=5, z=3, mask=False)
    ambiguous = paper.ambiguous
    assert ambiguous.any() and (paper.scores[ambiguous] == 0).all()
    assert (unmasked.scores[ambiguous] != 0).any()
    assert 0 <= paper.metadata["identification"]["ambiguous_in_top_k_by_size"] <= 5
    with pytest.raises(ValueError, match="aggregation must be one of"):
        nl.identify(model, task, k=5, aggregation="median")


def test_per_layer_coarse_sets_take_z_in_each_layer():
    es = torch.arange(2 * 3 * 4, dtype=torch.float64).view(2, 3, 4) - 10
    acc = ContrastiveAccumulator(3, 4, z=1, selection="per_layer")
    good, bad = acc.coarse_sets(es)
    assert good.sum(-1).le(1).all() and bad.sum(-1).le(1).all()


def test_select_top_k_orders_and_signs():
    ace = torch.tensor([[0.5, -0.2, 0.0], [0.9, -0.7, 0.1]])
    good, gs, bad, bs = select_top_k(ace, 2)
    assert good.tolist() == [[1, 0], [0, 0]] and gs.tolist() == pytest.approx([0.9, 0.5])
    assert bad.tolist() == [[1, 1], [0, 1]] and bs.tolist() == pytest.approx([-0.7, -0.2])
    good, gs, bad, bs = select_top_k(ace, 5)
    assert len(good) == 3 and len(bad) == 2, "zero scores are neither good nor bad"
    good, _, _, _ = select_top_k(ace, 1, selection="per_layer")
    assert sorted(good.tolist()) == [[0, 0], [1, 0]]


def test_resolve_z():
    assert resolve_z(0.5, 2, 10, "global") == 10
    assert resolve_z(0.5, 2, 10, "per_layer") == 5
    assert resolve_z(1000, 2, 10, "global") == 20
    with pytest.raises(ValueError):
        resolve_z(0, 2, 10, "global")


@pytest.fixture(scope="module")
def neurons():
    torch.set_num_threads(1)
    return nl.identify(tiny_model(), tiny_task("cloze"), k=6)


def test_identify_result_is_consistent(neurons):
    assert len(neurons.good) == 6 and len(neurons.bad) == 6
    assert (neurons.good_scores > 0).all() and (neurons.bad_scores < 0).all()
    assert (neurons.good_scores[:-1] >= neurons.good_scores[1:]).all()
    assert (neurons.scores[neurons.good[:, 0], neurons.good[:, 1]] == neurons.good_scores).all()
    counts = neurons.per_layer_counts()
    assert sum(counts["good"]) == 6 and len(counts["bad"]) == neurons.n_layers
    top = neurons.top(2)
    assert top.good.tolist() == neurons.good[:2].tolist()
    meta = neurons.metadata
    assert meta["config"]["method"] == "neuronllm" and meta["config"]["attribution"] == "grad_x_act"
    assert meta["task"]["name"] == "tiny-cloze"
    assert {"torch", "transformer_lens", "neuronllm_tl"} <= set(meta["versions"])


def test_identify_does_not_depend_on_batch_size(neurons):
    again = nl.identify(tiny_model(), tiny_task("cloze"), k=6, batch_size=5)
    torch.testing.assert_close(again.scores, neurons.scores, rtol=1e-5, atol=1e-7)
    assert again.good.tolist() == neurons.good.tolist()


def test_save_load_round_trip(neurons, tmp_path):
    path = neurons.save(tmp_path / "task.neurons")
    assert (path / "neurons.safetensors").is_file()
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["n_layers"] == 3 and meta["hook"] == "mlp.hook_post"
    loaded = NeuronSet.load(path, model=tiny_model())
    for name in ("good", "bad", "good_scores", "bad_scores", "scores", "ambiguous"):
        assert torch.equal(getattr(loaded, name), getattr(neurons, name)), name
    assert loaded.metadata["config"] == neurons.metadata["config"]


def test_loading_for_a_mismatched_model_is_refused(neurons, tmp_path):
    path = neurons.save(tmp_path / "task.neurons")
    with pytest.raises(ValueError, match="n_layers=3, d_mlp=48.*n_layers=2"):
        NeuronSet.load(path, model=tiny_model(n_layers=2))
    with pytest.raises(ValueError, match="d_mlp"):
        nl.evaluate(tiny_model(d_mlp=32), tiny_task("cloze"), neurons, controls=0)
    with pytest.raises(FileNotFoundError, match="not a saved NeuronSet"):
        NeuronSet.load(tmp_path)


def test_random_controls_match_per_layer_counts(neurons):
    r = neurons.random_like(3)
    assert r.per_layer_counts() == neurons.per_layer_counts()
    assert not r.as_set("good") & r.as_set("bad")
    assert r.random_like(3).good.tolist() == neurons.random_like(3).good.tolist()
    assert neurons.random_like(4).good.tolist() != r.good.tolist()


def test_overlap(neurons):
    assert neurons.overlap(neurons) == {"good_shared": 6, "good_jaccard": 1.0, "bad_shared": 6, "bad_jaccard": 1.0}
    half = neurons.top(3)
    assert neurons.overlap(half)["good_jaccard"] == pytest.approx(0.5)


def test_token_budget_splits_batches_and_keeps_examples_whole(model):
    from neuronllm_tl.scoring.batches import example_batches
    from neuronllm_tl.scoring.encoding import QuestionEncoder

    task = tiny_task("letter")
    questions = task.questions()
    encoder = QuestionEncoder(model, task)
    batches = list(example_batches(questions, 8, encoder=encoder, max_tokens=60))
    assert len(batches) > len(list(example_batches(questions, 8)))
    assert [q for b in batches for q in b] == questions
    for b in batches:
        enc = encoder.encode(b)
        per_example = {q.example_index for q in b}
        assert all(sum(q.example_index == e for q in b) == 3 for e in per_example), "permutations stay together"
        assert enc.n_rows * enc.tokens.shape[1] <= 60 or len(per_example) == 1
    small = nl.identify(model, task, k=6, max_tokens=60)
    torch.testing.assert_close(small.scores, nl.identify(model, task, k=6).scores, rtol=1e-5, atol=1e-7)
