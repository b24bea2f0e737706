"""What a comparison will cost on this machine, measured on a few examples before the grid runs.

Per task (its first split seed) and per variant of the grid, :func:`estimate_comparison` times

* identification on ``probe_examples`` examples of the identification split, spread over its options'
  lengths (:func:`representative`): the attribution run the
  variant's method asks for (variants whose methods ask for the same attributions share one run, as the
  grid does), or the whole method where it needs none (random, LAPE);
* held-out scoring on ``probe_examples`` held-out examples: once cold (the unsteered cell of a split runs
  every prompt and computes the calibration) and once more through the same prompt cache (a steered cell
  reruns only the option suffixes at the answer position);

and multiplies out: identification per example x ``n_identify``, a steered scoring per example x ``n_eval`` x
the variant's cells on the task's own held-out split (its modes x (1 + controls)), plus one per mode on the
unrelated task, timed on that task's held-out examples (sentiment-mini's unrelated cells, on AG News, took
about 3x its own), the unsteered scoring once per task and split, all x the split seeds. A variant whose
neuron set and cells an earlier variant of the grid already makes (``z=0.05`` is ``neuronllm_gxa``) costs only
its new cells. A warm-up call first takes the one-off costs (loading, the fast-path self-checks) out of the
timings. The estimate is the speed of this machine under its load while it probes: issue #24's grid (189
cells, SmolLM2, 1 thread, two or three processes on 2 cores, over several sessions' machines) took 1.3x to
1.9x its estimate, by the machine and load the estimate ran under, and its unsteered cells took about 1.75x
what they take on the machine of the later estimates (``scripts/machine_speed.py``, docs/results.md):
budget up to twice the estimate if the run may move machines.
:func:`measured_cost` gives a run's own compute time in the same shape (its ``results.md`` ends with it), to
set beside the estimate.

Example:
    >>> config = CompareConfig(tasks=task_files, k=4, n_identify=6, n_eval=6, seeds=(0, 1, 2))  # two tiny tasks
    >>> print(estimate_comparison(model, config).to_markdown())
    | task | variant | identify | held-out scoring | total |
    |---|---|---|---|---|
    | tiny.jsonl | neuronllm_ig | ... min | ... min | ... min |
    ...
    | tiny-reversed.jsonl | random | ... min | ... min | ... min |
    ...
    Expected total: ... min on this machine (measured in ... s; a full grid on SmolLM2 ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from neuronllm_tl.attribution.collect import collect_attributions
from neuronllm_tl.attribution.stream import RunOptions
from neuronllm_tl.comparison.cells import Cell
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.splits import make_splits
from neuronllm_tl.comparison.variants import Variant
from neuronllm_tl.evaluation.scores import score_task
from neuronllm_tl.methods.registry import identify
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.scoring.shared_prompt import PromptCache
from neuronllm_tl.tasks.task import Task


@dataclass(frozen=True)
class CellCost:
    """One (task, variant): seconds for all its split seeds."""

    task: str
    variant: str
    identify_s: float
    scoring_s: float
    share_done: float = 1.0
    """Of a run's cost (:func:`measured_cost`): the share of the grid's split seeds it holds whole."""

    @property
    def total_s(self) -> float:
        return self.identify_s + self.scoring_s


@dataclass(frozen=True)
class CostEstimate:
    cells: tuple[CellCost, ...]
    unsteered_s: dict[str, float]
    """Per task, the unsteered scorings of its held-out splits (shared by every variant)."""
    probe_seconds: float
    measured: bool = False
    """What a run took (:func:`measured_cost`), not what it is expected to take."""

    @property
    def total_s(self) -> float:
        return sum(c.total_s for c in self.cells) + sum(self.unsteered_s.values())

    def by(self, what: Callable[[CellCost], str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in self.cells:
            out[what(c)] = out.get(what(c), 0.0) + c.total_s
        return out

    def to_markdown(self) -> str:
        tasks = self.by(lambda c: c.task)
        lines = ["| task | variant | identify | held-out scoring | total |", "|---|---|---|---|---|"]
        lines += [
            f"| {c.task} | {c.variant} | {_h(c.identify_s)} | {_h(c.scoring_s)} | {_h(c.total_s)} |" for c in self.cells
        ]
        lines += ["", "| task | total (with its unsteered scorings) |", "|---|---|"]
        lines += [f"| {t} | {_h(s + self.unsteered_s.get(t, 0.0))} |" for t, s in tasks.items()]
        lines += ["", "| variant | total over tasks |", "|---|---|"]
        lines += [f"| {v} | {_h(s)} |" for v, s in self.by(lambda c: c.variant).items()]
        return "\n".join([*lines, "", self._total_line()])

    def beside(self, measured: CostEstimate) -> str:
        """This estimate beside what a run measured (:func:`measured_cost`), per task and in total: the whole
        grid's expected time, the expected time of the units the run holds (each (task, variant) scaled by its
        share of split seeds done; a task's unsteered scorings by its largest share), what they took, and the
        ratio of the two."""
        share = {(c.task, c.variant): c.share_done for c in measured.cells}
        rows = []
        for task in dict.fromkeys(c.task for c in self.cells):
            mine = [c for c in self.cells if c.task == task]
            done = max((share.get((c.task, c.variant), 0.0) for c in mine), default=0.0)
            whole = sum(c.total_s for c in mine) + self.unsteered_s.get(task, 0.0)
            part = sum(c.total_s * share.get((c.task, c.variant), 0.0) for c in mine)
            took = sum(c.total_s for c in measured.cells if c.task == task) + measured.unsteered_s.get(task, 0.0)
            rows.append((task, whole, part + self.unsteered_s.get(task, 0.0) * done, took))
        rows.append(("total", sum(r[1] for r in rows), sum(r[2] for r in rows), measured.total_s))
        lines = ["| task | expected, whole grid | expected, units done | measured | measured / expected |"]
        lines += ["|---|---|---|---|---|"]
        lines += [f"| {t} | {_h(w)} | {_h(e)} | {_h(m)} | {m / e:.2f} |" if e else f"| {t} | {_h(w)} | – | – | – |"
                  for t, w, e, m in rows]  # fmt: skip
        return "\n".join(lines)

    def _total_line(self) -> str:
        if self.measured:
            return (
                f"Measured total: {_h(self.total_s)}: every neuron set and cell above as the run that made it timed "
                "it (a set or cell two variants share counted once, under the first; loading, reports and the "
                "selection time of sets from before it was recorded not counted)."
            )
        return (
            f"Expected total: {_h(self.total_s)} on this machine (measured in {self.probe_seconds:.0f} s; a full "
            "grid on SmolLM2 took 1.3x to 1.9x its estimate as it ran, over several machines, docs/results.md: "
            "budget up to twice it if the run may move machines)."
        )


def _h(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cells_per_unit(
    v: Variant, config: CompareConfig, has_unrelated: bool, done: set[tuple[str, str]]
) -> tuple[int, int]:
    """The variant's steered cells per split seed that no earlier variant of the grid measured already (the
    store reuses a cell of the same neuron set, mode and control: e.g. ``z=0.05`` is ``neuronllm_gxa``), as
    (cells on the task's own held-out split, cells on the unrelated task's)."""
    controls = config.controls if v.controls else 0
    cells = {(m, "identified") for m in v.modes} | {(m, f"random{c}") for m in v.modes for c in range(controls)}
    cells |= {(m, "unrelated") for m in v.modes} if v.specificity and has_unrelated else set()
    new = cells - done
    done |= new
    unrelated = sum(which == "unrelated" for _, which in new)
    return len(new) - unrelated, unrelated


class _Prober:
    def __init__(self, model: HookedModel, config: CompareConfig, probe_examples: int) -> None:
        self.model, self.config, self.n = model, config, probe_examples
        self.shared: dict[tuple[str, str], float] = {}
        self._splits: dict[tuple[str, str, int], tuple[Task, Task]] = {}
        self._scoring: dict[tuple[str, str, int], tuple[float, float]] = {}

    def _key(self, task: str, v: Variant) -> tuple[str, str, int]:
        """``task`` as ``v`` reads it: (task, answer format, permutations)."""
        return task, v.answer_format or self.config.answer_format, v.n_permutations or self.config.n_permutations

    def split(self, task: str, v: Variant) -> tuple[Task, Task]:
        """The probe examples of ``task``'s first split (each task and read-out loaded once, as the grid does)."""
        key = self._key(task, v)
        if key not in self._splits:
            s = make_splits(self.config, *key, seed=self.config.seeds[0])
            self._splits[key] = s.identify.subset(representative(s.identify, self.n)), s.evaluate.subset(range(self.n))
        return self._splits[key]

    def identify_per_example(self, task: str, v: Variant, ident: Task, contrast: list[Task]) -> float:
        config = v.config.with_defaults(ig_steps=self.config.ig_steps, z=self.config.z)
        request = config.attribution_request()
        run = RunOptions(batch_size=self.config.batch_size, max_rows=self.config.max_rows)
        if request is None:
            k = v.k or self.config.k
            seconds = _timed(lambda: identify(self.model, ident, config=config, k=k, contrast_tasks=contrast))
        else:
            key = (task, repr(sorted(request.to_dict().items())))
            if key in self.shared:  # the grid runs these attributions once for every variant that asks
                return 0.0
            seconds = _timed(lambda: collect_attributions(self.model, ident, request, run))
            self.shared[key] = seconds
        return seconds / len(ident)

    def scoring_per_example(self, task: str, v: Variant) -> tuple[float, float]:
        """(cold, through a warm prompt cache) seconds per held-out example of ``task``, timed once per split."""
        key = self._key(task, v)
        if key not in self._scoring:
            held_out, cache = self.split(task, v)[1], PromptCache()
            cold = _timed(lambda: score_task(self.model, held_out, prompt_cache=cache))
            warm = _timed(lambda: score_task(self.model, held_out, prompt_cache=cache))
            self._scoring[key] = cold / len(held_out), warm / len(held_out)
        return self._scoring[key]


