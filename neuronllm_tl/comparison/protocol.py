"""The comparison protocol: every method identifies neurons on one split and is steered on another.

For each task, each method (a :class:`Variant`: NeuronLLM with some attribution, objective, hook,
K and permutation count, or a baseline) identifies its neurons on the identification split. Each
steering mode is then applied on the held-out split, to

* the identified set (``neurons="identified"``),
* ``controls`` random sets with the same per-layer counts of good and bad neurons (seeds 0, 1, ...),
* and, for specificity, the identified set on the held-out split of an *unrelated* task.

Every evaluated cell is one line of ``cells.jsonl``: accuracy and p(correct) before and after.
The metrics are computed from those lines (:mod:`neuronllm_tl.comparison.report`). Every method
steers ``k`` good neurons; NeuronLLM also has ``k`` bad neurons, used by the modes that name them
(``enhance``, ``degrade``, ``*_bad``), and each row records how many neurons it steered.

Resumable: attributions, neuron sets and cells are files under ``out``, keyed by what produced them.
A rerun after a crash or Ctrl-C recomputes nothing that finished (a cell is one appended line; a
half-written last line is ignored).

Example:
    >>> cfg = CompareConfig(tasks=("capitals-mini", "topics-mini"), variants=("neuronllm_gxa", "tn", "random"))
    >>> result = run_comparison(model, cfg, out="compare_out")
    >>> print(result.markdown)
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from neuronllm_tl.attribution.collect import TaskAttributions, collect_attributions
from neuronllm_tl.baselines.registry import BASELINES, attribution_request, baseline_config, identify_baseline
from neuronllm_tl.evaluation.evaluate import score_task
from neuronllm_tl.models.validation import DEFAULT_HOOK
from neuronllm_tl.neurons.identify import identify_from_attributions
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.objectives import check_objective
from neuronllm_tl.steering.hooks import MODES
from neuronllm_tl.tasks.task import Task

ALL_MODES = ("enhance", "degrade", "excite_good", "silence_good", "excite_bad", "silence_bad")
GOOD_ONLY_MODES = ("excite_good", "silence_good")
EXPECTED_SIGN = {"enhance": 1, "excite_good": 1, "silence_bad": 1, "degrade": -1, "silence_good": -1, "excite_bad": -1}
"""The direction of p(correct) each mode should move if the neurons are what their method claims."""


@dataclass(frozen=True)
class Variant:
    """One neuron-identification method with its settings: a row group of the comparison."""

    name: str
    method: str
    """``"neuronllm"`` or a baseline of :data:`neuronllm_tl.baselines.registry.BASELINES`."""
    attribution: str = "integrated_gradients"
    objective: str = "contrastive"
    hook: str = DEFAULT_HOOK
    k: int | None = None
    answer_format: str | None = None
    n_permutations: int | None = None
    modes: tuple[str, ...] = GOOD_ONLY_MODES
    controls: bool = True
    specificity: bool = True
    group: str = "main"

    def __post_init__(self) -> None:
        if self.method != "neuronllm" and self.method not in BASELINES:
            raise ValueError(f"variant {self.name!r}: unknown method {self.method!r}; choose 'neuronllm' or one of {BASELINES}.")
        check_objective(self.objective)
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ValueError(f"variant {self.name!r}: unknown modes {unknown}; choose from {sorted(MODES)}.")


def _ablation(name: str, group: str, **kw: Any) -> Variant:
    return Variant(name, "neuronllm", attribution="grad_x_act", modes=("enhance", "degrade"), controls=False,
                   specificity=False, group=group, **kw)


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("neuronllm", "neuronllm", modes=ALL_MODES),
        Variant("neuronllm_gxa", "neuronllm", attribution="grad_x_act", modes=("enhance", "degrade", *GOOD_ONLY_MODES)),
        Variant("qrnca", "qrnca"),
        Variant("knowledge_neurons", "knowledge_neurons"),
        Variant("tn", "tn"),
        Variant("lape", "lape"),
        Variant("random", "random", controls=False),
    ]
}
"""The main comparison: NeuronLLM (IG, the paper's; and grad x act) and the baselines."""

ABLATIONS: dict[str, list[Variant]] = {
    "objective": [_ablation(f"objective={o}", "objective", objective=o) for o in ("contrastive", "vocab_prob", "margin")],
    "permutations": [
        _ablation(f"permutations={n}", "permutations", answer_format="letter", n_permutations=n) for n in (1, 3, 6)
    ],
    # On a gated MLP, hook_post = act(gate) * up is linear in up, so grad x act, IG and x0/x2 steering give
    # the same numbers at hook_pre_linear as at hook_post; hook_pre (the gate) is the point that differs.
    "hook": [_ablation(f"hook={h}", "hook", hook=h) for h in ("mlp.hook_post", "mlp.hook_pre_linear", "mlp.hook_pre")],
    "k": [_ablation(f"k={k}", "k", k=k) for k in (10, 25, 50, 100, 200)],
}
"""The reviewers' ablations, all on NeuronLLM with grad x act (cheap) and Enhance/Degrade only."""


@dataclass(frozen=True)
class CompareConfig:
    """What :func:`run_comparison` runs. ``to_dict``/``from_dict`` round-trip it through JSON."""

    tasks: tuple[str, ...] = ("capitals-mini", "topics-mini", "sentiment-mini")
    variants: tuple[str, ...] = tuple(VARIANTS)
    ablations: tuple[str, ...] = ()
    ablation_tasks: tuple[str, ...] | None = None
    """Tasks the ablations run on (default: the first task)."""
    k: int = 50
    z: float = 0.05
    n_identify: int = 24
    n_eval: int = 24
    controls: int = 3
    ig_steps: int = 16
    answer_format: str = "cloze"
    n_permutations: int = 3
    seed: int = 0
    unrelated: Mapping[str, str] | None = None
    """Task -> the task its specificity is measured on (default: the next task of ``tasks``, cyclically)."""
    batch_size: int = 8
    max_rows: int = 64

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("CompareConfig.tasks is empty; name at least one task.")
        for name in self.variants:
            if name not in VARIANTS:
                raise ValueError(f"unknown variant {name!r}; choose from {sorted(VARIANTS)}.")
        for name in self.ablations:
            if name not in ABLATIONS:
                raise ValueError(f"unknown ablation {name!r}; choose from {sorted(ABLATIONS)}.")
        for name in ("k", "n_identify", "n_eval", "ig_steps", "n_permutations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CompareConfig.{name} must be an int >= 1, got {value!r}.")
        if self.controls < 0:
            raise ValueError(f"CompareConfig.controls must be >= 0, got {self.controls}.")
        for task, other in self.unrelated_tasks().items():
            if other == task:
                raise ValueError(f"task {task!r} cannot be its own unrelated task; give unrelated={{...}} or more tasks.")

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
    def from_dict(cls, d: Mapping[str, Any]) -> "CompareConfig":
        d = dict(d)
        for key in ("tasks", "variants", "ablations", "ablation_tasks"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


TaskLoader = Callable[[str, str, int], Task]
"""(task name, answer format, permutations) -> the whole task."""


@dataclass
class Splits:
    identify: Task
    evaluate: Task


@dataclass
class ComparisonRun:
    """The state of one comparison: the model, the configuration, and the files under ``out``."""

    model: Any
    config: CompareConfig
    out: Path
    load_task: TaskLoader
    progress: bool = False
    log: Callable[[str], None] = print
    _splits: dict[tuple[str, str, int], Splits] = field(default_factory=dict)
    _done: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ----- tasks
    def splits(self, task: str, answer_format: str, n_permutations: int) -> Splits:
        key = (task, answer_format, n_permutations)
        if key not in self._splits:
            full = self.load_task(task, answer_format, n_permutations)
            if len(full) < 2:
                raise ValueError(f"task {task!r} has {len(full)} example(s); the protocol needs an identification and an evaluation split.")
            n = min(len(full), self.config.n_identify + self.config.n_eval)
            subset = full.subset(range(n))
            ident, held_out = subset.split(self.config.n_identify / (self.config.n_identify + self.config.n_eval), seed=self.config.seed)
            self._splits[key] = Splits(ident, held_out)
        return self._splits[key]

    def variant_splits(self, task: str, v: Variant) -> Splits:
        return self.splits(task, v.answer_format or self.config.answer_format, v.n_permutations or self.config.n_permutations)

    def eval_task(self, task: str, v: Variant) -> Task:
        """The held-out split, always with the configured number of permutations (so that variants that
        identify with 1 or 6 permutations are measured on the same questions)."""
        return self.splits(task, v.answer_format or self.config.answer_format, self.config.n_permutations).evaluate

    # ----- cached artefacts
    def attributions(self, task: str, v: Variant, method: str, objective: str, ig_steps: int) -> TaskAttributions:
        splits = self.variant_splits(task, v)
        steps = ig_steps if method == "integrated_gradients" else 0
        key = _slug(task, method, objective, v.hook, splits.identify.answer_format, splits.identify.n_permutations, f"m{steps}",
                    self.config.n_identify, self.config.seed)
        path = self.out / "attributions" / f"{key}.safetensors"
        if path.is_file():
            return TaskAttributions.load(path)
        start = time.time()
        attr = collect_attributions(
            self.model, splits.identify, method=method, objective=objective, hook=v.hook, ig_steps=ig_steps,
            batch_size=self.config.batch_size, max_rows=self.config.max_rows, progress=self.progress,
        )
        attr.metadata["seconds"] = time.time() - start
        self.log(f"  attributions {task} {method}/{objective} ({v.hook}): {attr.metadata['seconds']:.0f} s")
        attr.save(path)
        return attr

    def neurons(self, task: str, v: Variant) -> NeuronSet:
        k = v.k or self.config.k
        path = self.out / "neurons" / _slug(task) / f"{_slug(v.name)}.neurons"
        if path.is_dir():
            return NeuronSet.load(path)
        start = time.time()
        if v.method == "neuronllm":
            attr = self.attributions(task, v, v.attribution, v.objective, self.config.ig_steps)
            neurons = identify_from_attributions(attr, k=k, z=self.config.z)
            neurons.metadata["attribution_seconds"] = attr.metadata.get("seconds")
        else:
            neurons = self._baseline(task, v, k)
        neurons.metadata["variant"] = asdict(v)
        neurons.metadata["selection_seconds"] = time.time() - start
        neurons.save(path)
        return neurons

    def _baseline(self, task: str, v: Variant, k: int) -> NeuronSet:
        splits = self.variant_splits(task, v)
        options: dict[str, Any] = {"hook": v.hook}
        if v.method in ("qrnca", "knowledge_neurons"):
            options["ig_steps"] = self.config.ig_steps  # both share one IG run
        config = baseline_config(v.method, **options)
        attributions, contrast = None, []
        request = attribution_request(v.method, config)
        if request is not None:
            steps = request.get("ig_steps", self.config.ig_steps)
            attributions = self.attributions(task, v, request["method"], request["objective"], steps)
        if v.method == "lape":
            contrast = [self.variant_splits(t, v).identify for t in self.config.tasks if t != task]
        return identify_baseline(v.method, self.model, splits.identify, k=k, config=config, attributions=attributions,
                                 contrast_tasks=contrast, batch_size=self.config.batch_size)

    # ----- cells
    def _load_done(self) -> None:
        path = self.out / "cells.jsonl"
        if not path.is_file():
            return
        for line in path.read_text().splitlines():
            try:
                cell = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash: that cell is recomputed
                continue
            self._done[cell["key"]] = cell

    def _record(self, cell: dict[str, Any]) -> None:
        self._done[cell["key"]] = cell
        with open(self.out / "cells.jsonl", "a") as f:
            f.write(json.dumps(cell) + "\n")
            f.flush()

    def unsteered(self, eval_task: Task) -> dict[str, Any]:
        key = _slug("unsteered", eval_task.name, eval_task.answer_format, eval_task.n_permutations, self.config.n_eval, self.config.seed)
        if key not in self._done:
            start = time.time()
            s = score_task(self.model, eval_task, batch_size=self.config.batch_size * 2)
            self._record({"key": key, "kind": "unsteered", "eval_task": eval_task.name, "accuracy": s.accuracy,
                          "p_correct": s.mean_p_correct, "seconds": time.time() - start})
        return self._done[key]

    def steer_cell(self, task: str, v: Variant, mode: str, neurons: NeuronSet, which: str, seed: int | None, eval_task: Task, role: str) -> None:
        key = _slug(task, v.name, mode, which, seed, role, eval_task.name, eval_task.answer_format, self.config.n_eval,
                    self.config.seed, v.k or self.config.k)
        if key in self._done:
            return
        before = self.unsteered(eval_task)
        start = time.time()
        s = score_task(self.model, eval_task, neurons=neurons, mode=mode, batch_size=self.config.batch_size * 2)
        factors = MODES[mode]
        n_steered = (len(neurons.good) if "good" in factors else 0) + (len(neurons.bad) if "bad" in factors else 0)
        self._record({
            "key": key, "kind": "steer", "task": task, "variant": v.name, "method": v.method, "group": v.group,
            "mode": mode, "neurons": which, "seed": seed, "eval": role, "eval_task": eval_task.name,
            "n_good": len(neurons.good), "n_bad": len(neurons.bad), "n_steered": n_steered,
            "accuracy_before": before["accuracy"], "accuracy_after": s.accuracy,
            "p_before": before["p_correct"], "p_after": s.mean_p_correct, "seconds": time.time() - start,
        })

    def run_cell(self, task: str, v: Variant) -> None:
        neurons = self.neurons(task, v)
        target = self.eval_task(task, v)
        unrelated = self.config.unrelated_tasks().get(task)
        for mode in v.modes:
            if not _applies(mode, neurons):
                continue
            self.steer_cell(task, v, mode, neurons, "identified", None, target, "target")
            if v.controls:
                for i in range(self.config.controls):
                    self.steer_cell(task, v, mode, neurons.random_like(self.config.seed + i), "random", self.config.seed + i, target, "target")
            if v.specificity and unrelated is not None:
                self.steer_cell(task, v, mode, neurons, "identified", None, self.eval_task(unrelated, v), "unrelated")

    def cells(self) -> list[dict[str, Any]]:
        return list(self._done.values())


def _applies(mode: str, neurons: NeuronSet) -> bool:
    """A mode that only touches an empty group would measure nothing; one that touches two groups of
    which one is empty duplicates the single-group mode. Both are skipped."""
    groups = set(MODES[mode])
    present = {g for g in ("good", "bad") if len(getattr(neurons, g))}
    return groups <= present


def _slug(*parts: Any) -> str:
    text = "__".join(str(p) for p in parts)
    safe = "".join(c if c.isalnum() or c in "-_.=" else "-" for c in text)
    if len(safe) <= 120:
        return safe
    return safe[:80] + "-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def default_task_loader(data_files: Mapping[str, Sequence[str]] | None = None) -> TaskLoader:
    """Built-in tasks by name, dataset tasks (``sst2``, ``mmlu``, ...) from ``data_files`` or offline copies,
    and MCQ files by path (``*.jsonl``: one ``{question, options, answer}`` per line)."""
    from neuronllm_tl.tasks.datasets import DATASET_TASKS, load_dataset_task
    from neuronllm_tl.tasks.registry import load_task, load_task_file

    files = dict(data_files or {})

    def load(name: str, answer_format: str, n_permutations: int) -> Task:
        options = dict(answer_format=answer_format, n_permutations=n_permutations, seed=0)
        if name.endswith(".jsonl"):
            return load_task_file(name, **options)
        if name in DATASET_TASKS:
            return load_dataset_task(name, data_files=files.get(name), **options)
        return load_task(name, **options)

    return load


def run_comparison(
    model: Any,
    config: CompareConfig,
    *,
    out: str | Path,
    load_task: TaskLoader | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> "ComparisonResult":
    """Run (or resume) the grid of ``config`` and write ``results.md``, ``results.csv`` and plots to ``out``."""
    from neuronllm_tl.comparison.report import ComparisonResult

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    run = ComparisonRun(model, config, out, load_task or default_task_loader(), progress=progress, log=log)
    run._load_done()
    start = time.time()
    grid = config.grid()
    if "lape" in config.variants and len(config.tasks) < 2:
        log("lape needs at least two tasks to contrast; it is skipped.")
        grid = [(t, v) for t, v in grid if v.method != "lape"]
    for i, (task, v) in enumerate(grid):
        log(f"[{i + 1}/{len(grid)}] {task} / {v.name} ({time.time() - start:.0f} s)")
        run.run_cell(task, v)
    result = ComparisonResult.from_cells(run.cells(), config)
    result.write(out)
    return result


__all__ = ["ABLATIONS", "ALL_MODES", "CompareConfig", "EXPECTED_SIGN", "VARIANTS", "Variant", "default_task_loader", "run_comparison"]
