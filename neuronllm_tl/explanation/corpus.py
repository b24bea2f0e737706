"""``top_activating``: the texts of a corpus that activate each neuron most, streamed with a bounded heap.

The Neuroscope / Neuronpedia habit: read a corpus in batches of ``batch_size`` texts, each cut to
``max_length`` tokens (the BOS token included where the model prepends one), record every token's
activation of each neuron (``blocks.{l}.{hook}``, one ``run_with_hooks`` pass per batch, stopped after
the last layer needed), and keep per neuron a min-heap of its ``k`` best texts by their largest token
activation. Memory is flat in the corpus size: the iterator is consumed one batch at a time (a
generator, a ``datasets`` column and a list all work), and only ``k`` snippets per neuron are kept, each
with its token-level activations. The BOS position is left out of the maximum: it is the same token at
the same position in every text, so it would tie everywhere. Ties keep the earlier text. An empty text
(no token) is read and skipped.

Example:
    >>> texts = ["the movie was great .", "the food was awful .", "what color is the sky ?"]  # or a dataset column
    >>> top = nl.top_activating(model, neurons.top(2), texts, k=2)
    >>> [len(n.snippets) for n in top.neurons]                 # 2 good and 2 bad neurons, 2 texts each
    [2, 2, 2, 2]
    >>> best = top.neurons[0].snippets[0]
    >>> best.text in texts, best.max_activation == max(best.activations)    # per token of the text (no BOS)
    (True, True)
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from neuronllm_tl.attribution.exact_ablation import as_candidates, candidate_neurons
from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.explanation.direct import token_text
from neuronllm_tl.explanation.snippets import NeuronSnippets, Snippet, TopActivations
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import DEFAULT_HOOK, ModelSpec, check_width, model_device, model_spec, tokenizer_of
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.batches import progress_bar

Heap = list[tuple[float, int, Snippet]]


def neuron_pairs(neurons: Any) -> list[tuple[int, int]]:
    """A NeuronSet's good then bad neurons, or ``(layer, index)`` pairs, each once, in order."""
    if isinstance(neurons, NeuronSet):
        pairs = [tuple(p) for p in torch.cat([neurons.good, neurons.bad]).tolist()]
    else:
        as_candidates(neurons)  # validates the pairs
        pairs = [tuple(int(x) for x in p) for p in (neurons.tolist() if isinstance(neurons, Tensor) else neurons)]
    if not pairs:
        raise ValueError("no neurons given: pass a NeuronSet with good or bad neurons, or (layer, index) pairs.")
    return list(dict.fromkeys((int(a), int(b)) for a, b in pairs))


def _check_texts(batch: list[Any]) -> None:
    for text in batch:
        if not isinstance(text, str):
            raise TypeError(f"texts must be strings; got {type(text).__name__} {text!r:.60}.")


