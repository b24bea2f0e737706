"""What a comparison runs: :class:`CompareConfig`, the whole grid of tasks x variants x split seeds (the
variants and the sweeps are :mod:`neuronllm_tl.comparison.variants`).

Example:
    >>> cfg = CompareConfig(tasks=("capitals-mini", "topics-mini"), variants=("neuronllm_gxa", "tn", "random"))
    >>> len(cfg.grid()), cfg.unrelated_tasks()          # tasks x variants; specificity on the other task
    (6, {'capitals-mini': 'topics-mini', 'topics-mini': 'capitals-mini'})
    >>> cfg = CompareConfig(tasks=("sst2",), seeds=(0, 1, 2), shots={"sst2": 4},
    ...                     task_options={"sst2": {"calibration": "contextual", "cloze_normalization": "char"}})
    >>> cfg = CompareConfig(tasks=("capitals-mini", "arc_easy"), skip={"arc_easy": ("neuronllm_ig", "qrnca")})
    >>> [v.name for t, v in cfg.grid() if t == "arc_easy"]
    ['neuronllm_gxa', 'knowledge_neurons', 'tn', 'lape', 'random']
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import InitVar, asdict, dataclass
from typing import Any

from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.comparison.variants import (
    DEFAULT_VARIANTS,
    SWEEPS,
    VARIANTS,
    Variant,
    renamed,
)
from neuronllm_tl.methods.registry import DEFAULT_K


@dataclass(frozen=True)
class CompareConfig:
    """What :func:`~neuronllm_tl.comparison.schedule.run_comparison` runs; ``to_dict``/``from_dict`` round-trip it."""

    tasks: tuple[str, ...] = ("capitals-mini", "topics-mini", "sentiment-mini")
    """Task names (built-in or dataset) or paths of ``.jsonl`` question files (:func:`~neuronllm_tl.load_task`)."""
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    """Variant names (:data:`VARIANTS`); the exact-ablation oracle ``"ablation_oracle"`` only when named."""
    sweeps: tuple[str, ...] = ()
    """Groups of settings of NeuronLLM to run (:data:`~neuronllm_tl.comparison.variants.SWEEPS`), e.g. ``("z",)``."""
    sweep_tasks: tuple[str, ...] | None = None
    """Tasks the sweeps run on (default: the first task)."""
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
    skip: Mapping[str, tuple[str, ...]] | None = None
    """Task -> variants of ``variants`` not run on it, e.g. ``{"arc_easy": ("neuronllm_ig", "qrnca")}`` where
    exact IG over long multi-token answers costs more than the grid's budget; the report lists what was skipped.
    A sweep group of ``sweeps`` (``"objective"``) or one of its settings (``"z=1.0"``) is skipped on that task
    of ``sweep_tasks`` the same way."""
    ablations: InitVar[tuple[str, ...] | None] = None
    """The earlier name of ``sweeps`` (a FutureWarning; it goes in the next release)."""
    ablation_tasks: InitVar[tuple[str, ...] | None] = None
    """The earlier name of ``sweep_tasks`` (a FutureWarning; it goes in the next release)."""

    def __post_init__(self, ablations: tuple[str, ...] | None, ablation_tasks: tuple[str, ...] | None) -> None:
        self._take_renamed(sweeps=ablations, sweep_tasks=ablation_tasks)
        if not self.tasks:
            raise ValueError("CompareConfig.tasks is empty; name at least one task.")
        object.__setattr__(self, "seeds", _checked_seeds(self.seeds))
        object.__setattr__(self, "variants", renamed(tuple(self.variants)))
        self._check_task_settings()
        _check_names("variant", self.variants, VARIANTS)
        _check_names("sweep", self.sweeps, SWEEPS)
        if self.skip is not None:
            self._check_skip()
        for name in ("k", "n_identify", "n_eval", "ig_steps", "n_permutations"):
            check_positive_int(getattr(self, name), f"CompareConfig.{name}")
        if self.controls < 0:
            raise ValueError(f"CompareConfig.controls must be >= 0, got {self.controls}.")
        for task, other in self.unrelated_tasks().items():
            if other == task:
                raise ValueError(
                    f"task {task!r} cannot be its own unrelated task; give unrelated={{...}} or more tasks."
                )

    def _take_renamed(self, **given: tuple[str, ...] | None) -> None:
        old_names = {"sweeps": "ablations", "sweep_tasks": "ablation_tasks"}
        for field, value in given.items():
            if value is None:
                continue
            if getattr(self, field) not in ((), None):
                raise ValueError(f"CompareConfig got {field}= and {old_names[field]}=; give {field}= only.")
            warnings.warn(
                f"CompareConfig({old_names[field]}=...) is now CompareConfig({field}=...); the old name goes in the "
                "next release.",
                FutureWarning,
                stacklevel=4,
            )
            object.__setattr__(self, field, tuple(value))

    def _check_task_settings(self) -> None:
        known = {*self.tasks, *(self.sweep_tasks or ()), *self.unrelated_tasks().values()}
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

    def _check_skip(self) -> None:
        skip = {t: renamed(tuple(v)) for t, v in (self.skip or {}).items()}
        object.__setattr__(self, "skip", skip)
        swept_tasks = self.sweep_tasks or self.tasks[:1]
        swept = [name for group in self.sweeps for name in (group, *(v.name for v in SWEEPS[group]))]
        for task, names in skip.items():
            if task not in self.tasks and task not in swept_tasks:
                raise ValueError(
                    f"CompareConfig.skip names task {task!r}, not one of tasks {list(self.tasks)} or sweep_tasks "
                    f"{list(swept_tasks)}."
                )
            known = [*(self.variants if task in self.tasks else ()), *(swept if task in swept_tasks else ())]
            _check_names(f"variant or sweep run on {task!r}", names, dict.fromkeys(known))

    def unrelated_tasks(self) -> dict[str, str]:
        if self.unrelated is not None:
            return dict(self.unrelated)
        if len(self.tasks) < 2:
            return {}
        return {t: self.tasks[(i + 1) % len(self.tasks)] for i, t in enumerate(self.tasks)}

    def grid(self) -> list[tuple[str, Variant]]:
        skip = self.skip or {}
        cells = [(t, VARIANTS[v]) for t in self.tasks for v in self.variants if v not in skip.get(t, ())]
        for t in self.sweep_tasks or self.tasks[:1]:
            cells += [(t, v) for s in self.sweeps for v in SWEEPS[s] if not {s, v.name} & set(skip.get(t, ()))]
        return cells

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompareConfig:
        """The config of ``to_dict``. A dict of an earlier version is read too: one ``seed: n`` gets ``seeds=(n,)``,
        and ``ablations`` / ``ablation_tasks`` are ``sweeps`` / ``sweep_tasks``."""
        d = dict(d)
        for old, new in (("ablations", "sweeps"), ("ablation_tasks", "sweep_tasks")):
            if old in d:
                d.setdefault(new, d.pop(old))
        if "seed" in d:
            if "seeds" in d:
                raise ValueError("a compare config gives both 'seed' and 'seeds'; keep 'seeds' (a list of ints).")
            d["seeds"] = (d.pop("seed"),)
        for key in ("tasks", "variants", "sweeps", "sweep_tasks", "seeds"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        if d.get("skip") is not None:
            d["skip"] = {task: tuple(variants) for task, variants in d["skip"].items()}
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


__all__ = ["RESERVED_TASK_OPTIONS", "CompareConfig"]