def estimate_comparison(model: HookedModel, config: CompareConfig, *, probe_examples: int = 3) -> CostEstimate:
    """The expected time of ``config``'s grid on this machine, from timings of ``probe_examples`` examples."""
    start = time.time()
    prober = _Prober(model, config, probe_examples)
    seeds, cells, unsteered = len(config.seeds), [], dict[str, float]()
    measured: dict[tuple[str, str], set[tuple[str, str]]] = {}
    grid = config.grid()
    _, warm_eval = prober.split(grid[0][0], grid[0][1])
    score_task(model, warm_eval)  # one-off costs (fast-path self-checks, lazy loading) are not the grid's
    for task, v in grid:
        ident, _ = prober.split(task, v)
        unrelated = config.unrelated_tasks().get(task)
        set_key = (task, repr((v.config.with_defaults(ig_steps=config.ig_steps, z=config.z).to_dict(), v.k)))
        repeated = set_key in measured  # the same neuron set as an earlier variant's: the store reuses it
        n_target, n_other = _cells_per_unit(v, config, unrelated is not None, measured.setdefault(set_key, set()))
        per_ident = 0.0 if repeated else prober.identify_per_example(task, v, ident, _contrast(prober, task, v))
        cold, warm = prober.scoring_per_example(task, v)
        steered = warm * n_target  # an unrelated cell scores the unrelated task's held-out examples, not these
        if unrelated is not None:
            other_cold, other_warm = prober.scoring_per_example(unrelated, v)
            steered += other_warm * n_other
            if unrelated not in config.tasks:  # else its unsteered scorings are counted as its own task's
                cold += other_cold
        cells.append(CellCost(task, v.name, per_ident * config.n_identify * seeds, steered * config.n_eval * seeds))
        unsteered.setdefault(task, cold * config.n_eval * seeds)
    return CostEstimate(tuple(cells), unsteered, time.time() - start)


