"""The comparison protocol: per split seed, every method identifies neurons on one split and is steered on another.

For each task and each split seed (``CompareConfig.seeds``; :mod:`neuronllm_tl.comparison.splits`), each
method (a :class:`~neuronllm_tl.comparison.config.Variant`) identifies its neurons on that seed's
identification split. Each steering mode is then applied on the same seed's held-out split, to

* the identified set (``neurons="identified"``),
* ``controls`` random sets with the same per-layer counts of good and bad neurons (under split seed s,
  control seeds s * controls + 0, 1, ...: distinct across split seeds, and 0, 1, ... for seed 0),
* and, for specificity, the identified set on the same seed's held-out split of an *unrelated* task.

Every evaluated cell is one line of ``cells.jsonl``: a :class:`~neuronllm_tl.comparison.cells.Cell` with a
:class:`~neuronllm_tl.evaluation.measurement.SteeringMeasurement`, per held-out example (its permutations'
mean), from which the report's paired confidence intervals come (clustered by example across split seeds,
:mod:`neuronllm_tl.comparison.intervals`). A steered cell stores only its final state, joined on reading to its
split's unsteered cell; examples are named (:func:`~neuronllm_tl.tasks.identity.example_ids`) from this run's
held-out split, which the content key fixes: neither is stored twice. Every method steers ``k`` good neurons;
NeuronLLM also has ``k`` bad neurons, for the modes that name them; each row records how many it steered.

Resumable and never stale: attributions, neuron sets and cells are keyed by the content that made them
(:mod:`neuronllm_tl.comparison.store`; a split's content is its examples, so each seed gets its own): a
rerun recomputes exactly what changed, and says so. Manifest names carry the split seed. With ``reuse_only``
set, a run computes nothing: where an artefact is not stored it raises :class:`NotStored`
(:func:`~neuronllm_tl.comparison.schedule.run_comparison` uses it to collect, after its time budget, the cells
an earlier run of another grid already measured).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from neuronllm_tl.attribution.collect import TaskAttributions, collect_attributions
from neuronllm_tl.attribution.stream import AttributionRequest, RunOptions
from neuronllm_tl.comparison.cells import Cell
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.splits import Splits, label, make_splits, with_example_ids
from neuronllm_tl.comparison.store import ArtefactStore
from neuronllm_tl.comparison.variants import Variant
from neuronllm_tl.evaluation.measurement import SteeringMeasurement, following, measure
from neuronllm_tl.methods.base import MethodConfig
from neuronllm_tl.methods.registry import identify
from neuronllm_tl.models.fingerprint import model_fingerprint
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.shared_prompt import PromptCache
from neuronllm_tl.steering.modes import MODES
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.version import __version__


class NotStored(Exception):
    """A reuse-only run met an artefact it would have to compute (the exception's text names it)."""


@dataclass(frozen=True)
class Target:
    """Where a steered cell is measured: a held-out split, its role (target or unrelated) and split seed."""

    task: Task
    role: str
    split_seed: int


@dataclass
class ComparisonRun:
    """The state of one comparison: the model, the configuration, and the content-keyed store."""

    model: HookedModel
    config: CompareConfig
    store: ArtefactStore
    progress: bool = False
    log: Callable[[str], None] = print
    _splits: dict[tuple[str, str, int, int], Splits] = field(default_factory=dict)
    cells: dict[str, Cell] = field(default_factory=dict)
    """This run's cells by readable name, labelled by this run: the report is built from these alone."""
    prompt_cache: PromptCache = field(default_factory=PromptCache)
    """The held-out prompts' caches: every cell of a split steers at the answer position, so its prompts run once."""
    reuse_only: bool = False
    """Compute nothing: raise :class:`NotStored` where an artefact is not in the store."""
    identify_seconds: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    """Per distinct neuron set (its key) this run used: (task, first variant, seconds its identification took)."""

    def __post_init__(self) -> None:
        self.model_fp = model_fingerprint(self.model)

    def _compute(self, name: str) -> None:
        """Called before anything is computed."""
        if self.reuse_only:
            raise NotStored(name)

    # ----- tasks
    def splits(self, task: str, answer_format: str, n_permutations: int, seed: int) -> Splits:
        key = (task, answer_format, n_permutations, seed)
        if key not in self._splits:
            self._splits[key] = make_splits(self.config, task, answer_format, n_permutations, seed=seed)
        return self._splits[key]

    def identify_task(self, task: str, v: Variant, seed: int) -> Task:
        cfg = self.config
        fmt, perms = v.answer_format or cfg.answer_format, v.n_permutations or cfg.n_permutations
        return self.splits(task, fmt, perms, seed).identify

    def eval_task(self, task: str, v: Variant, seed: int) -> Task:
        """The held-out split, always with the configured number of permutations (so that variants that
        identify with 1 or 6 permutations are measured on the same questions)."""
        fmt = v.answer_format or self.config.answer_format
        return self.splits(task, fmt, self.config.n_permutations, seed).evaluate

    def _parts(self, task: Task, **more: Any) -> dict[str, Any]:
        return {"model": self.model_fp, "task": task.fingerprint(), "version": __version__, **more}

    # ----- cached artefacts
    def attributions(self, task_name: str, task: Task, request: AttributionRequest, seed: int) -> TaskAttributions:
        name = f"{label(task, seed)} / attributions {json.dumps(request.to_dict(), sort_keys=True)}"
        key = self.store.key(name, self._parts(task, request=request.to_dict()))
        stem = f"{task_name}-{request.estimator}-{request.objective}"
        path = self.store.path("attributions", stem, key, ".safetensors")
        if path.is_file():
            return TaskAttributions.load(path)
        start = time.time()
        run = RunOptions(batch_size=self.config.batch_size, max_rows=self.config.max_rows, progress=self.progress)
        attr = collect_attributions(self.model, task, request, run)
        attr.metadata["seconds"] = time.time() - start
        self.log(f"  attributions {stem} ({request.hook}): {attr.metadata['seconds']:.0f} s")
        attr.save(path)
        return attr

    def method_config(self, v: Variant) -> MethodConfig:
        """The variant's config with the comparison's shared settings, for the methods that have them."""
        return v.config.with_defaults(ig_steps=self.config.ig_steps, z=self.config.z)

    def neurons(self, task_name: str, v: Variant, seed: int) -> tuple[NeuronSet, str]:
        """The variant's neuron set on the task's identification split of ``seed``, and its content key."""
        task, config, k = self.identify_task(task_name, v, seed), self.method_config(v), v.k or self.config.k
        contrast = self._contrast_tasks(task_name, v, seed) if config.needs_contrast_tasks else []
        parts = self._parts(task, config=config.to_dict(), k=k, contrast=[t.fingerprint() for t in contrast])
        key = self.store.key(f"{task_name} / seed {seed} / {v.name}", parts)
        path = self.store.path("neurons", f"{task_name}-{v.name}", key, ".neurons")
        if path.is_dir() or key in self.store.neuron_sets:
            neurons = NeuronSet.load(path) if path.is_dir() else NeuronSet.from_record(self.store.neuron_sets[key])
            if key not in self.store.neuron_sets:  # a folder of an earlier version: keep its compact record too
                self.store.record_neuron_set(key, neurons.to_record())
            return self._timed_set(key, task_name, v, neurons)
        self._compute(f"{task_name} / seed {seed} / {v.name}")
        start = time.time()
        request = config.attribution_request()
        attributions = self.attributions(task_name, task, request, seed) if request is not None else None
        neurons = identify(
            self.model,
            task,
            config=config,
            k=k,
            attributions=attributions,
            contrast_tasks=contrast,
            batch_size=self.config.batch_size,
            max_rows=self.config.max_rows,
        )
        if attributions is not None:
            neurons.metadata["attribution_seconds"] = attributions.metadata.get("seconds")
        neurons.metadata.update(variant=v.to_dict(), split_seed=seed, selection_seconds=time.time() - start)
        neurons.save(path)
        self.store.record_neuron_set(key, neurons.to_record())
        return self._timed_set(key, task_name, v, neurons)

    def _timed_set(self, key: str, task_name: str, v: Variant, neurons: NeuronSet) -> tuple[NeuronSet, str]:
        seconds = float(neurons.metadata.get("selection_seconds") or 0.0)
        self.identify_seconds.setdefault(key, (task_name, v.name, seconds))
        return neurons, key

    def _contrast_tasks(self, task_name: str, v: Variant, seed: int) -> list[Task]:
        return [self.identify_task(t, v, seed) for t in self.config.tasks if t != task_name]

    # ----- cells
    def _score_options(self) -> dict[str, Any]:
        return {"batch_size": self.config.batch_size * 2, "prompt_cache": self.prompt_cache}

    def unsteered(self, eval_task: Task, seed: int) -> SteeringMeasurement:
        """The unsteered measurement of ``eval_task`` (one written by an earlier version, without per-example
        values, is rescored: a new steered cell needs them for its intervals)."""
        key = self.store.key(f"{label(eval_task, seed)} / unsteered", self._parts(eval_task))
        stored = self.store.cells.get(key)
        cell = None if stored is None else Cell.from_dict(stored)
        if cell is None or cell.measurement.per_example is None:
            self._compute(f"{label(eval_task, seed)} / unsteered")
            m = measure(self.model, eval_task, None, **self._score_options())
            stored = self.store.record(Cell("unsteered", m, eval_task=eval_task.name, key=key).to_dict())
            cell = Cell.from_dict(stored)  # as a rerun reads it (rounded): both print the same intervals
        cell = with_example_ids(cell, eval_task).with_labels(eval_task=eval_task.name, split_seed=seed)
        self.cells[f"{label(eval_task, seed)} / unsteered"] = cell  # the format too: a sweep asks in letters
        return cell.measurement

    def steer_cell(
        self,
        task: str,
        v: Variant,
        mode: str,
        neurons: tuple[NeuronSet, str],
        which: str,
        seed: int | None,
        at: Target,
    ) -> None:
        """Measure (or reuse) one steered evaluation. The store keys what was measured by content; the labels
        (task, variant, split seed, ...) come from this run, so two names for the same content each get their
        rows. ``seed`` is a random control's seed (None for the identified set)."""
        neuron_set, neurons_key = neurons
        name = f"{task} / seed {at.split_seed} / {v.name} / {mode} / {which}{'' if seed is None else seed} / {at.role}"
        parts = self._parts(at.task, neurons=neurons_key, mode=MODES[mode].factors, which=which, seed=seed)
        key = self.store.key(name, parts)
        steering = Steering.from_mode(neuron_set, mode)
        if key not in self.store.cells:
            self._compute(name)
            before = self.unsteered(at.task, at.split_seed)
            m = measure(self.model, at.task, steering, before=before, **self._score_options())
            self.store.record(Cell("steer", m.final(), key=key).to_dict())  # its before is the unsteered cell's
        stored = Cell.from_dict(self.store.cells[key])
        m = stored.measurement
        if m.is_unchanged() and m.per_example is not None:  # its final state: join the split's unsteered one
            m = following(self.unsteered(at.task, at.split_seed), m, seconds=m.seconds)
        cell = with_example_ids(replace(stored, measurement=m), at.task)
        if cell.n_steered != steering.n_steered:  # a cell of an earlier version did not store it
            cell = replace(cell, measurement=replace(cell.measurement, n_steered=steering.n_steered))
        self.cells[name] = cell.with_labels(
            task=task,
            variant=v.name,
            method=v.method,
            group=v.group,
            mode=mode,
            neurons=which,
            seed=seed,
            split_seed=at.split_seed,
            eval=at.role,
            eval_task=at.task.name,
            n_good=len(neuron_set.good),
            n_bad=len(neuron_set.bad),
        )

    def run_cell(self, task: str, v: Variant, split_seed: int) -> None:
        neurons = self.neurons(task, v, split_seed)
        target = Target(self.eval_task(task, v, split_seed), "target", split_seed)
        unrelated = self.config.unrelated_tasks().get(task)
        n_controls = self.config.controls if v.controls else 0
        for mode in v.modes:
            if not _applies(mode, neurons[0]):
                continue
            self.steer_cell(task, v, mode, neurons, "identified", None, target)
            for seed in range(split_seed * n_controls, (split_seed + 1) * n_controls):
                control = neurons[0].random_like(seed)
                self.steer_cell(task, v, mode, (control, neurons[1]), "random", seed, target)
            if v.specificity and unrelated is not None:
                other = Target(self.eval_task(unrelated, v, split_seed), "unrelated", split_seed)
                self.steer_cell(task, v, mode, neurons, "identified", None, other)

    def check_tasks(self, grid: list[tuple[str, Variant]]) -> None:
        """Load and split every task of the grid under every seed before anything is computed, so that a
        wrong task option or too few examples stops the run at once rather than after an hour."""
        for task, v in grid:
            for seed in self.config.seeds:
                self.identify_task(task, v, seed)
                self.eval_task(task, v, seed)
                if task in self.config.unrelated_tasks():
                    self.eval_task(self.config.unrelated_tasks()[task], v, seed)


def _applies(mode: str, neurons: NeuronSet) -> bool:
    """A mode that only touches an empty group would measure nothing; one that touches two groups of
    which one is empty duplicates the single-group mode. Both are skipped."""
    present = {g for g in ("good", "bad") if len(getattr(neurons, g))}
    return set(MODES[mode].factors) <= present
