"""What a comparison runs: the methods as :class:`Variant` values (a method config plus protocol settings),
the reviewers' ablations, and :class:`CompareConfig`, the whole grid.

A variant holds a :class:`~neuronllm_tl.methods.base.MethodConfig`, so any registered method (your own
too) is compared by the same code: nothing here branches on a method's name.

Example:
    >>> from neuronllm_tl.methods.registry import DEFAULT_K, method_config
from neuronllm_tl.neurons.selection import AGGREGATIONS
    >>> mine = Variant("neuronllm_margin", method_config("neuronllm", objective="margin"), modes=("enhance", "degrade"))
    >>> cfg = CompareConfig(tasks=("capitals-mini", "topics-mini"), variants=("neuronllm_gxa", "tn", "random"))
    >>> CompareConfig(tasks=("sst2",), seeds=(0, 1, 2), shots={"sst2": 4},
    ...               task_options={"sst2": {"calibration": "contextual", "cloze_normalization": "char"}})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.methods.base import MethodConfig
from neuronllm_tl.methods.registry import DEFAULT_K, method_config
from neuronllm_tl.neurons.selection import AGGREGATIONS
from neuronllm_tl.steering.modes import MODES

GOOD_ONLY_MODES = ("excite_good", "silence_good")
ALL_MODES = ("enhance", "degrade", *GOOD_ONLY_MODES, "excite_bad", "silence_bad")


@dataclass(frozen=True)
class Variant:
    """One neuron-identification method with its settings: a row group of the comparison."""

    name: str
    config: MethodConfig
    k: int | None = None
    answer_format: str | None = None
    n_permutations: int | None = None
    modes: tuple[str, ...] = GOOD_ONLY_MODES
    controls: bool = True
    specificity: bool = True
    group: str = "main"

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ValueError(f"variant {self.name!r}: unknown modes {unknown}; choose from {sorted(MODES)}.")

    @property
    def method(self) -> str:
        return self.config.method

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "config": self.config.to_dict()}


def _ablation(
    name: str,
    group: str,
    *,
    k: int | None = None,
    answer_format: str | None = None,
    n_permutations: int | None = None,
    **options: Any,
) -> Variant:
    return Variant(
        name,
        method_config("neuronllm", attribution="grad_x_act", **options),
        k=k,
        answer_format=answer_format,
        n_permutations=n_permutations,
        modes=("enhance", "degrade"),
        controls=False,
        specificity=False,
        group=group,
    )


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("neuronllm", method_config("neuronllm", attribution="integrated_gradients"), modes=ALL_MODES),
        Variant(
            "neuronllm_gxa",
            method_config("neuronllm", attribution="grad_x_act"),
            modes=("enhance", "degrade", *GOOD_ONLY_MODES),
        ),
        *(Variant(name, method_config(name)) for name in ("qrnca", "knowledge_neurons", "tn", "lape")),
        Variant("random", method_config("random"), controls=False),
        Variant("ablation", method_config("ablation"), modes=ALL_MODES),
    ]
}
"""The main comparison: NeuronLLM (IG, the paper's; and grad x act), the baselines, and the exact-ablation
oracle (the neurons whose single silencing changes F most; opt-in, see :data:`DEFAULT_VARIANTS`)."""

ORACLE_VARIANTS: tuple[str, ...] = ("ablation",)
"""Variants a comparison runs only when named: exact ablation of every neuron costs ~100-250 forward+backward
passes per question (docs/performance.md), far more than every other method together."""
DEFAULT_VARIANTS: tuple[str, ...] = tuple(v for v in VARIANTS if v not in ORACLE_VARIANTS)

SELECTION_MODES = ("enhance", "degrade", *GOOD_ONLY_MODES)
"""The modes of issue #14's grid: good-only modes compare with the positive-only baselines at equal K."""


def _selection(name: str, group: str, **options: Any) -> Variant:
    """A setting of NeuronLLM's selection (issue #14), grad x act unless it sets ``attribution``."""
    options.setdefault("attribution", "grad_x_act")
    config = method_config("neuronllm", **options)
    return Variant(name, config, modes=SELECTION_MODES, controls=False, group=group)


ABLATIONS: dict[str, list[Variant]] = {
    "objective": [
        _ablation(f"objective={o}", "objective", objective=o)
        for o in ("contrastive", "vocab_prob", "margin", "vocab_logprob")
    ],
    "permutations": [
        _ablation(f"permutations={n}", "permutations", answer_format="letter", n_permutations=n) for n in (1, 3, 6)
    ],
    # On a gated MLP, hook_post = act(gate) * up is linear in up, so grad x act, IG and x0/x2 steering give
    # the same numbers at hook_pre_linear as at hook_post; hook_pre (the gate) is the point that differs.
    "hook": [_ablation(f"hook={h}", "hook", hook=h) for h in ("mlp.hook_post", "mlp.hook_pre_linear", "mlp.hook_pre")],
    "k": [_ablation(f"k={k}", "k", k=k) for k in (10, 25, 50, 100, 200)],
    # issue #14: why do Knowledge Neurons' sets move the model more? Each a setting of NeuronLLM.
    "mask": [_selection(f"mask={m}", "mask", mask=m) for m in (True, False)],
    "aggregation": [_selection(f"aggregation={a}", "aggregation", aggregation=a) for a in AGGREGATIONS],
    "z": [_selection(f"z={z}", "z", z=z) for z in (0.01, 0.05, 0.2, 1.0)],
    "attribution": [
        _selection(f"attribution={a}", "attribution", attribution=a)
        for a in ("grad_x_act", "integrated_gradients", "ablation")
    ],
}
"""The reviewers' ablations (objective, permutations, hook, k: NeuronLLM with grad x act, Enhance/Degrade only)
and issue #14's selection grid (mask, aggregation, z, attribution: also the good-only modes and specificity)."""


def register_variant(variant: Variant, *, overwrite: bool = False) -> Variant:
    """Add a variant (your method, or a setting of one) that ``CompareConfig(variants=(...))`` can name."""
    if variant.name in VARIANTS and not overwrite:
        raise ValueError(f"variant {variant.name!r} exists already; pass overwrite=True to replace it.")
    VARIANTS[variant.name] = variant
    return variant


@dataclass(frozen=True)
class CompareConfig:
    """What :func:`~neuronllm_tl.comparison.run.run_comparison` runs; ``to_dict``/``from_dict`` round-trip it."""

    tasks: tuple[str, ...] = ("capitals-mini", "topics-mini", "sentiment-mini")
    """Task names (built-in or dataset) or paths of ``.jsonl`` question files (:func:`~neuronllm_tl.load_task`)."""
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    """Variant names (:data:`VARIANTS`); the exact-ablation oracle ``"ablation"`` only when named."""
    ablations: tuple[str, ...] = ()
    ablation_tasks: tuple[str, ...] | None = None
    """Tasks the ablations run on (default: the first task)."""
    k: int = DEFAULT_K
    z: float = 0.05
    n_identify: int = 64
    n_eval: int = 100
    controls: int = 3
    ig_steps: int = 16
    answer_format: str = "cloze"
    n_permutations: int = 3
    seeds: tuple[int, ...] = (0, 1, 2)
    """Identification/evaluation split seeds: every cell is run once per seed (its own split, neurons,
    controls), and the report gives the mean ± sd across seeds. An old ``seed: n`` is read as ``(n,)``."""
    unrelated: Mapping[str, str] | None = None
    """Task -> the task its specificity is measured on (default: the next task of ``tasks``, cyclically)."""
    data_files: Mapping[str, str] | None = None
    """Dataset task -> local file (e.g. ``{"sst2": "../shared/data/sst2/dev.tsv"}``)."""
    task_options: Mapping[str, Mapping[str, Any]] | None = None
    """Task -> extra options of :func:`~neuronllm_tl.load_task` for it, e.g.
    ``{"sst2": {"calibration": "contextual", "cloze_normalization": "char"}}``."""
    shots: Mapping[str, int] | None = None
    """Task -> k label-balanced demonstrations, drawn per seed from (and removed from) its identification
    split and shown before every question of both splits (``Task.split(..., shots=k)``)."""
    batch_size: int = 8
    max_rows: int = 64

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("CompareConfig.tasks is empty; name at least one task.")
        object.__setattr__(self, "seeds", _checked_seeds(self.seeds))
        self._check_task_settings()
        _check_names("variant", self.variants, VARIANTS)
        _check_names("ablation", self.ablations, ABLATIONS)
        for name in ("k", "n_identify", "n_eval", "ig_steps", "n_permutations"):
            check_positive_int(getattr(self, name), f"CompareConfig.{name}")
        if self.controls < 0:
            raise ValueError(f"CompareConfig.controls must be >= 0, got {self.controls}.")
        for task, other in self.unrelated_tasks().items():
            if other == task:
                raise ValueError(
                    f"task {task!r} cannot be its own unrelated task; give unrelated={{...}} or more tasks."
                )

    def _check_task_settings(self) -> None:
        known = {*self.tasks, *(self.ablation_tasks or ()), *self.unrelated_tasks().values()}
        for what, given in (("task_options", self.task_options), ("shots", self.shots)):
            unknown = sorted(set(given or {}) - known)
            if unknown:
                raise ValueError(
                    f"CompareConfig.{what} names task(s) {unknown} that this comparison does not run; "
                    f"its tasks are {sorted(known)} (use the names given in tasks=)."
                )
        for task, options in (self.task_options or {}).items():
            if not isinstance(options, Mapping):
                raise ValueError(f"CompareConfig.task_options[{task!r}] must be a mapping of load_task options.")
            for key in set(options) & set(RESERVED_TASK_OPTIONS):
                raise ValueError(f"CompareConfig.task_options[{task!r}] sets {key!r}: {RESERVED_TASK_OPTIONS[key]}.")
        for task, k in (self.shots or {}).items():
            if isinstance(k, bool) or not isinstance(k, int) or k < 0:
                raise ValueError(f"CompareConfig.shots[{task!r}] must be an int >= 0 (demonstrations), got {k!r}.")

    def unrelated_tasks(self) -> dict[str, str]:
        if self.unrelated is not None:
            return dict(self.unrelated)
        if len(self.tasks) < 2:
            return {}
        return {t: self.tasks[(i + 1) % len(self.tasks)] for i, t in enumerate(self.tasks)}

    def grid(self) -> list[tuple[str, Variant]]:
        cells = [(t, VARIANTS[v]) for t in self.tasks for v in self.variants]
        for t in self.ablation_tasks or self.tasks[:1]:
            cells += [(t, v) for a in self.ablations for v in ABLATIONS[a]]
        return cells

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompareConfig:
        """The config of ``to_dict``; a dict of an earlier version with one ``seed: n`` gets ``seeds=(n,)``."""
        d = dict(d)
        if "seed" in d:
            if "seeds" in d:
                raise ValueError("a compare config gives both 'seed' and 'seeds'; keep 'seeds' (a list of ints).")
            d["seeds"] = (d.pop("seed"),)
        for key in ("tasks", "variants", "ablations", "ablation_tasks", "seeds"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


RESERVED_TASK_OPTIONS = {
    "answer_format": "set CompareConfig.answer_format (or a Variant's answer_format) instead",
    "n_permutations": "set CompareConfig.n_permutations (or a Variant's n_permutations) instead",
    "seed": "the permutation seed is 0 for every task; split seeds are CompareConfig.seeds",
    "data_files": "set CompareConfig.data_files instead",
    "name": "a task is named by its entry in CompareConfig.tasks",
}
"""load_task options a comparison sets itself, which ``task_options`` may not override."""


def _checked_seeds(seeds: Any) -> tuple[int, ...]:
    how = "give distinct ints >= 0, e.g. seeds=(0, 1, 2), or seeds=(0,) for a single split"
    if isinstance(seeds, int | str) or not isinstance(seeds, Iterable):
        raise ValueError(f"CompareConfig.seeds must be a tuple of split seeds, got {seeds!r}; {how}.")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError(f"CompareConfig.seeds is empty; {how}.")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if bad:
        raise ValueError(f"CompareConfig.seeds holds {bad}, which are not ints >= 0; {how}.")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"CompareConfig.seeds repeats {repeated}; {how} (here {tuple(dict.fromkeys(seeds))}).")
    return seeds


def _check_names(kind: str, names: tuple[str, ...], known: Mapping[str, Any]) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown {kind}(s) {unknown}; choose from {sorted(known)}.")
