"""The comparison protocol: every method identifies neurons on one split and is steered on another.

For each task, each method (a :class:`~neuronllm_tl.comparison.config.Variant`) identifies its neurons on
the identification split. Each steering mode is then applied on the held-out split, to

* the identified set (``neurons="identified"``),
* ``controls`` random sets with the same per-layer counts of good and bad neurons (seeds 0, 1, ...),
* and, for specificity, the identified set on the held-out split of an *unrelated* task.

Every evaluated cell is one line of ``cells.jsonl``: accuracy and p(correct) before and after, and the
same per held-out example (``per_example``: each example's mean over its permutations), from which the
report's paired confidence intervals come. The metrics are computed from those lines
(:mod:`neuronllm_tl.comparison.report`). Every method steers ``k`` good neurons; NeuronLLM also has ``k``
bad neurons, used by the modes that name them, and each row records how many neurons it steered.

Resumable and never stale: attributions, neuron sets and cells are keyed by the content that made them
(:mod:`neuronllm_tl.comparison.store`): a rerun recomputes exactly what changed, and says so.

Example:
    >>> cfg = CompareConfig(tasks=("capitals-mini", "topics-mini"), variants=("neuronllm_gxa", "tn", "random"))
    >>> result = run_comparison(model, cfg, out="compare_out")
    >>> print(result.markdown)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuronllm_tl.attribution.collect import TaskAttributions, collect_attributions
from neuronllm_tl.attribution.stream import AttributionRequest, RunOptions
from neuronllm_tl.comparison.config import CompareConfig, Variant
from neuronllm_tl.comparison.report import ComparisonResult
from neuronllm_tl.comparison.store import ArtefactStore
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.methods.base import MethodConfig
from neuronllm_tl.methods.registry import identify
from neuronllm_tl.models.fingerprint import model_fingerprint
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.steering.modes import MODES
from neuronllm_tl.steering.steering import Steering
from neuronllm_tl.tasks.registry import load_task
from neuronllm_tl.tasks.task import Task
from neuronllm_tl.version import __version__


@dataclass
class Splits:
    identify: Task
    evaluate: Task


@dataclass
class ComparisonRun:
    """The state of one comparison: the model, the configuration, and the content-keyed store."""

    model: HookedModel
    config: CompareConfig
    store: ArtefactStore
    progress: bool = False
    log: Callable[[str], None] = print
    _splits: dict[tuple[str, str, int], Splits] = field(default_factory=dict)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    """This run's cells by readable name, labelled by this run: the report is built from these alone."""

    def __post_init__(self) -> None:
        self.model_fp = model_fingerprint(self.model)

    # ----- tasks
    def splits(self, task: str, answer_format: str, n_permutations: int) -> Splits:
        key = (task, answer_format, n_permutations)
        if key not in self._splits:
            cfg = self.config
            full = load_task(
                task,
                data_files=(cfg.data_files or {}).get(task),
                answer_format=answer_format,
                n_permutations=n_permutations,
                seed=0,
            )
            if len(full) < 2:
                raise ValueError(f"task {task!r} has {len(full)} example(s); the protocol needs two splits.")
            n = min(len(full), cfg.n_identify + cfg.n_eval)
            fraction = cfg.n_identify / (cfg.n_identify + cfg.n_eval)
            self._splits[key] = Splits(*full.subset(range(n)).split(fraction, seed=cfg.seed))
        return self._splits[key]

    def identify_task(self, task: str, v: Variant) -> Task:
        cfg = self.config
        return self.splits(task, v.answer_format or cfg.answer_format, v.n_permutations or cfg.n_permutations).identify

    def eval_task(self, task: str, v: Variant) -> Task:
        """The held-out split, always with the configured number of permutations (so that variants that
        identify with 1 or 6 permutations are measured on the same questions)."""
        return self.splits(task, v.answer_format or self.config.answer_format, self.config.n_permutations).evaluate

    def _parts(self, task: Task, **more: Any) -> dict[str, Any]:
        return {"model": self.model_fp, "task": task.fingerprint(), "version": __version__, **more}

    # ----- cached artefacts
    def attributions(self, task_name: str, task: Task, request: AttributionRequest) -> TaskAttributions:
        name = f"{_label(task)} / attributions {json.dumps(request.to_dict(), sort_keys=True)}"
        key = self.store.key(name, self._parts(task, request=request.to_dict()))
        path = self.store.path("attributions", f"{task_name}-{request.method}-{request.objective}", key, ".safetensors")
        if path.is_file():
            return TaskAttributions.load(path)
        start = time.time()
        run = RunOptions(batch_size=self.config.batch_size, max_rows=self.config.max_rows, progress=self.progress)
        attr = collect_attributions(self.model, task, request, run)
        attr.metadata["seconds"] = time.time() - start
        self.log(
            f"  attributions {task_name} {request.method}/{request.objective} ({request.hook}): "
            f"{attr.metadata['seconds']:.0f} s"
        )
        attr.save(path)
        return attr

    def method_config(self, v: Variant) -> MethodConfig:
        """The variant's config with the comparison's shared settings, for the methods that have them."""
        return v.config.with_defaults(ig_steps=self.config.ig_steps, z=self.config.z)

    def neurons(self, task_name: str, v: Variant) -> tuple[NeuronSet, str]:
        """The variant's neuron set on the task's identification split, and its content key."""
        task, config, k = self.identify_task(task_name, v), self.method_config(v), v.k or self.config.k
        contrast = self._contrast_tasks(task_name, v) if config.needs_contrast_tasks else []
        parts = self._parts(task, config=config.to_dict(), k=k, contrast=[t.fingerprint() for t in contrast])
        key = self.store.key(f"{task_name} / {v.name}", parts)
        path = self.store.path("neurons", f"{task_name}-{v.name}", key, ".neurons")
        if path.is_dir():
            return NeuronSet.load(path), key
        start = time.time()
        request = config.attribution_request()
        attributions = self.attributions(task_name, task, request) if request is not None else None
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
        neurons.metadata.update(variant=v.to_dict(), selection_seconds=time.time() - start)
        neurons.save(path)
        return neurons, key

    def _contrast_tasks(self, task_name: str, v: Variant) -> list[Task]:
        return [self.identify_task(t, v) for t in self.config.tasks if t != task_name]

    # ----- cells
    def unsteered(self, eval_task: Task) -> dict[str, Any]:
        """The unsteered cell of ``eval_task`` (one written by an earlier version, without per-example values,
        is rescored: a new steered cell needs them for its intervals)."""
        key = self.store.key(f"{_label(eval_task)} / unsteered", self._parts(eval_task))
        if "per_example" not in self.store.cells.get(key, {}):
            start = time.time()
            s = score_task(self.model, eval_task, batch_size=self.config.batch_size * 2)
            self.store.record(
                {
                    "key": key,
                    "kind": "unsteered",
                    "eval_task": eval_task.name,
                    "accuracy": s.accuracy,
                    "p_correct": s.mean_p_correct,
                    "per_example": {
                        "accuracy": s.per_example_accuracy().tolist(),
                        "p": s.per_example_p_correct().tolist(),
                    },
                    "seconds": time.time() - start,
                }
            )
        self.cells[f"{eval_task.name} / unsteered"] = {**self.store.cells[key], "eval_task": eval_task.name}
        return self.store.cells[key]

    def steer_cell(
        self,
        task: str,
        v: Variant,
        mode: str,
        neurons: tuple[NeuronSet, str],
        which: str,
        seed: int | None,
        eval_task: Task,
        role: str,
    ) -> None:
        """Measure (or reuse) one steered evaluation. The store keys what was measured by content; the labels
        (task, variant, ...) come from this run, so two names for the same content each get their rows."""
        neuron_set, neurons_key = neurons
        name = f"{task} / {v.name} / {mode} / {which}{'' if seed is None else seed} / {role}"
        parts = self._parts(eval_task, neurons=neurons_key, mode=MODES[mode].factors, which=which, seed=seed)
        key = self.store.key(name, parts)
        steering = Steering.from_mode(neuron_set, mode)
        if key not in self.store.cells:
            self.store.record({"key": key, "kind": "steer", **self._measure(eval_task, steering)})
        labels = {
            "task": task, "variant": v.name, "method": v.method, "group": v.group, "mode": mode, "neurons": which,
            "seed": seed, "eval": role, "eval_task": eval_task.name, "n_good": len(neuron_set.good),
            "n_bad": len(neuron_set.bad), "n_steered": steering.n_steered,
        }  # fmt: skip
        self.cells[name] = {**self.store.cells[key], **labels}

    def _measure(self, eval_task: Task, steering: Steering) -> dict[str, Any]:
        before = self.unsteered(eval_task)
        start = time.time()
        s = score_task(self.model, eval_task, steering=steering, batch_size=self.config.batch_size * 2)
        per_example = {
            "accuracy_before": before["per_example"]["accuracy"],
            "accuracy_after": s.per_example_accuracy().tolist(),
            "p_before": before["per_example"]["p"],
            "p_after": s.per_example_p_correct().tolist(),
        }
        return {
            "accuracy_before": before["accuracy"],
            "accuracy_after": s.accuracy,
            "p_before": before["p_correct"],
            "p_after": s.mean_p_correct,
            "per_example": per_example,
            "seconds": time.time() - start,
        }

    def run_cell(self, task: str, v: Variant) -> None:
        neurons = self.neurons(task, v)
        target = self.eval_task(task, v)
        unrelated = self.config.unrelated_tasks().get(task)
        for mode in v.modes:
            if not _applies(mode, neurons[0]):
                continue
            self.steer_cell(task, v, mode, neurons, "identified", None, target, "target")
            for i in range(self.config.controls if v.controls else 0):
                seed = self.config.seed + i
                control = neurons[0].random_like(seed)
                self.steer_cell(task, v, mode, (control, neurons[1]), "random", seed, target, "target")
            if v.specificity and unrelated is not None:
                self.steer_cell(task, v, mode, neurons, "identified", None, self.eval_task(unrelated, v), "unrelated")


