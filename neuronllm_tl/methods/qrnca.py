"""QRNCA / QR-Neuron baseline (Chen, Dejl and Toni, "Identifying Query-Relevant Neurons in Large
Language Models for Long-Form Texts", AAAI 2025, arXiv 2406.10868).

For a query q (here: an example) asked through templates t (here: its permuted questions), with
IG_t(n) the integrated gradients of the correct letter's probability over the whole vocabulary
(objective ``vocab_prob``):

1. coarse filter per template: keep n if IG_t(n) > t_frac * max_n' IG_t(n');
2. neuron attribution: na_q(n) = sum_t kept IG_t(n) / Z_q, with Z_q the sum over the kept neurons;
   the query's cluster c_q = {n : na_q(n) > 0};
3. inverse cluster attribution: ica(n) = log(|C| / (|{c in C : n in c}| + 1));
4. per query: the top-v neurons by na_q * ica with a positive score, minus the *common* neurons,
   those in more than u * |C| clusters (int(u * |C|), as in the authors' code).

Task level (not in the paper, which stops at per-query neurons and counts them per domain): a
neuron's task score is the share of queries whose step-4 set contains it; ties are broken by its
mean na * ica over the queries. The good set is the top-K; QRNCA finds no inhibiting neurons, so
the bad set is empty.

Departures from the original: templates are the task's option permutations (the paper writes three
prompt templates); the neuron is ``hook_post`` unless ``hook=`` says otherwise (the paper uses the
up-projection, ``mlp.hook_pre_linear``); in cloze format the target is the correct option's
likelihood rather than a letter's probability. Defaults: t = 0.2, u = 0.3 (the paper and code),
v = 20 (the paper; the code's default is 10), m = 16 steps (the paper; the code uses 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from neuronllm_tl.attribution.collect import TaskAttributions
from neuronllm_tl.attribution.stream import AttributionRequest
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.baseline_sets import positive_only_set
from neuronllm_tl.neurons.neuron_set import NeuronSet

OBJECTIVE = "vocab_prob"


@dataclass(frozen=True)
class QRNCAConfig(MethodConfig):
    method: ClassVar[str] = "qrnca"
    t: float = 0.2
    """Coarse threshold, as a fraction of each template's largest attribution."""
    v: int = 20
    """Neurons kept per query."""
    u: float = 0.3
    """A neuron in more than this share of the queries' clusters is common and removed."""
    ig_steps: int = 16

    def __post_init__(self) -> None:
        self._check_fraction("t")
        self._check_fraction("u")
        self._check_positive_int("v", "ig_steps")

    def attribution_request(self) -> AttributionRequest:
        return vocab_ig_request(self.hook, self.ig_steps)


def vocab_ig_request(hook: str, ig_steps: int) -> AttributionRequest:
    """IG of p(correct) over the vocabulary: what QRNCA and Knowledge Neurons attribute (one run serves both)."""
    return AttributionRequest("integrated_gradients", OBJECTIVE, hook, ig_steps)


def above_fraction_of_max(
    attr: Float[Tensor, "question layer d_mlp"], t: float
) -> Bool[Tensor, "question layer d_mlp"]:
    """Per question, the neurons whose attribution is positive and above ``t`` times the question's maximum."""
    top = attr.flatten(1).max(1).values[:, None, None]
    return (attr > t * top) & (attr > 0)


@dataclass
class QRNCAScores:
    query_neurons: Bool[Tensor, "example layer d_mlp"]
    """Each query's neurons after step 4."""
    naica: Float[Tensor, "example layer d_mlp"]
    common: Bool[Tensor, "layer d_mlp"]
    task_share: Float[Tensor, "layer d_mlp"]
    mean_naica: Float[Tensor, "layer d_mlp"]


def qrnca_scores(attr: TaskAttributions, config: QRNCAConfig) -> QRNCAScores:
    a = attr.attributions.double()
    kept = a * above_fraction_of_max(a, config.t)
    raw = torch.zeros(attr.n_examples, *a.shape[1:], dtype=a.dtype).index_add_(0, attr.example_index, kept)
    z = raw.sum((1, 2), keepdim=True)
    na = torch.where(z > 0, raw / z.clamp_min(1e-300), torch.zeros_like(raw))
    clusters = na > 0
    occurrences = clusters.sum(0)
    n_clusters = attr.n_examples
    ica = torch.log(n_clusters / (occurrences.double() + 1))
    naica = (na * ica).masked_fill(~clusters, 0.0)
    flat = naica.flatten(1)
    v = min(config.v, flat.shape[1])
    top = flat.topk(v, dim=1)
    in_top = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, top.indices, top.values > 0).view_as(naica)
    common = occurrences > int(config.u * n_clusters)
    query_neurons = in_top & ~common
    return QRNCAScores(
        query_neurons=query_neurons,
        naica=naica,
        common=common,
        task_share=query_neurons.double().mean(0).float(),
        mean_naica=(naica * query_neurons).mean(0).float(),
    )


def qrnca(inputs: MethodInputs) -> NeuronSet:
    """The registered method: QRNCA's neurons from IG of p(correct)."""
    assert isinstance(inputs.config, QRNCAConfig)
    return qrnca_neurons(inputs.task_attributions(), k=inputs.k, config=inputs.config, metadata=inputs.metadata())


def qrnca_neurons(attr: TaskAttributions, *, k: int, config: QRNCAConfig, metadata: dict[str, Any]) -> NeuronSet:
    s = qrnca_scores(attr, config)
    meta = {
        **metadata,
        "qrnca": {
            "n_common": int(s.common.sum()),
            "mean_query_neurons": float(s.query_neurons.sum((1, 2)).float().mean()),
        },
    }
    return positive_only_set(s.task_share, k, meta, tie_break=s.mean_naica)


__all__ = [
    "OBJECTIVE",
    "QRNCAConfig",
    "QRNCAScores",
    "above_fraction_of_max",
    "qrnca",
    "qrnca_neurons",
    "qrnca_scores",
    "vocab_ig_request",
]