def measured_cost(
    cells: Iterable[Cell],
    identify_seconds: Iterable[tuple[str, str, float]],
    *,
    share_done: Mapping[tuple[str, str], float] | None = None,
) -> CostEstimate:
    """A run's compute time in the estimate's shape, from its labelled cells (each timed when measured) and
    ``(task, variant, seconds)`` per distinct neuron set (its identification, attributions included when that
    set computed them). A cell that several variants share counts once, under the first; an unsteered split
    counts under the task it is the held-out split of (else the first task it is the unrelated task of).
    ``share_done``: per (task, variant), the share of split seeds the run holds whole (default: all)."""
    cells = list(cells)
    identify: dict[tuple[str, str], float] = {}
    for task, variant, seconds in identify_seconds:
        identify[task, variant] = identify.get((task, variant), 0.0) + seconds
    scoring: dict[tuple[str, str], float] = {}
    seen: set[str] = set()
    steered = [c for c in cells if c.kind == "steer"]
    for i, c in enumerate(steered):
        if (key := c.key or f"unkeyed {i}") not in seen:
            seen.add(key)
            scoring[c.task, c.variant] = scoring.get((c.task, c.variant), 0.0) + c.seconds
    owner: dict[str, str] = {}
    for c in sorted(steered, key=lambda c: c.eval != "target"):
        owner.setdefault(c.eval_task, c.task)
    unsteered: dict[str, float] = {}
    for i, c in enumerate(c for c in cells if c.kind == "unsteered"):
        if (key := c.key or f"unkeyed unsteered {i}") not in seen:
            seen.add(key)
            task = owner.get(c.eval_task, c.eval_task)
            unsteered[task] = unsteered.get(task, 0.0) + c.seconds
    share = dict(share_done or {})
    units = dict.fromkeys([*identify, *scoring, *share])
    costs = tuple(
        CellCost(t, v, identify.get((t, v), 0.0), scoring.get((t, v), 0.0), share.get((t, v), 1.0)) for t, v in units
    )
    return CostEstimate(costs, unsteered, 0.0, measured=True)


def representative(task: Task, n: int) -> list[int]:
    """``n`` examples of ``task`` at evenly spread quantiles of their options' total length: the cost of exact
    IG over cloze options grows with their tokens (one 6-token option costs ~10x a one-token question), so the
    first examples alone can read several times too low or too high."""
    order = sorted(range(len(task)), key=lambda i: (sum(len(o) for o in task.examples[i].options), i))
    n = min(n, len(order))
    return sorted(order[int((j + 0.5) * len(order) / n)] for j in range(n))


def _contrast(prober: _Prober, task: str, v: Variant) -> list[Task]:
    if not v.config.needs_contrast_tasks:
        return []
    return [prober.split(t, v)[0] for t in prober.config.tasks if t != task]


__all__ = ["CellCost", "CostEstimate", "estimate_comparison", "measured_cost", "representative"]
