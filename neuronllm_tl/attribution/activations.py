"""Activation statistics of a task's prompts (no gradients): how often each neuron fires.

LAPE ranks neurons by the entropy of these firing rates across tasks. ``positions="all"`` counts every
prompt token of every question once (the option text of cloze rows is not counted: it is answer, not
prompt); ``"answer"`` counts only the answer position.

Example:
    >>> rates, n_tokens = firing_rates(model, task)          # [layer, d_mlp] shares in [0, 1]
    >>> rates.shape, bool(((rates >= 0) & (rates <= 1)).all())
    (torch.Size([3, 48]), True)
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from neuronllm_tl.attribution.estimators import first_rows
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import DEFAULT_HOOK, ModelSpec, check_width, model_device, model_spec
from neuronllm_tl.scoring.batches import example_batches
from neuronllm_tl.scoring.encoding import QuestionEncoder, forward_logits
from neuronllm_tl.tasks.task import Task

CountedPositions = Literal["all", "answer"]


def firing_rates(
    model: HookedModel,
    task: Task,
    *,
    hook: str = DEFAULT_HOOK,
    positions: CountedPositions = "all",
    threshold: float = 0.0,
    batch_size: int = 16,
    max_tokens: int = 8192,
) -> tuple[Float[Tensor, "layer d_mlp"], int]:
    """(the share of counted tokens on which each neuron's activation exceeds ``threshold``, tokens counted)."""
    if positions not in ("all", "answer"):
        raise ValueError(f"positions must be 'all' (every prompt token) or 'answer', got {positions!r}.")
    spec = model_spec(model, hook=hook)
    device = model_device(model)
    encoder = QuestionEncoder(model, task)
    fired = torch.zeros(spec.n_layers, spec.d_mlp, dtype=torch.float64)
    n_tokens = 0
    for batch in example_batches(task.questions(), batch_size, encoder=encoder, max_tokens=max_tokens):
        enc = encoder.encode(batch, calibrate=False).to(device)  # activations only: no scores read
        rows = first_rows(enc)
        span = torch.arange(enc.tokens.shape[1], device=device)[None, :]
        counted = span <= enc.answer_pos[rows, None] if positions == "all" else span == enc.answer_pos[rows, None]
        with torch.no_grad():
            forward_logits(model, enc, _counting_hooks(spec, rows, counted, threshold, fired))
        n_tokens += int(counted.sum())
    return (fired / max(n_tokens, 1)).float(), n_tokens


def _counting_hooks(
    spec: ModelSpec, rows: Int[Tensor, " q"], counted: Bool[Tensor, "q pos"], threshold: float, fired: Tensor
) -> list[tuple[str, Any]]:
    def make(layer: int) -> Any:
        name = spec.hook_name(layer)

        def hook(act: Tensor, hook: Any) -> None:
            check_width(act, spec, name)
            on = (act[rows] > threshold) & counted[..., None]
            fired[layer] += on.sum((0, 1)).double().cpu()

        return hook

    return [(spec.hook_name(layer), make(layer)) for layer in range(spec.n_layers)]
