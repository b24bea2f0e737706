"""Run a comparison's grid in order, within a time budget, and write its results (stage 10's driver).

:func:`run_comparison` runs every (task, variant, split seed) unit of a
:class:`~neuronllm_tl.comparison.config.CompareConfig` through a
:class:`~neuronllm_tl.comparison.run.ComparisonRun`, which reuses whatever its content-keyed store holds.
With ``max_minutes`` it starts no new unit once the budget is spent; the units after that are still reported
when the store holds all their cells (a reuse-only pass), so the results and ``progress.json`` say exactly what
is done, whichever run and order measured it.

Example:
    >>> cfg = CompareConfig(tasks=task_files, variants=("tn", "random"), k=4, n_identify=6, n_eval=6, seeds=(0,))
    >>> [s for s in run_comparison(model, cfg, out="out", log=lambda s: None).markdown.splitlines() if s[:3] == "## "]
    ['## Summary over tasks', '## Who beats whom', '## tiny', '## tiny-reversed', '## Compute time']
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from itertools import groupby
from pathlib import Path

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.estimate import CostEstimate, measured_cost
from neuronllm_tl.comparison.report import ComparisonResult, Progress
from neuronllm_tl.comparison.run import ComparisonRun, NotStored
from neuronllm_tl.comparison.store import ArtefactStore
from neuronllm_tl.comparison.variants import Variant
from neuronllm_tl.models.protocol import HookedModel


def run_comparison(
    model: HookedModel,
    config: CompareConfig,
    *,
    out: str | Path,
    progress: bool = False,
    log: Callable[[str], None] = print,
    max_minutes: float | None = None,
    merge_from: Sequence[str | Path] = (),
    report_only: bool = False,
) -> ComparisonResult:
    """Run (or resume) the grid of ``config`` and write ``results.md``, ``results.csv`` and plots to ``out``.

    With ``max_minutes``, the run stops at the first cell boundary (a task, variant and split seed) after that
    long, writes the results of the cells it has, marked partial ("k of n cells done"), and logs which are
    left; the same call again continues where it stopped (every finished cell is reused from ``out``). Past the
    budget it still reports every cell ``out`` holds already, in any order (e.g. measured by an earlier run of a
    smaller grid into the same folder), and counts only the others as left.

    ``merge_from``: run folders of shards of this grid (run elsewhere with the same tasks), added to ``out`` first
    (:meth:`ArtefactStore.merge`) and reused like its own cells. ``report_only``: compute nothing; write the
    results of the cells ``out`` holds (partial, with the cells left, when the grid is not complete)."""
    out = Path(out)
    store = ArtefactStore(out, log)
    for source in merge_from:
        store.merge(Path(source))
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    run = ComparisonRun(model, config, store, progress=progress, log=log)
    start = time.time()  # the budget counts loading and splitting the tasks too
    units = _units(run, config, log)
    done, left, computed = 0, [], False  # the budget counts once a cell was computed: every call makes progress
    for task, v, seed in units:
        if report_only or (max_minutes is not None and computed and time.time() - start > 60 * max_minutes):
            if not _reuse(run, task, v, seed):
                left.append(f"{task} / {v.name} / seed {seed}")
                continue
        else:
            log(f"[{done + 1}/{len(units)}] {task} / {v.name} / seed {seed} ({time.time() - start:.0f} s)")
            stored = len(store.cells) + len(store.neuron_sets)
            run.run_cell(task, v, seed)
            computed = computed or len(store.cells) + len(store.neuron_sets) > stored
        done += 1
    if left:
        why = "Report only" if report_only else f"Time budget of {max_minutes} min reached"
        log(f"{why}: {done} of {len(units)} cells done; left: " + "; ".join(left))
    status = Progress(done, len(units), tuple(left))
    cells, sets = list(run.cells.values()), run.identify_seconds.values()
    result = ComparisonResult.from_cells(cells, config, status, identify_seconds=sets)
    result.write(out)
    return result


def measured_so_far(model: HookedModel, config: CompareConfig, *, out: str | Path) -> CostEstimate:
    """What the units ``out`` holds whole of ``config``'s grid took to compute, as their runs timed them
    (:func:`~neuronllm_tl.comparison.estimate.measured_cost`, with each (task, variant)'s share of split seeds
    done); computes and writes nothing."""
    store = ArtefactStore(Path(out), lambda _: None, read_only=True)
    run = ComparisonRun(model, config, store, log=lambda _: None)
    done: dict[tuple[str, str], float] = {}
    for task, v, seed in _units(run, config, lambda _: None):
        whole = _reuse(run, task, v, seed)
        done[task, v.name] = done.get((task, v.name), 0.0) + whole / len(config.seeds)
    return measured_cost(list(run.cells.values()), run.identify_seconds.values(), share_done=done)


def _units(run: ComparisonRun, config: CompareConfig, log: Callable[[str], None]) -> list[tuple[str, Variant, int]]:
    """The grid's (task, variant, split seed) units, in order, once every task loads and splits: split seed by
    split seed within each task's run of variants, so that consecutive units score the same held-out splits and
    the run's prompt cache (least recently used out) keeps them. Variant by variant, the seeds took turns: three
    seeds of AG News and of its unrelated task outgrew the cache and every unit scored its first cells cold."""
    grid = config.grid()
    if len(config.tasks) < 2 and any(v.config.needs_contrast_tasks for _, v in grid):
        log("methods that contrast tasks (lape) need at least two tasks; they are skipped.")
        grid = [(t, v) for t, v in grid if not v.config.needs_contrast_tasks]
    run.check_tasks(grid)
    units = []
    for task, block in groupby(grid, key=lambda entry: entry[0]):
        variants = [v for _, v in block]
        units += [(task, v, seed) for seed in config.seeds for v in variants]
    return units


def _reuse(run: ComparisonRun, task: str, v: Variant, seed: int) -> bool:
    """Whether the store holds every cell of the unit; if so they join ``run.cells`` (and its neuron set
    ``run.identify_seconds``), else nothing does."""
    before, sets_before = set(run.cells), set(run.identify_seconds)
    run.reuse_only = True
    try:
        run.run_cell(task, v, seed)
        return True
    except NotStored:
        for name in set(run.cells) - before:
            del run.cells[name]
        for key in set(run.identify_seconds) - sets_before:
            del run.identify_seconds[key]
        return False
    finally:
        run.reuse_only = False
