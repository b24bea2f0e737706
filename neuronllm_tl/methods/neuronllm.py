"""NeuronLLM: a task's good and bad neurons by contrastive neuron identification (CNI).

The pipeline: QATT questions (each example permuted ``n_permutations`` times), then per-question
attributions of F (by default the contrastive objective, log softmax(option scores)[correct]) at the
answer position of every ``blocks.{l}.{hook}``, then the sum over each example's permutations, then
streaming CNI selection (:mod:`neuronllm_tl.neurons.selection`), then a :class:`NeuronSet`.

Sign convention: a positive score means the neuron raises F (good); a negative one lowers it (bad).

Example:
    >>> neurons = nl.identify(model, task, method="neuronllm", attribution="integrated_gradients", k=10)
    >>> neurons.top(3).good.shape                 # (layer, index) of the 3 best good neurons, best first
    torch.Size([3, 2])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from neuronllm_tl.attribution.collect import TaskAttributions, sum_per_example
from neuronllm_tl.attribution.estimators import AttributionPositions, Estimator
from neuronllm_tl.attribution.stream import AttributionRequest, AttributionStream
from neuronllm_tl.methods.base import MethodConfig, MethodInputs
from neuronllm_tl.methods.run_state import RunState, process_group, run_fingerprint
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.neurons.selection import (
    AGGREGATIONS,
    Aggregation,
    ContrastiveAccumulator,
    Selection,
    resolve_z,
    select_top_k,
)


@dataclass(frozen=True)
class NeuronLLMConfig(MethodConfig):
    """The paper's method as reconstructed (docs/method.md)."""

    method: ClassVar[str] = "neuronllm"
    streams: ClassVar[bool] = True
    attribution: Estimator = "grad_x_act"
    """``"grad_x_act"`` (one forward + backward per batch), ``"integrated_gradients"`` (the paper's, exact) or
    ``"ablation"`` (the exact effect of silencing each neuron; one variant per neuron, no gradients)."""
    objective: str = "contrastive"
    """The F attributed: a registered objective (:mod:`neuronllm_tl.scoring.objectives`)."""
    z: int | float = 0.05
    """Per-example coarse set size: an int, or a float fraction of the neurons ranked. Measured on SmolLM2
    (docs/neuron_selection.md): ``z=0.01`` masks fewer neurons and gives the strongest specific Enhance on
    capitals-mini, sentiment-mini and AG News."""
    selection: Selection = "global"
    """``"global"`` ranks all layers together; ``"per_layer"`` applies z and K within each layer."""
    ig_steps: int = 16
    """Integrated-gradients steps m per layer (unused by grad_x_act)."""
    mask: bool = True
    """Set the ambiguous neurons (in one example's good coarse set and another's bad one) to 0: the paper's
    CNI. ``False`` keeps them: measured on SmolLM2 (docs/neuron_selection.md), the strongest specific silencing
    on capitals-mini and AG News, but on label tasks its sets push one label when excited."""
    aggregation: Aggregation = "ace"
    """The task score: ``"ace"`` (the paper's), ``"mean"`` (plain mean attribution) or ``"share"`` (Knowledge
    Neurons' threshold rule, signed); :mod:`neuronllm_tl.neurons.selection`. Ablations of issue #14."""
    share_threshold: float = 0.2
    """t of ``aggregation="share"``: a neuron passes in an example above t x that example's max attribution."""
    positions: AttributionPositions = "answer"
    """Where the neurons are attributed: ``"answer"`` (the paper's) or ``"answer_tokens"`` (grad x act summed over
    the answer position and every position predicting the reference's tokens; for generation tasks)."""

    def __post_init__(self) -> None:
        self.attribution_request()  # validates attribution, objective and ig_steps
        if self.selection not in ("global", "per_layer"):
            raise ValueError(f"selection must be 'global' or 'per_layer', got {self.selection!r}.")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {self.aggregation!r}.")
        if not 0.0 < self.share_threshold < 1.0:
            raise ValueError(f"share_threshold must be in (0, 1), got {self.share_threshold!r}.")
        if isinstance(self.z, bool) or not isinstance(self.z, (int, float)):
            raise ValueError(f"z must be an int >= 1 or a fraction in (0, 1], got {self.z!r}.")

    def attribution_request(self) -> AttributionRequest:
        return AttributionRequest(self.attribution, self.objective, self.hook, self.ig_steps, positions=self.positions)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.positions == "answer":  # the default keeps the keys of results stored before the field existed
            del d["positions"]
        return d


