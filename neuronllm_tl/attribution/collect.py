"""Per-question attributions of a whole task, kept for later selection.

CNI identification (:mod:`neuronllm_tl.methods.neuronllm`) folds attributions into running sums and
never keeps them. The baselines need them per question (QRNCA filters each template, Knowledge
Neurons each prompt), and a comparison grid derives several neuron sets (NeuronLLM at several K,
QRNCA, Knowledge Neurons) from one attribution run. :class:`TaskAttributions` holds
``[question, layer, d_mlp]`` float32 on the CPU: 4 bytes x questions x layers x d_mlp (SmolLM2-135M:
184 kB per question). Both read the one loop of :mod:`neuronllm_tl.attribution.stream`.

Example:
    >>> request = AttributionRequest(estimator="integrated_gradients", objective="vocab_prob", ig_steps=4)
    >>> attr = collect_attributions(model, task, request)
    >>> attr.attributions.shape, attr.per_example().shape   # [question, ...]; [example, ...]: summed over permutations
    (torch.Size([36, 3, 48]), torch.Size([12, 3, 48]))
    >>> path = attr.save(tmp_path / "tiny-ig-vocab.safetensors")
    >>> torch.equal(TaskAttributions.load(path).attributions, attr.attributions)
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from neuronllm_tl.attribution.stream import AttributedBatch, AttributionRequest, AttributionStream, RunOptions
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import check_finite
from neuronllm_tl.tasks.task import Task

ATTRIBUTIONS_METADATA_KEY = "metadata"


def sum_per_example(
    attributions: Float[Tensor, "question layer d_mlp"], example_index: Int[Tensor, " question"]
) -> Float[Tensor, "example layer d_mlp"]:
    """Attributions summed over the questions of each example, examples in ascending index order."""
    local = torch.unique(example_index, return_inverse=True)[1]
    one_hot = torch.nn.functional.one_hot(local).to(attributions.dtype).T.to(attributions.device)
    return torch.einsum("eq,qln->eln", one_hot, attributions)


@dataclass
class TaskAttributions:
    """Attributions of every question of a task's augmented set, with what produced them."""

    attributions: Float[Tensor, "question layer d_mlp"]
    example_index: Int[Tensor, " question"]
    objective_values: Float[Tensor, " question"]
    correct: Bool[Tensor, " question"]
    """Whether the unsteered model ranks the correct option first, per question."""
    metadata: dict[str, Any] = field(default_factory=dict)
    measured: Bool[Tensor, "layer d_mlp"] | None = None
    """Which neurons were attributed (exact ablation of ``candidates``); the others hold 0, not a measured
    zero, and must be left out of any statistic over neurons. ``None``: every neuron."""

    @property
    def n_examples(self) -> int:
        return int(self.example_index.max()) + 1 if len(self.example_index) else 0

    @property
    def request(self) -> dict[str, Any]:
        """The :class:`AttributionRequest` content these attributions answer (from their metadata)."""
        return dict(self.metadata.get("request", {}))

    def per_example(self) -> Float[Tensor, "example layer d_mlp"]:
        """ES_e: each example's attributions summed over its permuted questions (the paper's Eq. 4)."""
        return sum_per_example(self.attributions, self.example_index)

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tensors = {
            "attributions": self.attributions.contiguous(),
            "example_index": self.example_index.contiguous(),
            "objective_values": self.objective_values.contiguous(),
            "correct": self.correct.to(torch.uint8).contiguous(),
        }
        if self.measured is not None:
            tensors["measured"] = self.measured.to(torch.uint8).contiguous()
        save_file(tensors, str(tmp), metadata={ATTRIBUTIONS_METADATA_KEY: json.dumps(self.metadata, default=str)})
        tmp.replace(path)  # atomic: an interrupted save never leaves a half-written file behind
        return path

    @classmethod
    def load(cls, path: str | Path) -> TaskAttributions:
        from safetensors import safe_open
        from safetensors.torch import load_file

        t = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get(ATTRIBUTIONS_METADATA_KEY, "{}"))
        measured = t["measured"].bool() if "measured" in t else None
        return cls(
            t["attributions"], t["example_index"].long(), t["objective_values"], t["correct"].bool(), meta, measured
        )


def collect_attributions(
    model: HookedModel, task: Task, request: AttributionRequest = AttributionRequest(), run: RunOptions = RunOptions()
) -> TaskAttributions:
    """Attributions of ``request`` for every question of ``task`` (all permutations), kept per question."""
    stream = AttributionStream(model, task, request, run)
    return assemble_attributions(stream, [batch_attributions(batch) for batch in stream.batches()])


def batch_attributions(batch: AttributedBatch) -> TaskAttributions:
    """One batch's attributions on the CPU (its example indices are the task's, its metadata empty)."""
    out = batch.attribution
    example_index = torch.tensor([q.example_index for q in batch.questions])
    mask = None if out.mask is None else out.mask.cpu()
    values = out.objective.float().cpu()
    return TaskAttributions(out.attributions.float().cpu(), example_index, values, batch.correct, {}, mask)


def assemble_attributions(stream: AttributionStream, batches: list[TaskAttributions]) -> TaskAttributions:
    """The task's attributions from every batch of ``stream``, in order, with what produced them."""
    attributions = torch.cat([b.attributions for b in batches])
    check_finite(attributions, f"attributions of task {stream.task.name!r}")
    meta = {
        "model": stream.spec.model_name,
        "hook": stream.spec.hook,
        "task": stream.task.describe(),
        "request": stream.request.to_dict(),
        "n_layers": stream.spec.n_layers,
        "d_mlp": stream.spec.d_mlp,
    }
    return TaskAttributions(
        attributions,
        torch.cat([b.example_index for b in batches]),
        torch.cat([b.objective_values for b in batches]),
        torch.cat([b.correct for b in batches]),
        meta,
        batches[-1].measured,
    )


def check_attributions(attributions: TaskAttributions, request: AttributionRequest, who: str) -> None:
    """Refuse attributions that answer another request than the one ``who`` needs, saying which fields differ."""
    have, want = attributions.request, request.to_dict()
    wrong = {key: (have.get(key), value) for key, value in want.items() if have.get(key) != value}
    if wrong:
        raise ValueError(
            f"the attributions given to {who!r} were computed with "
            + ", ".join(f"{key}={got!r}" for key, (got, _) in wrong.items())
            + f"; {who} needs "
            + ", ".join(f"{key}={need!r}" for key, (_, need) in wrong.items())
            + ". Collect them with collect_attributions(model, task, AttributionRequest(...)) as the method's "
            "config.attribution_request() says."
        )
