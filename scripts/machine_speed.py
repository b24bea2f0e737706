"""How fast this machine scores a committed grid's unsteered cells, against the seconds the grid recorded.

    OMP_NUM_THREADS=1 python scripts/machine_speed.py --out docs/comparison --seed 0

An unsteered cell (one task's held-out split, no steering, a cold prompt cache, measured as the grid measures
it) is the grid's plainest unit of work, so the ratio of its recorded seconds to its seconds now is the speed
of the machines and loads the grid ran under, relative to this one. ``compare --estimate`` measures this
machine: divide a run's measured / expected by this ratio to see how far the estimate itself is off
(docs/results.md, *Compute time*). Two cautions: a grid process's first cell also paid the one-off costs
(the fast paths' self-checks) that the rerun leaves out, so a ratio can read high; and a cell is one
moment of its run, so compare several split seeds (``--seed``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from neuronllm_tl.cli.loading import model_from_args
from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.run import ComparisonRun, NotStored
from neuronllm_tl.comparison.store import ArtefactStore
from neuronllm_tl.evaluation.measurement import measure
from neuronllm_tl.models.loading import DEFAULT_MODEL
from neuronllm_tl.tasks.task import Task


def recorded_seconds(run: ComparisonRun, held_out: Task, seed: int) -> float | None:
    """The seconds the grid recorded for ``held_out``'s unsteered cell (found by its content key, as a rerun
    finds it), or None where the grid has not scored it."""
    try:
        return run.unsteered(held_out, seed).seconds
    except NotStored:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/comparison"), help="a comparison folder")
    parser.add_argument("--seed", type=int, default=0, help="the split seed whose unsteered cells are rerun")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="the grid's model (tiny-random: for tests)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = CompareConfig.from_dict(json.loads((args.out / "config.json").read_text()))
    model = model_from_args(args.model)
    grid = ComparisonRun(model, config, ArtefactStore(args.out, _quiet, read_only=True), log=_quiet, reuse_only=True)
    print("| task | recorded | now | recorded / now |\n|---|---|---|---|")
    total_recorded = total_now = 0.0
    with tempfile.TemporaryDirectory() as scratch:  # the rerun's own store: the cells are measured, not found
        rerun = ComparisonRun(model, config, ArtefactStore(Path(scratch), _quiet), log=_quiet)
        for task in config.tasks:
            held_out = grid.splits(task, config.answer_format, config.n_permutations, args.seed).evaluate
            then = recorded_seconds(grid, held_out, args.seed)
            if then is None:
                print(f"| {task} | not stored (for this model, version and split, with per-example values) | – | – |")
                continue
            measure(model, held_out.subset(range(3)), None)  # one-off costs (fast-path checks) are not the cell's
            now = rerun.unsteered(held_out, args.seed).seconds  # as the grid measured it, with its options
            total_recorded, total_now = total_recorded + then, total_now + now
            print(f"| {task} | {then:.1f} s | {now:.1f} s | {then / now:.2f} |", flush=True)
    if total_now:
        print(f"| all | {total_recorded:.1f} s | {total_now:.1f} s | {total_recorded / total_now:.2f} |")


def _quiet(_: str) -> None:
    pass


if __name__ == "__main__":
    main()
