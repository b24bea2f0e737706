"""Per-question attributions and activation statistics of a whole task, kept for later selection.

:func:`~neuronllm_tl.neurons.identify.identify` streams attributions into CNI sums and never keeps
them. The baselines need them per question (QRNCA filters each template, Knowledge Neurons each
prompt), and a comparison grid derives several neuron sets (NeuronLLM at several K, QRNCA, Knowledge
Neurons) from one attribution run. :class:`TaskAttributions` holds ``[question, layer, d_mlp]``
float32 on the CPU: 4 bytes x questions x layers x d_mlp (SmolLM2-135M: 184 kB per question).

Example:
    >>> attr = collect_attributions(model, task, method="integrated_gradients", objective="vocab_prob")
    >>> attr.per_example().shape                 # [example, layer, d_mlp], summed over permutations
    >>> attr.save("capitals-ig-vocab.safetensors")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from neuronllm_tl.attribution.methods import Method, attribute
from neuronllm_tl.models.validation import DEFAULT_HOOK, ModelSpec, check_finite, check_width, model_device, model_spec
from neuronllm_tl.scoring.batches import example_batches, progress_bar
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits
from neuronllm_tl.scoring.objectives import check_objective
from neuronllm_tl.tasks.task import Task


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
    correct: Tensor
    """Whether the unsteered model ranks the correct option first, per question."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_examples(self) -> int:
        return int(self.example_index.max()) + 1 if len(self.example_index) else 0

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
        save_file(tensors, str(tmp), metadata={"metadata": json.dumps(self.metadata, default=str)})
        tmp.replace(path)  # atomic: an interrupted save never leaves a half-written file behind
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TaskAttributions":
        from safetensors import safe_open
        from safetensors.torch import load_file

        t = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("metadata", "{}"))
        return cls(t["attributions"], t["example_index"].long(), t["objective_values"], t["correct"].bool(), meta)


def collect_attributions(
    model: Any,
    task: Task,
    *,
    method: Method = "integrated_gradients",
    objective: str = "contrastive",
    hook: str = DEFAULT_HOOK,
    ig_steps: int = 16,
    batch_size: int = 8,
    max_rows: int = 64,
    max_tokens: int = 4096,
    progress: bool = False,
) -> TaskAttributions:
    """Attributions of ``objective`` for every question of ``task`` (all permutations), kept per question."""
    check_objective(objective)
    spec = model_spec(model, hook=hook)
    device = model_device(model)
    encoder = QuestionEncoder(model, task)
    questions = task.questions()
    parts, values, correct = [], [], []
    batches = list(example_batches(questions, batch_size, encoder=encoder, max_tokens=max_tokens))
    for batch in progress_bar(batches, progress, f"attribute {task.name} ({method}, {objective})", leave=False):
        enc = encoder.encode(batch).to(device)
        out = attribute(model, spec, enc, method=method, objective=objective, ig_steps=ig_steps, max_rows=max_rows)
        parts.append(out.attributions.float().cpu())
        values.append(out.objective.float().cpu())
        correct.append((out.scores.argmax(-1) == enc.correct).cpu())
    attributions = torch.cat(parts)
    check_finite(attributions, f"attributions of task {task.name!r}")
    meta = {
        "model": spec.model_name, "hook": spec.hook, "task": task.describe(), "method": method,
        "objective": objective, "ig_steps": ig_steps, "n_layers": spec.n_layers, "d_mlp": spec.d_mlp,
    }
    return TaskAttributions(
        attributions, torch.tensor([q.example_index for q in questions]), torch.cat(values), torch.cat(correct), meta
    )


def firing_rates(
    model: Any,
    task: Task,
    *,
    hook: str = DEFAULT_HOOK,
    positions: Literal["prompt", "answer"] = "prompt",
    threshold: float = 0.0,
    batch_size: int = 16,
    max_tokens: int = 8192,
) -> tuple[Float[Tensor, "layer d_mlp"], int]:
    """How often each neuron's activation exceeds ``threshold`` on a task's prompts (LAPE's statistic).

    Returns (the share of counted tokens on which each neuron fires, the number of tokens counted).
    ``positions="prompt"`` counts every prompt token of every question once (the option text of
    cloze rows is not counted); ``"answer"`` only the answer position.
    """
    from neuronllm_tl.attribution.methods import first_rows

    if positions not in ("prompt", "answer"):
        raise ValueError(f"positions must be 'prompt' or 'answer', got {positions!r}.")
    spec = model_spec(model, hook=hook)
    device = model_device(model)
    encoder = QuestionEncoder(model, task)
    fired = torch.zeros(spec.n_layers, spec.d_mlp, dtype=torch.float64)
    n_tokens = 0
    for batch in example_batches(task.questions(), batch_size, encoder=encoder, max_tokens=max_tokens):
        enc = encoder.encode(batch).to(device)
        rows = first_rows(enc)
        span = torch.arange(enc.tokens.shape[1], device=device)[None, :]
        counted = span <= enc.answer_pos[rows, None]
        if positions == "answer":
            counted = span == enc.answer_pos[rows, None]
        with torch.no_grad():
            forward_logits(model, enc, _counting_hooks(spec, rows, counted, threshold, fired))
        n_tokens += int(counted.sum())
    return (fired / max(n_tokens, 1)).float(), n_tokens


def _counting_hooks(spec: ModelSpec, rows: Tensor, counted: Tensor, threshold: float, fired: Tensor) -> list:
    def make(layer: int):
        name = spec.hook_name(layer)

        def hook(act: Tensor, hook: Any) -> None:
            check_width(act, spec, name)
            on = (act[rows] > threshold) & counted[..., None]
            fired[layer] += on.sum((0, 1)).double().cpu()

        return hook

    return [(spec.hook_name(l), make(l)) for l in range(spec.n_layers)]
