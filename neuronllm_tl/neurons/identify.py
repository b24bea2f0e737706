"""``identify``: a task's good and bad neurons, by contrastive neuron identification (CNI).

The pipeline: QATT questions (each example permuted ``n_permutations`` times), then per-question
attributions of F = log softmax(option scores)[correct] at the answer position of every
``blocks.{l}.{hook}``, then the sum over each example's permutations, then streaming CNI selection
(:mod:`neuronllm_tl.neurons.selection`), then a :class:`NeuronSet`.

Example:
    >>> import neuronllm_tl as nl
    >>> model = nl.load_model("smollm2-135m")
    >>> task = nl.Task.from_examples(examples, name="my-task", answer_format="cloze")
    >>> neurons = nl.identify(model, task, method="grad_x_act", k=100)
    >>> neurons.top(10).good
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from neuronllm_tl.attribution.collect import TaskAttributions, sum_per_example
from neuronllm_tl.attribution.methods import METHODS, Method, attribute
from neuronllm_tl.models.validation import DEFAULT_HOOK, model_device, model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.neurons.selection import ContrastiveAccumulator, Selection, resolve_z, select_top_k
from neuronllm_tl.scoring.batches import example_batches, progress_bar
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.objectives import Objective, check_objective
from neuronllm_tl.tasks.task import Question, Task


@dataclass(frozen=True)
class IdentifyConfig:
    """Options of :func:`identify` (stored in every saved NeuronSet)."""

    method: Method = "grad_x_act"
    objective: Objective = "contrastive"
    k: int = 100
    z: int | float = 0.05
    selection: Selection = "global"
    hook: str = DEFAULT_HOOK
    ig_steps: int = 16
    batch_size: int = 8
    max_rows: int = 64
    max_tokens: int = 4096

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}.")
        check_objective(self.objective)
        if self.selection not in ("global", "per_layer"):
            raise ValueError(f"selection must be 'global' or 'per_layer', got {self.selection!r}.")
        for name in ("k", "ig_steps", "batch_size", "max_rows", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IdentifyConfig":
        return cls(**dict(d))


def identify(
    model: Any,
    task: Task,
    *,
    method: Method = "grad_x_act",
    objective: Objective = "contrastive",
    k: int = 100,
    z: int | float = 0.05,
    selection: Selection = "global",
    hook: str = DEFAULT_HOOK,
    ig_steps: int = 16,
    batch_size: int = 8,
    max_rows: int = 64,
    max_tokens: int = 4096,
    checkpoint: str | Path | None = None,
    distributed: bool | None = None,
    progress: bool = False,
) -> NeuronSet:
    """Good and bad neurons of ``model`` for ``task``.

    Args:
        model: A TransformerLens model (TransformerBridge, or HookedTransformer under TL <= 3.9) in eval mode.
        task: The task; every example is asked ``task.effective_permutations`` times.
        method: ``"grad_x_act"`` (one forward + backward per batch) or ``"integrated_gradients"``
            (the paper's, exact, ``ig_steps`` steps per layer).
        objective: The F being attributed (:mod:`neuronllm_tl.scoring.objectives`): ``"contrastive"``
            (the paper's option-softmax cross-entropy), or ``"vocab_prob"``, ``"vocab_logprob"``,
            ``"margin"`` for ablations.
        k: Size of the good set and of the bad set.
        z: Per-example coarse set size (an int, or a float fraction of the neurons ranked).
        selection: ``"global"`` ranks all layers together; ``"per_layer"`` applies z and k within each layer.
        hook: Per-block hook of the neurons; ``"mlp.hook_post"`` (input of W_out) or e.g.
            ``"mlp.hook_pre_linear"`` (the up-projection of gated MLPs).
        batch_size: Examples per batch (each with all its permutations).
        max_tokens: Padded tokens per batch (rows x longest row); bounds the memory of a forward+backward.
        max_rows: Rows per forward pass when integrated gradients batches its (layer, step) variants:
            the memory budget of IG.
        checkpoint: A file to save progress to after every batch. A rerun with the same file, model, task
            and options continues after the last finished batch and ends with the same neurons.
        distributed: Shard the batches over the ranks of an initialized ``torch.distributed`` process group
            and all-reduce the sums; every rank returns the same set as a single process would.
            ``None``: shard when a process group is initialized.
        progress: Show a progress bar.
    """
    config = IdentifyConfig(
        method=method, objective=objective, k=k, z=z, selection=selection, hook=hook, ig_steps=ig_steps, batch_size=batch_size,
        max_rows=max_rows, max_tokens=max_tokens,
    )
    spec = model_spec(model, hook=config.hook)
    device = model_device(model)
    encoder = QuestionEncoder(model, task)
    questions = task.questions()
    batches = list(example_batches(questions, config.batch_size, encoder=encoder, max_tokens=config.max_tokens))
    rank, world = _process_group(distributed)
    state = _RunState(
        ContrastiveAccumulator(
            spec.n_layers, spec.d_mlp, z=resolve_z(config.z, spec.n_layers, spec.d_mlp, config.selection), selection=config.selection
        )
    )
    fingerprint = _fingerprint(spec, config, task, questions, rank, world)
    if checkpoint is not None:
        checkpoint = Path(f"{checkpoint}.rank{rank}" if world > 1 else checkpoint)
        state.resume(checkpoint, fingerprint)
    mine = [b for b in range(len(batches)) if b % world == rank and b not in state.done]
    for b in progress_bar(mine, progress, f"identify {task.name} ({config.method})"):
        batch = batches[b]
        enc = encoder.encode(batch).to(device)
        out = attribute(
            model, spec, enc, method=config.method, objective=config.objective, ig_steps=config.ig_steps,
            max_rows=config.max_rows,
        )
        state.acc.update(sum_per_example(out.attributions.float(), torch.tensor([q.example_index for q in batch])))
        state.n_correct += int((out.scores.argmax(-1) == enc.correct).sum())
        state.objective_sum += float(out.objective.double().sum())
        state.done.add(b)
        if checkpoint is not None:
            state.save(checkpoint, fingerprint)
    if world > 1:
        state.all_reduce()
    metadata = build_metadata(model, spec, task, config)
    stats = {"accuracy": state.n_correct / len(questions), "mean_objective": state.objective_sum / len(questions)}
    return _select(state.acc, config, metadata, {**stats, "n_questions": len(questions), "world_size": world})


def identify_from_attributions(
    attributions: TaskAttributions,
    *,
    k: int = 100,
    z: int | float = 0.05,
    selection: Selection = "global",
    metadata: Mapping[str, Any] | None = None,
) -> NeuronSet:
    """CNI selection (the second half of :func:`identify`) on per-question attributions kept by
    :func:`~neuronllm_tl.attribution.collect.collect_attributions`: the same neurons as ``identify``
    with the same method and objective, without rerunning the model for another ``k``, ``z`` or selection."""
    meta = attributions.metadata
    config = IdentifyConfig(
        method=meta.get("method", "grad_x_act"), objective=meta.get("objective", "contrastive"), k=k, z=z,
        selection=selection, hook=meta.get("hook", DEFAULT_HOOK), ig_steps=meta.get("ig_steps", 16),
    )
    n_layers, d_mlp = attributions.attributions.shape[1:]
    acc = ContrastiveAccumulator(n_layers, d_mlp, z=resolve_z(config.z, n_layers, d_mlp, config.selection), selection=config.selection)
    acc.update(attributions.per_example())
    n_questions = len(attributions.example_index)
    stats = {
        "accuracy": float(attributions.correct.float().mean()),
        "mean_objective": float(attributions.objective_values.double().mean()),
        "n_questions": n_questions,
        "world_size": 1,
    }
    base = {key: meta[key] for key in ("model", "hook", "n_layers", "d_mlp", "task") if key in meta}
    return _select(acc, config, {**base, **(metadata or {}), "config": config.to_dict()}, stats)


def _select(acc: ContrastiveAccumulator, config: IdentifyConfig, metadata: dict[str, Any], stats: dict[str, Any]) -> NeuronSet:
    good, good_scores, bad, bad_scores = select_top_k(acc.ace(), config.k, selection=config.selection)
    metadata["identification"] = {
        "n_examples": acc.n_examples,
        **stats,
        "z": acc.z,
        "n_ambiguous": int(acc.ambiguous.sum()),
    }
    return NeuronSet(
        good=good,
        bad=bad,
        good_scores=good_scores,
        bad_scores=bad_scores,
        scores=acc.ace().float(),
        ambiguous=acc.ambiguous,
        metadata=metadata,
    )


class _RunState:
    """Everything a run accumulates: enough to resume it or to sum it over processes."""

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
                f"checkpoint {path} belongs to another run (model, task, options or process count differ); "
                "delete it or pass another checkpoint path."
            )
        self.acc.load_state_dict(state["accumulator"])
        self.n_correct, self.objective_sum = int(state["n_correct"]), float(state["objective_sum"])
        self.done = set(state["done"])

    def all_reduce(self) -> None:
        import torch.distributed as dist

        acc = self.acc
        counts = torch.tensor([acc.n_examples, self.n_correct], dtype=torch.long)
        totals = torch.tensor([self.objective_sum], dtype=torch.float64)
        for t in (acc.kept_sum, acc.raw_sum, acc.good_count, acc.bad_count, counts, totals):
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        acc.n_examples, self.n_correct = int(counts[0]), int(counts[1])
        self.objective_sum = float(totals[0])


def _process_group(distributed: bool | None) -> tuple[int, int]:
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


def _fingerprint(spec: Any, config: IdentifyConfig, task: Task, questions: list[Question], rank: int, world: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([spec.model_name, spec.n_layers, spec.d_mlp, spec.hook, config.to_dict(), task.describe(), rank, world],
                        sort_keys=True, default=str).encode())
    for q in questions:
        h.update(q.prompt.encode())
        h.update(json.dumps([q.options, q.correct]).encode())
    return h.hexdigest()


def build_metadata(model: Any, spec: Any, task: Task, config: Any) -> dict[str, Any]:
    """What a saved NeuronSet records: model, hook, task, the method's config (anything with ``to_dict``), versions."""
    import transformer_lens

    import neuronllm_tl

    return {
        "model": spec.model_name,
        "model_class": type(model).__name__,
        "hook": spec.hook,
        "n_layers": spec.n_layers,
        "d_mlp": spec.d_mlp,
        "task": {**task.describe(), "prepend_bos": QuestionEncoder(model, task).prepend_bos},
        "config": config.to_dict(),
        "seed": task.seed,
        "versions": {
            "neuronllm_tl": neuronllm_tl.__version__,
            "transformer_lens": getattr(transformer_lens, "__version__", "unknown"),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
