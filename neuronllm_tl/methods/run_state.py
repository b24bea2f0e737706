"""What a streaming CNI run accumulates, so that it can resume after a crash or be summed over processes.

A checkpoint is keyed by the content that made it (the model's weights, the task's rendered questions,
the config, the batching plan, the process layout and the library version): a rerun with anything
changed refuses the old file instead of continuing from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from neuronllm_tl.neurons.selection import ContrastiveAccumulator


class RunState:
    """Running CNI sums plus the counts a NeuronSet reports, and which batches are done."""

    def __init__(self, acc: ContrastiveAccumulator) -> None:
        self.acc = acc
        self.n_correct = 0
        self.objective_sum = 0.0
        self.done: set[int] = set()

    def save(self, path: Path, fingerprint: str) -> None:
        state = {
            "fingerprint": fingerprint,
            "accumulator": self.acc.state_dict(),
            "n_correct": self.n_correct,
            "objective_sum": self.objective_sum,
            "done": sorted(self.done),
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)  # atomic: a kill mid-write leaves the previous checkpoint intact

    def resume(self, path: Path, fingerprint: str) -> None:
        if not path.is_file():
            return
        state = torch.load(path, weights_only=True)
        if state["fingerprint"] != fingerprint:
            raise ValueError(
                f"checkpoint {path} belongs to another run (the model's weights, the task's questions, the "
                "options, the process count or the library version differ); delete it or pass another checkpoint path."
            )
        self.acc.load_state_dict(state["accumulator"])
        self.n_correct, self.objective_sum = int(state["n_correct"]), float(state["objective_sum"])
        self.done = set(state["done"])

    def all_reduce(self) -> None:
        import torch.distributed as dist

        acc = self.acc
        counts = torch.tensor([acc.n_examples, self.n_correct], dtype=torch.long)
        totals = torch.tensor([self.objective_sum], dtype=torch.float64)
        for t in (acc.kept_sum, acc.raw_sum, acc.good_count, acc.bad_count, acc.pass_count, counts, totals):
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        acc.n_examples, self.n_correct = int(counts[0]), int(counts[1])
        self.objective_sum = float(totals[0])


def process_group(distributed: bool | None) -> tuple[int, int]:
    """(rank, world size): (0, 1) unless a torch.distributed process group is initialized (and not refused)."""
    import torch.distributed as dist

    initialized = dist.is_available() and dist.is_initialized()
    if distributed and not initialized:
        raise ValueError(
            "distributed=True needs an initialized process group: launch with torchrun and call "
            "torch.distributed.init_process_group('gloo' or 'nccl') first."
        )
    if distributed is False or not initialized:
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def run_fingerprint(metadata: dict[str, Any], run: dict[str, Any], rank: int, world: int) -> str:
    """The content key of a checkpoint: the run's metadata (model and task fingerprints, config, versions),
    its batching plan and its place among the processes."""
    keep = {k: metadata[k] for k in ("model_fingerprint", "task_fingerprint", "config", "hook", "versions")}
    text = json.dumps([keep, run, rank, world], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
