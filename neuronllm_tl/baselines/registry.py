"""The baselines by name, each behind the same call as :func:`~neuronllm_tl.identify`.

==================== =================================== ======================== ==================
name                 score                                attribution              paper
==================== =================================== ======================== ==================
``qrnca``            share of queries (na x ica, top-v)   IG of p(correct), vocab  Chen et al. 2025
``knowledge_neurons`` share of facts (t x max, p shared)  IG of p(correct), vocab  Dai et al. 2022
``tn``               mean abs(activation x grad of loss)  one backward pass        Leng & Xiong 2024
``lape``             firing-rate entropy across tasks     forward passes only      Tang et al. 2024
``random``           uniform random neurons               none                     control
==================== =================================== ======================== ==================

Every baseline returns a :class:`NeuronSet` with ``k`` good neurons and no bad ones. Each module's
docstring cites its paper and lists where this implementation departs from it.

Example:
    >>> from neuronllm_tl.baselines.registry import identify_baseline
    >>> qrnca = identify_baseline("qrnca", model, task, k=100)
    >>> lape = identify_baseline("lape", model, task, k=100, contrast_tasks=[other_task])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from neuronllm_tl.attribution.collect import TaskAttributions, collect_attributions, firing_rates
from neuronllm_tl.baselines.config import BaselineConfig
from neuronllm_tl.baselines.knowledge_neurons import KnowledgeNeuronsConfig, knowledge_neurons
from neuronllm_tl.baselines.lape import LAPEConfig, lape_neurons
from neuronllm_tl.baselines.qrnca import QRNCAConfig, qrnca_neurons
from neuronllm_tl.baselines.ranking import check_k, good_only_set
from neuronllm_tl.baselines.taylor import TaylorConfig, taylor_neurons
from neuronllm_tl.models.validation import model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.tasks.task import Task


@dataclass(frozen=True)
class RandomConfig(BaselineConfig):
    method = "random"
    seed: int = 0


@dataclass(frozen=True)
class AttributionBaseline:
    """A baseline that ranks neurons from per-question attributions of ``objective`` by ``method``."""

    config_class: type
    select: Callable[..., NeuronSet]
    method: str
    objective: str


ATTRIBUTION_BASELINES: dict[str, AttributionBaseline] = {
    "qrnca": AttributionBaseline(QRNCAConfig, qrnca_neurons, "integrated_gradients", "vocab_prob"),
    "knowledge_neurons": AttributionBaseline(KnowledgeNeuronsConfig, knowledge_neurons, "integrated_gradients", "vocab_prob"),
    "tn": AttributionBaseline(TaylorConfig, taylor_neurons, "grad_x_act", "vocab_logprob"),
}
CONFIGS: dict[str, type] = {
    **{name: b.config_class for name, b in ATTRIBUTION_BASELINES.items()},
    "lape": LAPEConfig,
    "random": RandomConfig,
}
BASELINES: tuple[str, ...] = tuple(CONFIGS)


def baseline_config(name: str, **options: Any) -> BaselineConfig:
    """The configuration of baseline ``name`` with ``options`` set (unknown options are refused)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown baseline {name!r}; choose one of {BASELINES}.")
    return CONFIGS[name](**options)


def attribution_request(name: str, config: BaselineConfig) -> dict[str, Any] | None:
    """What :func:`collect_attributions` must compute for baseline ``name`` (None if it needs none):
    baselines with the same request can share one attribution run."""
    b = ATTRIBUTION_BASELINES.get(name)
    if b is None:
        return None
    request = {"method": b.method, "objective": b.objective, "hook": config.hook}
    if b.method == "integrated_gradients":  # steps mean nothing to grad x act
        request["ig_steps"] = config.ig_steps
    return request


def identify_baseline(
    name: str,
    model: Any,
    task: Task,
    *,
    k: int = 100,
    config: BaselineConfig | None = None,
    attributions: TaskAttributions | None = None,
    contrast_tasks: Sequence[Task] = (),
    batch_size: int = 8,
    max_rows: int = 64,
    progress: bool = False,
) -> NeuronSet:
    """The ``k`` neurons baseline ``name`` finds for ``task`` (a NeuronSet with an empty bad set).

    Args:
        attributions: Reuse per-question attributions (they must match :func:`attribution_request`),
            e.g. one IG run of p(correct) for both QRNCA and Knowledge Neurons.
        contrast_tasks: The other tasks LAPE compares the task with (required for ``lape``).
    """
    config = config if config is not None else baseline_config(name)
    if config.method != name:
        raise ValueError(f"config is for {config.method!r}, not {name!r}.")
    spec = model_spec(model, hook=config.hook)
    from neuronllm_tl.neurons.identify import build_metadata

    metadata = build_metadata(model, spec, task, config)
    if name == "random":
        return random_neurons(spec.n_layers, spec.d_mlp, k, seed=config.seed, metadata=metadata)
    if name == "lape":
        if not contrast_tasks:
            raise ValueError("lape compares the task with others: pass contrast_tasks=[another Task, ...].")
        rates = torch.stack(
            [firing_rates(model, t, hook=config.hook, positions=config.positions)[0] for t in [task, *contrast_tasks]]
        )
        metadata["lape"] = {"contrast_tasks": [t.name for t in contrast_tasks]}
        return lape_neurons(rates, k=k, config=config, metadata=metadata)
    request = attribution_request(name, config)
    if attributions is None:
        attributions = collect_attributions(
            model, task, **request, batch_size=batch_size, max_rows=max_rows, progress=progress
        )
    else:
        _check_attributions(attributions, request, name)
    return ATTRIBUTION_BASELINES[name].select(attributions, k=k, config=config, metadata=metadata)


def _check_attributions(attributions: TaskAttributions, request: dict[str, Any], name: str) -> None:
    meta = attributions.metadata
    wrong = {key: (meta.get(key), want) for key, want in request.items() if key in meta and meta[key] != want}
    if wrong:
        raise ValueError(
            f"the attributions given to {name!r} were computed with "
            + ", ".join(f"{key}={got!r}" for key, (got, _) in wrong.items())
            + f"; {name} needs "
            + ", ".join(f"{key}={want!r}" for key, (_, want) in wrong.items())
            + ". Collect them with neuronllm_tl.attribution.collect.collect_attributions(**attribution_request(...))."
        )


def random_neurons(n_layers: int, d_mlp: int, k: int, *, seed: int = 0, metadata: dict[str, Any] | None = None) -> NeuronSet:
    """``k`` neurons drawn uniformly from all layers (the size-matched control without layer matching)."""
    check_k(k)
    idx = torch.randperm(n_layers * d_mlp, generator=torch.Generator().manual_seed(seed))[:k]
    return good_only_set(idx, torch.zeros(n_layers, d_mlp), {**(metadata or {}), "k": k})