def _batches(texts: Iterable[str], batch_size: int) -> Iterator[list[str]]:
    """Lists of at most ``batch_size`` texts; a list is let go before the next one is read (flat memory)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            "texts must be an iterable of strings (a list, a generator, a datasets column), not one string."
        )
    iterator = iter(texts)
    while True:
        batch = list(itertools.islice(iterator, batch_size))
        if not batch:
            return
        _check_texts(batch)
        yield batch
        del batch


class _Batch:
    """One batch of texts as model input: right-padded tokens, each text's ids, and whether it was cut."""

    def __init__(self, model: HookedModel, texts: list[str], max_length: int) -> None:
        tokenizer = tokenizer_of(model)
        bos = getattr(tokenizer, "bos_token_id", None)
        prefix = [bos] if getattr(model.cfg, "default_prepend_bos", True) and bos is not None else []
        full = [list(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
        self.texts, self.start = texts, len(prefix)
        self.ids = [ids[: max_length - len(prefix)] for ids in full]
        self.cut = [len(kept) < len(ids) for kept, ids in zip(self.ids, full, strict=True)]
        rows = [prefix + ids for ids in self.ids]
        pad = getattr(tokenizer, "pad_token_id", None)
        self.tokens = torch.full((len(rows), max(len(r) for r in rows)), pad if pad is not None else 0)
        self.mask = torch.zeros_like(self.tokens)
        for r, row in enumerate(rows):
            self.tokens[r, : len(row)] = torch.tensor(row)
            self.mask[r, : len(row)] = 1


def _activations(model: HookedModel, spec: ModelSpec, batch: _Batch, pairs: list[tuple[int, int]]) -> Tensor:
    """[text, pos, neuron] activations of one batch (float64, CPU); hooks removed by ``run_with_hooks``."""
    store: dict[int, Tensor] = {}
    layers = sorted({layer for layer, _ in pairs})

    def recorder(layer: int) -> Any:
        def hook(act: Tensor, hook: Any) -> None:
            check_width(act, spec, spec.hook_name(layer))
            store[layer] = act.detach()

        return hook

    device = model_device(model)
    hooks = [(spec.hook_name(layer), recorder(layer)) for layer in layers]
    with torch.no_grad():
        model.run_with_hooks(
            batch.tokens.to(device),
            attention_mask=batch.mask.to(device),
            fwd_hooks=hooks,
            return_type=None,
            stop_at_layer=layers[-1] + 1,
        )
    return torch.stack([store[layer][..., index] for layer, index in pairs], -1).double().cpu()


def _snippet(batch: _Batch, j: int, acts: Tensor, decode: Callable[[int], str]) -> Snippet:
    """Text j of the batch with the neuron's activation ``acts`` [token] at each of its (non-BOS) tokens."""
    ids = batch.ids[j]
    tokens = [decode(i) for i in ids]
    text = "".join(tokens) if batch.cut[j] else str(batch.texts[j])
    return Snippet(text, float(acts.max()), tokens, acts.tolist())


def _update(heaps: list[Heap], k: int, batch: _Batch, acts: Tensor, first: int, decode: Callable[[int], str]) -> None:
    """Offer every text of the batch to every neuron's heap (a min-heap of at most k; ties keep the earlier)."""
    for j, ids in enumerate(batch.ids):
        if not ids:
            continue
        row = acts[j, batch.start : batch.start + len(ids)]  # [token, neuron]
        for n, (heap, peak) in enumerate(zip(heaps, row.max(0).values.tolist(), strict=True)):
            if len(heap) < k:
                heapq.heappush(heap, (peak, -(first + j), _snippet(batch, j, row[:, n], decode)))
            elif peak > heap[0][0]:
                heapq.heapreplace(heap, (peak, -(first + j), _snippet(batch, j, row[:, n], decode)))


def top_activating(
    model: HookedModel,
    neurons: Any,
    texts: Iterable[str],
    *,
    k: int = 10,
    batch_size: int = 16,
    max_length: int = 128,
    progress: bool = False,
) -> TopActivations:
    """The ``k`` texts of ``texts`` with the highest token activation, per neuron (a NeuronSet's good then
    bad neurons, or ``(layer, index)`` pairs); see the module doc."""
    for value, what in ((k, "k"), (batch_size, "batch_size"), (max_length, "max_length")):
        check_positive_int(value, what)
    pairs = neuron_pairs(neurons)
    spec = model_spec(model, hook=neurons.hook if isinstance(neurons, NeuronSet) else DEFAULT_HOOK)
    if isinstance(neurons, NeuronSet):
        neurons.check_compatible(model)
    candidate_neurons(spec, as_candidates(pairs))  # refuses neurons out of the model's range
    decode = functools.lru_cache(maxsize=1 << 16)(functools.partial(token_text, tokenizer_of(model)))
    heaps: list[Heap] = [[] for _ in pairs]
    n_texts = 0
    for texts_batch in progress_bar(
        _batches(texts, batch_size), progress, f"top activating ({batch_size} texts a step)"
    ):
        batch = _Batch(model, texts_batch, max_length)
        _update(heaps, k, batch, _activations(model, spec, batch, pairs), n_texts, decode)
        n_texts += len(texts_batch)
        del texts_batch, batch  # the next batch is read only once this one is let go
    out = [
        NeuronSnippets(layer, index, [s for *_, s in sorted(heap, reverse=True)])
        for (layer, index), heap in zip(pairs, heaps, strict=True)
    ]
    return TopActivations(out, model=spec.model_name, n_texts=n_texts)