def neuronllm(inputs: MethodInputs) -> NeuronSet:
    """CNI on given attributions, or streamed over the task (checkpointed, sharded over processes)."""
    config = inputs.config
    assert isinstance(config, NeuronLLMConfig)
    if inputs.attributions is not None:
        return from_attributions(inputs.task_attributions(), k=inputs.k, config=config, metadata=inputs.metadata())
    stream = AttributionStream(inputs.model, inputs.task, config.attribution_request(), inputs.run)
    state = RunState(_accumulator(config, stream.spec.n_layers, stream.spec.d_mlp))
    rank, world = process_group(inputs.distributed)
    metadata = inputs.metadata()
    checkpoint = _checkpoint_path(inputs.checkpoint, rank, world)
    fingerprint = run_fingerprint(metadata, {"plan": [len(b) for b in stream.plan]}, rank, world)
    if checkpoint is not None:
        state.resume(checkpoint, fingerprint)
    for batch in stream.batches(skip=state.done, rank=rank, world=world):
        state.acc.update(sum_per_example(batch.attribution.attributions.float(), batch.example_index))
        state.n_correct += int(batch.correct.sum())
        state.objective_sum += float(batch.attribution.objective.double().sum())
        state.done.add(batch.index)
        if checkpoint is not None:
            state.save(checkpoint, fingerprint)
    if world > 1:
        state.all_reduce()
    n = len(stream.questions)
    stats = {"accuracy": state.n_correct / n, "mean_objective": state.objective_sum / n, "n_questions": n}
    return select(state.acc, inputs.k, config, metadata, {**stats, "world_size": world})


def _checkpoint_path(checkpoint: str | Path | None, rank: int, world: int) -> Path | None:
    if checkpoint is None:
        return None
    return Path(f"{checkpoint}.rank{rank}" if world > 1 else checkpoint)


def _accumulator(config: NeuronLLMConfig, n_layers: int, d_mlp: int) -> ContrastiveAccumulator:
    z = resolve_z(config.z, n_layers, d_mlp, config.selection)
    return ContrastiveAccumulator(
        n_layers, d_mlp, z=z, selection=config.selection, share_threshold=config.share_threshold
    )


def from_attributions(
    attributions: TaskAttributions, *, k: int, config: NeuronLLMConfig, metadata: dict[str, Any]
) -> NeuronSet:
    """CNI selection on per-question attributions: the same neurons as the streamed run with the same
    request, without rerunning the model for another ``k``, ``z`` or selection."""
    n_layers, d_mlp = attributions.attributions.shape[1:]
    acc = _accumulator(config, n_layers, d_mlp)
    acc.update(attributions.per_example())
    stats = {
        "accuracy": float(attributions.correct.float().mean()),
        "mean_objective": float(attributions.objective_values.double().mean()),
        "n_questions": len(attributions.example_index),
        "world_size": 1,
    }
    return select(acc, k, config, metadata, stats)


def select(
    acc: ContrastiveAccumulator, k: int, config: NeuronLLMConfig, metadata: dict[str, Any], stats: dict[str, Any]
) -> NeuronSet:
    """Good = top-K task score (ACE by default), bad = bottom-K, with the run's statistics in the metadata."""
    scores = acc.scores(config.aggregation, mask=config.mask)
    good, good_scores, bad, bad_scores = select_top_k(scores, k, selection=config.selection)
    metadata = {**metadata, "k": k}
    top_by_size = acc.scores("mean", mask=False).abs().flatten().topk(min(k, scores.numel())).indices
    metadata["identification"] = {
        "n_examples": acc.n_examples,
        **stats,
        "z": acc.z,
        "n_ambiguous": int(acc.ambiguous.sum()),
        # issue #14: how many of the K neurons of largest |mean attribution| the ambiguity mask removes
        "ambiguous_in_top_k_by_size": int(acc.ambiguous.flatten()[top_by_size].sum()),
    }
    return NeuronSet(
        good=good,
        bad=bad,
        good_scores=good_scores,
        bad_scores=bad_scores,
        scores=scores.float(),
        ambiguous=acc.ambiguous,
        metadata=metadata,
    )
