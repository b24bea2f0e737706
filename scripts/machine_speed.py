"""How fast this machine scores a committed grid's unsteered cells, against the seconds the grid recorded.

    OMP_NUM_THREADS=1 python scripts/machine_speed.py --out docs/comparison --seed 0

An unsteered cell (one task's held-out split, no steering, a cold prompt cache, measured as the grid measures
it) is the grid's plainest unit of work, so the ratio of its recorded seconds to its seconds now is the speed
of the machines and loads the grid ran under, relative to this one. ``compare --estimate`` measures this
machine: divide a run's measured / expected by this ratio to see how far the estimate itself is off
(docs/results.md, *Compute time*).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from neuronllm_tl.comparison.config import CompareConfig
from neuronllm_tl.comparison.splits import make_splits
from neuronllm_tl.evaluation.measurement import measure
from neuronllm_tl.models.loading import load_model
from neuronllm_tl.scoring.shared_prompt import PromptCache


def recorded_seconds(cells: Path, seed: int) -> dict[str, float]:
    """Each evaluated task's unsteered seconds at ``seed``, as the grid recorded them."""
    out: dict[str, float] = {}
    for line in cells.read_text().splitlines():
        cell = json.loads(line)
        if cell["kind"] == "unsteered" and cell["split_seed"] == seed:
            out.setdefault(cell["eval_task"].removesuffix(":evaluate"), cell["measurement"]["seconds"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/comparison"), help="a comparison folder")
    parser.add_argument("--seed", type=int, default=0, help="the split seed whose unsteered cells are rerun")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = CompareConfig.from_dict(json.loads((args.out / "config.json").read_text()))
    recorded = recorded_seconds(args.out / "cells.jsonl", args.seed)
    model = load_model()
    print("| task | recorded | now | recorded / now |\n|---|---|---|---|")
    total_recorded = total_now = 0.0
    for task in config.tasks:
        held_out = make_splits(config, task, config.answer_format, config.n_permutations, seed=args.seed).evaluate
        measure(model, held_out.subset(range(3)), None)  # one-off costs (fast-path checks) are not the cell's
        start = time.perf_counter()
        measure(model, held_out, None, batch_size=config.batch_size * 2, prompt_cache=PromptCache())  # as the grid
        now = time.perf_counter() - start
        total_recorded, total_now = total_recorded + recorded[task], total_now + now
        print(f"| {task} | {recorded[task]:.1f} s | {now:.1f} s | {recorded[task] / now:.2f} |", flush=True)
    print(f"| all | {total_recorded:.1f} s | {total_now:.1f} s | {total_recorded / total_now:.2f} |")


if __name__ == "__main__":
    main()
