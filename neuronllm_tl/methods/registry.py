"""Every neuron-finding method by name, behind one call: :func:`identify`.

==================== ==================================== ======================== ==================
name                 score                                attribution              paper
==================== ==================================== ======================== ==================
``neuronllm``        ACE after coarse sets and ambiguity  grad x act or IG of F    NeuronLLM
                     mask; good top-K, bad bottom-K       (contrastive by default)
``qrnca``            share of queries (na x ica, top-v)   IG of p(correct), vocab  Chen et al. 2025
``knowledge_neurons`` share of facts (t x max, p shared)  IG of p(correct), vocab  Dai et al. 2022
``tn``               mean abs(activation x grad of loss)  one backward pass        Leng & Xiong 2024
``lape``             firing-rate entropy across tasks     forward passes only      Tang et al. 2024
``random``           uniform random neurons               none                     control
``ablation``         mean exact effect of silencing the   exact ablation of F,     ground truth
                     neuron; good top-K, bad bottom-K     one variant per neuron   (AtP*'s yardstick)
==================== ==================================== ======================== ==================

A method is registered as (name, config class, function): ``register_method("mine", MyConfig, my_fn)``
where ``my_fn(inputs: MethodInputs) -> NeuronSet``. The baselines return ``k`` good neurons and no bad
ones; each module's docstring cites its paper and lists where this implementation departs from it.

Example:
    >>> neurons = identify(model, ident, k=3)                                   # NeuronLLM, grad x act
    >>> neurons = identify(model, ident, method="neuronllm", attribution="integrated_gradients", ig_steps=4, k=3)
    >>> qrnca = identify(model, ident, method="qrnca", k=3, v=10)
    >>> lape = identify(model, ident, method="lape", k=3, contrast_tasks=[held_out])
    >>> truth = identify(model, ident.subset(range(2)), method="ablation_oracle", k=3, baseline="zero")  # exact effects
    >>> len(neurons.good), len(qrnca.good), len(qrnca.bad)   # the baselines find good neurons only
    (3, 3, 0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuronllm_tl.attribution.collect import TaskAttributions
from neuronllm_tl.attribution.stream import RunOptions
from neuronllm_tl.methods.ablation_oracle import AblationConfig, exact_ablation_neurons
from neuronllm_tl.methods.base import CONFIG_CLASSES, RENAMED_METHODS, MethodConfig, MethodInputs, check_k
from neuronllm_tl.methods.knowledge_neurons import KnowledgeNeuronsConfig, knowledge_neurons
from neuronllm_tl.methods.lape import LAPEConfig, lape
from neuronllm_tl.methods.neuronllm import NeuronLLMConfig, neuronllm
from neuronllm_tl.methods.qrnca import QRNCAConfig, qrnca
from neuronllm_tl.methods.random_neurons import RandomConfig, random_method
from neuronllm_tl.methods.taylor import TaylorConfig, taylor_neurons
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.registry import METHOD_ENTRY_POINTS, Registry
from neuronllm_tl.tasks.task import Task

MethodFunction = Callable[[MethodInputs], NeuronSet]
DEFAULT_METHOD = "neuronllm"
DEFAULT_K = 50
"""Good neurons (and, for NeuronLLM, bad neurons) per set when K is not given: the same in identify, the demo
and compare."""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    config_class: type[MethodConfig]
    function: MethodFunction
    description: str = ""


_METHODS: Registry[MethodSpec] = Registry(
    "method", hint="Add one with register_method(name, config_class, function).", entry_points=METHOD_ENTRY_POINTS
)
METHODS: Mapping[str, MethodSpec] = _METHODS.view
for _old, _new in RENAMED_METHODS.items():
    _METHODS.rename(_old, _new)
"""The registered methods (read-only; add one with :func:`register_method`, or from another package through
the ``neuronllm_tl.methods`` entry-point group: :mod:`neuronllm_tl.registry`)."""


def register_method(
    name: str,
    config_class: type[MethodConfig],
    function: MethodFunction,
    *,
    description: str = "",
    overwrite: bool = False,
) -> MethodSpec:
    """Add a method: ``config_class.method`` must equal ``name``; ``function(inputs) -> NeuronSet``."""
    if not (isinstance(config_class, type) and issubclass(config_class, MethodConfig)):
        raise TypeError(f"config_class must be a frozen dataclass subclassing MethodConfig, got {config_class!r}.")
    if config_class.method != name:
        raise ValueError(
            f"{config_class.__name__}.method is {config_class.method!r}; set the class attribute "
            f"method: ClassVar[str] = {name!r} so that its to_dict/from_dict name the method."
        )
    spec = _METHODS.register(name, MethodSpec(name, config_class, function, description), overwrite=overwrite)
    CONFIG_CLASSES[name] = config_class
    return spec


def unregister_method(name: str) -> MethodSpec:
    """Remove a method (a built-in one too; reimport the package to get it back)."""
    spec = _METHODS.unregister(name)
    CONFIG_CLASSES.pop(name, None)
    return spec


def canonical_method(name: str) -> str:
    """``name``, or the current name of a renamed method (with a FutureWarning)."""
    return _METHODS.resolve(name)


def get_method(name: str) -> MethodSpec:
    if name in ("grad_x_act", "integrated_gradients") and name not in _METHODS.view:
        raise ValueError(f"{name!r} is an attribution, not a method: use method='neuronllm', attribution={name!r}.")
    return _METHODS.get(name)


def method_config(method: str = DEFAULT_METHOD, **options: Any) -> MethodConfig:
    """The config of ``method`` with ``options`` set; an unknown option is refused with the valid ones."""
    cls = get_method(method).config_class
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(f"method {method!r} has no option(s) {unknown}; its options are {fields}.")
    return cls(**options)


def _config_of(method: str, config: MethodConfig | None, options: dict[str, Any]) -> MethodConfig:
    """``config`` as given, or ``method``'s config built from ``options``; both at once is refused."""
    if config is None:
        return method_config(method, **options)
    if options or method not in (DEFAULT_METHOD, config.method):
        raise ValueError("pass either config= or the method's options (and method=), not both.")
    return config


