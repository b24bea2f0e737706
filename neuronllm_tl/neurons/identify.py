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

import platform
from dataclasses import asdict, dataclass
from typing import Any, Iterator, Mapping

import torch

from neuronllm_tl.attribution.methods import METHODS, Method, attribute
from neuronllm_tl.models.validation import DEFAULT_HOOK, model_device, model_spec
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.neurons.selection import ContrastiveAccumulator, Selection, resolve_z, select_top_k
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.tasks.task import Question, Task


@dataclass(frozen=True)
class IdentifyConfig:
    """Options of :func:`identify` (stored in every saved NeuronSet)."""

    method: Method = "grad_x_act"
    k: int = 100
    z: int | float = 0.05
    selection: Selection = "global"
    hook: str = DEFAULT_HOOK
    ig_steps: int = 16
    batch_size: int = 8
    max_rows: int = 64

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}.")
        if self.selection not in ("global", "per_layer"):
            raise ValueError(f"selection must be 'global' or 'per_layer', got {self.selection!r}.")
        for name in ("k", "ig_steps", "batch_size", "max_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IdentifyConfig":
        return cls(**dict(d))


def example_batches(questions: list[Question], batch_size: int) -> Iterator[list[Question]]:
    """Questions grouped so that all permutations of ``batch_size`` examples share a batch."""
    batch: list[Question] = []
    examples: set[int] = set()
    for q in questions:
        if q.example_index not in examples and len(examples) == batch_size:
            yield batch
            batch, examples = [], set()
        batch.append(q)
        examples.add(q.example_index)
    if batch:
        yield batch


def identify(
    model: Any,
    task: Task,
    *,
    method: Method = "grad_x_act",
    k: int = 100,
    z: int | float = 0.05,
    selection: Selection = "global",
    hook: str = DEFAULT_HOOK,
    ig_steps: int = 16,
    batch_size: int = 8,
    max_rows: int = 64,
    progress: bool = False,
) -> NeuronSet:
    """Good and bad neurons of ``model`` for ``task``.

    Args:
        model: A TransformerLens model (TransformerBridge, or HookedTransformer under TL <= 3.9) in eval mode.
        task: The task; every example is asked ``task.n_permutations`` times.
        method: ``"grad_x_act"`` (one forward + backward per batch) or ``"integrated_gradients"``
            (the paper's, exact, ``ig_steps`` steps per layer).
        k: Size of the good set and of the bad set.
        z: Per-example coarse set size (an int, or a float fraction of the neurons ranked).
        selection: ``"global"`` ranks all layers together; ``"per_layer"`` applies z and k within each layer.
        hook: Per-block hook of the neurons; ``"mlp.hook_post"`` (input of W_out) or e.g.
            ``"mlp.hook_pre_linear"`` (the up-projection of gated MLPs).
        batch_size: Examples per batch (each with all its permutations).
        max_rows: Rows per forward pass when integrated gradients batches its (layer, step) variants.
        progress: Show a progress bar.
    """
    config = IdentifyConfig(
        method=method, k=k, z=z, selection=selection, hook=hook, ig_steps=ig_steps, batch_size=batch_size, max_rows=max_rows
    )
    spec = model_spec(model, hook=config.hook)
    device = model_device(model)
    encoder = QuestionEncoder(model, task)
    acc = ContrastiveAccumulator(
        spec.n_layers, spec.d_mlp, z=resolve_z(config.z, spec.n_layers, spec.d_mlp, config.selection), selection=config.selection
    )
    questions = task.questions()
    n_correct, objective_sum = 0, 0.0
    batches = list(example_batches(questions, config.batch_size))
    for batch in _progress(batches, progress, f"identify {task.name} ({config.method})"):
        enc = encoder.encode(batch).to(device)
        out = attribute(model, spec, enc, method=config.method, ig_steps=config.ig_steps, max_rows=config.max_rows)
        example_ids = torch.tensor([q.example_index for q in batch])
        local = torch.unique(example_ids, return_inverse=True)[1]
        one_hot = torch.nn.functional.one_hot(local).float().T.to(out.attributions.device)
        acc.update(torch.einsum("eq,qln->eln", one_hot, out.attributions.float()))
        n_correct += int((out.scores.argmax(-1) == enc.correct).sum())
        objective_sum += float(out.objective.sum())
    good, good_scores, bad, bad_scores = select_top_k(acc.ace(), config.k, selection=config.selection)
    metadata = build_metadata(model, spec, task, config, encoder.prepend_bos)
    metadata["identification"] = {
        "n_examples": acc.n_examples,
        "n_questions": len(questions),
        "accuracy": n_correct / len(questions),
        "mean_objective": objective_sum / len(questions),
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


def build_metadata(model: Any, spec: Any, task: Task, config: IdentifyConfig, prepend_bos: bool) -> dict[str, Any]:
    import transformer_lens

    import neuronllm_tl

    return {
        "model": spec.model_name,
        "model_class": type(model).__name__,
        "hook": spec.hook,
        "n_layers": spec.n_layers,
        "d_mlp": spec.d_mlp,
        "task": {**task.describe(), "prepend_bos": prepend_bos},
        "config": config.to_dict(),
        "seed": task.seed,
        "versions": {
            "neuronllm_tl": neuronllm_tl.__version__,
            "transformer_lens": getattr(transformer_lens, "__version__", "unknown"),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def _progress(items: list, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc)