def _label(task: Task) -> str:
    """A task's readable name in the store's manifest: its name, read-out and questions per example (one
    comparison asks the same split in several formats, e.g. the permutations ablation)."""
    return f"{task.name} [{task.answer_format}, {task.effective_permutations} question(s) per example]"


def _applies(mode: str, neurons: NeuronSet) -> bool:
    """A mode that only touches an empty group would measure nothing; one that touches two groups of
    which one is empty duplicates the single-group mode. Both are skipped."""
    present = {g for g in ("good", "bad") if len(getattr(neurons, g))}
    return set(MODES[mode].factors) <= present


def run_comparison(
    model: HookedModel,
    config: CompareConfig,
    *,
    out: str | Path,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> ComparisonResult:
    """Run (or resume) the grid of ``config`` and write ``results.md``, ``results.csv`` and plots to ``out``."""
    out = Path(out)
    store = ArtefactStore(out, log)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    run = ComparisonRun(model, config, store, progress=progress, log=log)
    start = time.time()
    grid = config.grid()
    if len(config.tasks) < 2 and any(v.config.needs_contrast_tasks for _, v in grid):
        log("methods that contrast tasks (lape) need at least two tasks; they are skipped.")
        grid = [(t, v) for t, v in grid if not v.config.needs_contrast_tasks]
    for i, (task, v) in enumerate(grid):
        log(f"[{i + 1}/{len(grid)}] {task} / {v.name} ({time.time() - start:.0f} s)")
        run.run_cell(task, v)
    result = ComparisonResult.from_cells(list(run.cells.values()), config)
    result.write(out)
    return result