def _check_run(config: MethodConfig, k: int, checkpoint: str | Path | None, distributed: bool | None) -> None:
    check_k(k)
    if (checkpoint is not None or distributed) and not config.streams:
        raise ValueError(
            f"method {config.method!r} does not stream its work in batches, so checkpoint= and distributed= do not "
            "apply to it; drop them (they apply to methods whose config sets streams = True, e.g. 'neuronllm')."
        )


def identify(
    model: HookedModel,
    task: Task,
    *,
    method: str = DEFAULT_METHOD,
    k: int = DEFAULT_K,
    config: MethodConfig | None = None,
    attributions: TaskAttributions | None = None,
    contrast_tasks: Sequence[Task] = (),
    batch_size: int = 8,
    max_rows: int = 64,
    max_tokens: int = 4096,
    checkpoint: str | Path | None = None,
    distributed: bool | None = None,
    progress: bool = False,
    **options: Any,
) -> NeuronSet:
    """The ``k`` good (and, for signed methods, ``k`` bad) neurons ``method`` finds for ``task``.

    Args:
        model: A TransformerLens model (TransformerBridge, or HookedTransformer under TL <= 3.9) in eval mode.
        task: The task; every example is asked ``task.effective_permutations`` times.
        method: A registered method (:data:`METHODS`); ``"neuronllm"`` is the paper's.
        k: Size of the good set (and of the bad set).
        config: The method's config; or give its fields as ``**options`` (e.g. ``attribution=``, ``objective=``,
            ``z=``, ``hook=``, ``ig_steps=`` for NeuronLLM), not both.
        attributions: Attributions to rank from (answering ``config.attribution_request()``): one IG run shared.
        contrast_tasks: Other tasks, for methods that compare tasks (``lape``).
        batch_size: Examples per batch; with ``max_rows`` (rows per IG or ablation pass), ``max_tokens``
            (padded tokens per batch) and ``progress``, how the model is run (:class:`RunOptions`), not the numbers.
        checkpoint: NeuronLLM: a file saved after every batch; a rerun with the same model weights, task, options
            and library version continues after the last finished batch and ends with the same neurons.
        distributed: NeuronLLM: shard the batches over an initialized ``torch.distributed`` group and all-reduce
            the sums; every rank returns the single-process result. ``None``: shard when a group is initialized.
    """
    config = _config_of(method, config, options)
    _check_run(config, k, checkpoint, distributed)
    run = RunOptions(batch_size=batch_size, max_rows=max_rows, max_tokens=max_tokens, progress=progress)
    inputs = MethodInputs(
        model,
        task,
        config,
        k,
        run=run,
        attributions=attributions,
        contrast_tasks=tuple(contrast_tasks),
        checkpoint=checkpoint,
        distributed=distributed,
    )
    return get_method(config.method).function(inputs)


for _name, _cls, _fn, _description in (
    ("neuronllm", NeuronLLMConfig, neuronllm, "NeuronLLM: contrastive neuron identification (good and bad)"),
    ("qrnca", QRNCAConfig, qrnca, "QRNCA: query-relevant neurons (good only)"),
    ("knowledge_neurons", KnowledgeNeuronsConfig, knowledge_neurons, "Knowledge Neurons (good only)"),
    ("tn", TaylorConfig, taylor_neurons, "TN: first-order Taylor importance (good only)"),
    ("lape", LAPEConfig, lape, "LAPE-style firing-rate specificity across tasks (good only)"),
    ("random", RandomConfig, random_method, "uniform random neurons (control)"),
    (
        "ablation_oracle",
        AblationConfig,
        exact_ablation_neurons,
        "the exact-ablation oracle: measured single-neuron ablation effects (ground truth)",
    ),
):
    register_method(_name, _cls, _fn, description=_description)
