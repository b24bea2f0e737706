"""top_activating against a one-text-at-a-time run_with_cache loop; streaming with flat memory; the dict schema."""

import weakref

import pytest
import torch

from neuronllm_tl.explanation import TopActivations, top_activating
from neuronllm_tl.testing import TINY_WORDS, tiny_hf_llama
from tests.conftest import hook_count
from tests.unit.explanation.test_explain import neuron_set

PAIRS = [(2, 5), (0, 7), (1, 3)]
WORDS = [w for w in TINY_WORDS if not w.startswith("[")]


def corpus(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 12, (n,), generator=gen).tolist()
    return [" ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (m,), generator=gen)) for m in lengths]


def brute_force(model, pairs, texts, k, max_length):
    """Per neuron, every text's (max activation over its non-BOS tokens, text index, token activations)."""
    out = {p: [] for p in pairs}
    for t, text in enumerate(texts):
        ids = model.tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - 1]
        tokens = torch.tensor([[model.tokenizer.bos_token_id, *ids]])
        _, cache = model.run_with_cache(tokens)
        for layer, index in pairs:
            acts = cache[f"blocks.{layer}.mlp.hook_post"][0, 1:, index].double()
            out[(layer, index)].append((float(acts.max()), t, acts.tolist()))
    return {p: sorted(v, key=lambda e: (-e[0], e[1]))[:k] for p, v in out.items()}


@pytest.mark.parametrize("batch_size", [1, 7])
def test_equals_a_brute_force_loop_over_the_texts(model64, batch_size):
    texts = corpus(40)
    top = top_activating(model64, PAIRS, texts, k=5, batch_size=batch_size, max_length=9)
    ref = brute_force(model64, PAIRS, texts, 5, 9)
    assert top.n_texts == 40 and [(n.layer, n.index) for n in top.neurons] == PAIRS
    for n in top.neurons:
        expected = ref[(n.layer, n.index)]
        assert [s.max_activation for s in n.snippets] == pytest.approx([e[0] for e in expected], rel=1e-9)
        for s, (_, t, acts) in zip(n.snippets, expected, strict=True):
            assert s.activations == pytest.approx(acts, rel=1e-9, abs=1e-12)
            ids = model64.tokenizer(texts[t], add_special_tokens=False)["input_ids"][:8]
            assert s.tokens == [model64.tokenizer.decode([i]) for i in ids]
            assert s.text == (texts[t] if len(ids) == len(texts[t].split()) else "".join(s.tokens))


def test_memory_is_flat_in_the_corpus_size(model):
    """A generator of 500 texts is consumed one batch at a time: never more than batch_size texts alive."""

    class Text(str):
        pass

    alive, peak = set(), [0]

    def texts():
        for i, text in enumerate(corpus(500, seed=1)):
            item = Text(text)
            alive.add(i)
            weakref.finalize(item, alive.discard, i)
            peak[0] = max(peak[0], len(alive))
            yield item

    top = top_activating(model, neuron_set(model), texts(), k=3, batch_size=8)
    assert top.n_texts == 500 and peak[0] <= 8
    assert all(len(n.snippets) == 3 and all(type(s.text) is str for s in n.snippets) for n in top.neurons)
    again = top_activating(model, neuron_set(model), corpus(500, seed=1), k=3, batch_size=8)
    assert again.to_dict() == top.to_dict()


def test_a_datasets_column_works_and_progress_shows_a_bar(model, capsys):
    datasets = pytest.importorskip("datasets")
    texts = corpus(20)
    column = datasets.Dataset.from_dict({"text": texts})["text"]
    top = top_activating(model, PAIRS, column, k=2, progress=True)
    assert top.to_dict() == top_activating(model, PAIRS, texts, k=2).to_dict()
    assert "top activating" in capsys.readouterr().err


def test_a_neuron_set_gives_its_good_then_bad_neurons_and_to_dict_has_the_schema(model):
    top = top_activating(model, neuron_set(model), ["the movie was great .", "", "the sky is blue"], k=4)
    assert [(n.layer, n.index) for n in top.neurons] == [(2, 5), (1, 3), (0, 7), (2, 40)]
    d = top.to_dict()
    assert set(d) == {"model", "n_texts", "neurons"} and d["n_texts"] == 3
    for n in d["neurons"]:
        assert set(n) == {"layer", "index", "snippets"} and len(n["snippets"]) == 2  # the empty text is skipped
        for s in n["snippets"]:
            assert set(s) == {"text", "max_activation", "tokens", "activations"}
            assert len(s["tokens"]) == len(s["activations"]) and max(s["activations"]) == s["max_activation"]
    assert TopActivations.from_dict(d).to_dict() == d
    assert "**" in str(top) and "<table>" in top._repr_html_()


def test_hooks_are_removed_after_an_exception(model, monkeypatch):
    import neuronllm_tl.explanation.corpus as module

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "check_width", boom)
    with pytest.raises(RuntimeError, match="boom"):
        top_activating(model, PAIRS, corpus(5))
    assert hook_count(model) == 0


def test_bad_inputs_say_how_to_fix_them(model):
    with pytest.raises(TypeError, match="not one string"):
        top_activating(model, PAIRS, "the movie was great .")
    with pytest.raises(TypeError, match="texts must be strings; got int"):
        top_activating(model, PAIRS, ["the movie", 3])
    with pytest.raises(ValueError, match="out of range"):
        top_activating(model, [(9, 0)], ["the movie"])
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        top_activating(model, PAIRS, ["the movie"], k=0)


def test_a_hugging_face_model_stopped_early_matches_its_full_forward(tmp_path):
    """boot_transformers bridges honour stop_at_layer with padding: same activations as one text at a time."""
    model = tiny_hf_llama(str(tmp_path))
    texts = corpus(12)
    top = top_activating(model, [(0, 3), (1, 39)], texts, k=4, batch_size=5)
    ref = brute_force(model, [(0, 3), (1, 39)], texts, 4, 128)
    for n in top.neurons:
        assert [s.max_activation for s in n.snippets] == pytest.approx(
            [e[0] for e in ref[(n.layer, n.index)]], rel=1e-4
        )
