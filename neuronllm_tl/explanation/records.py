"""What ``explain`` measures on a task, per question: answer-position activations, the model's answers,
the final norm's scale; and per example: gradient x activation (the spread of the score) and exact effects.

One forward pass per batch (no gradients) with recording hooks on ``blocks.{l}.{hook}`` of the layers of
the explained neurons and on ``ln_final.hook_scale`` gives every question's answer-position activation of
each neuron (in cloze format every row of a question shares the prompt, so its first row is read), the
option scores (hence the model's answer) and the norm scale. The hooks are passed to
:func:`~neuronllm_tl.scoring.encoding.forward_logits`, i.e. ``run_with_hooks``, which removes them when the
pass ends, also by an exception.

The per-example quantities read the attribution stream (:mod:`neuronllm_tl.attribution.stream`) with the
explained neurons' columns kept: gradient x activation of F summed over each example's permutations
(ES_e, the paper's Eq. 4), and exact zero ablation restricted to the explained neurons (``candidates``).

Example:
    >>> rec = task_records(model, spec, task, torch.tensor([[1, 7]]), batch_size=16)   # neuron 7 of layer 1
    >>> rec.activations.shape, rec.correct.shape      # [question, neuron], [question]: 12 examples x 3 orders
    (torch.Size([36, 1]), torch.Size([36]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from neuronllm_tl.attribution.collect import sum_per_example
from neuronllm_tl.attribution.probes import first_rows
from neuronllm_tl.attribution.stream import AttributionRequest, AttributionStream, RunOptions
from neuronllm_tl.explanation.direct import FINAL_SCALE_HOOK
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import ModelSpec, check_width, model_device
from neuronllm_tl.scoring.batches import example_batches
from neuronllm_tl.scoring.encoding import EncodedQuestions, QuestionEncoder, forward_logits, option_scores
from neuronllm_tl.tasks.task import Question, Task

MAX_TOKENS = 8192


@dataclass
class TaskRecords:
    """Per question of the task's augmented set (``task.questions()`` order)."""

    questions: list[Question]
    activations: Float[Tensor, "question neuron"]
    """Answer-position activation of each explained neuron (float64)."""
    predicted: Int[Tensor, " question"]
    """The option the model ranks first (its position in the question)."""
    option_tokens: list[list[int]]
    """The token each option is read from at the answer position: its letter, or its text's first token."""
    option_names: list[tuple[str, ...]]
    """How each option is named in the direct effects: its letter (letter format) or its text (cloze)."""
    scale: Float[Tensor, " question"]
    """The final norm's scale at the answer position (1 where the model has no ``ln_final.hook_scale``)."""
    probs: list[Tensor]
    """Per question, the model's probability of each option (the softmax over the option scores)."""

    @property
    def correct(self) -> Bool[Tensor, " question"]:
        return self.predicted == torch.tensor([q.correct for q in self.questions])

    @property
    def example_index(self) -> Int[Tensor, " question"]:
        return torch.tensor([q.example_index for q in self.questions])

    @property
    def weights(self) -> Float[Tensor, " question"]:
        """1 / (the example's number of questions x the number of examples): a mean over these weights
        averages each example's questions first, then the examples."""
        index = self.example_index
        counts = torch.bincount(index).double()
        return 1.0 / (counts[index] * int((counts > 0).sum()))

    def per_example_mean(self, values: Float[Tensor, "question n"]) -> Float[Tensor, "example n"]:
        """``values`` averaged over each example's questions (float64), examples in ascending order."""
        index = self.example_index
        counts = torch.bincount(index)
        return sum_per_example(values.double()[:, None, :], index)[:, 0, :] / counts[counts > 0][:, None]

    def per_example_correct(self) -> Bool[Tensor, " example"]:
        """Whether the model answers every question (permutation) of the example correctly."""
        return self.per_example_mean(self.correct[:, None].double())[:, 0] == 1.0


def _recording_hook(spec: ModelSpec, layer: int, rows: Tensor, pos: Tensor, store: dict[Any, Tensor]) -> tuple:
    name = spec.hook_name(layer)

    def hook(act: Float[Tensor, "row pos d_mlp"], hook: Any) -> None:
        check_width(act, spec, name)
        store[layer] = act[rows.to(act.device), pos.to(act.device)].detach().double().cpu()

    return name, hook


def _scale_hook(rows: Tensor, pos: Tensor, store: dict[Any, Tensor]) -> tuple:
    def hook(scale: Tensor, hook: Any) -> None:
        store["scale"] = scale[rows.to(scale.device), pos.to(scale.device)].detach().double().reshape(-1).cpu()

    return FINAL_SCALE_HOOK, hook


def _option_tokens(enc: EncodedQuestions) -> list[list[int]]:
    """Per question, the token of each option at the answer position, in the question's option order."""
    if enc.answer_format == "letter":
        return [enc.letter_ids[q][enc.option_mask[q]].tolist() for q in range(enc.n_questions)]
    out: list[list[int]] = [[] for _ in range(enc.n_questions)]
    for row in torch.argsort(enc.row_option, stable=True).tolist():
        out[int(enc.row_question[row])].append(int(enc.cont_ids[row, 0]))
    return out


def _batch_records(
    model: HookedModel, spec: ModelSpec, enc: EncodedQuestions, neurons: Int[Tensor, "n 2"]
) -> tuple[Tensor, Tensor, Tensor]:
    """(activations [q, n], option probabilities [q, option], norm scale [q]) of one encoded batch."""
    rows = first_rows(enc)
    pos = enc.answer_pos[rows]
    store: dict[Any, Tensor] = {}
    hooks = [_recording_hook(spec, layer, rows, pos, store) for layer in torch.unique(neurons[:, 0]).tolist()]
    if FINAL_SCALE_HOOK in model.hook_dict:
        hooks.append(_scale_hook(rows, pos, store))
    with torch.no_grad():
        probs = option_scores(forward_logits(model, enc, hooks), enc).double().softmax(-1).cpu()
    acts = torch.stack([store[layer][:, index] for layer, index in neurons.tolist()], 1)
    scale = store.get("scale", torch.ones(enc.n_questions, dtype=torch.float64))
    return acts, probs, scale


def task_records(
    model: HookedModel, spec: ModelSpec, task: Task, neurons: Int[Tensor, "n 2"], *, batch_size: int
) -> TaskRecords:
    """Every question's activations, answer and norm scale, one no-gradient pass per batch."""
    encoder = QuestionEncoder(model, task)
    questions = task.questions()
    device = model_device(model)
    acts, probs, scale, tokens = [], [], [], []
    for batch in example_batches(questions, batch_size, encoder=encoder, max_tokens=MAX_TOKENS):
        enc = encoder.encode(batch).to(device)
        a, p, s = _batch_records(model, spec, enc, neurons)
        acts.append(a)
        probs += [row[: len(q.options)] for row, q in zip(p, batch, strict=True)]
        scale.append(s)
        tokens += _option_tokens(enc.to("cpu"))
    letters = task.template.letters
    names = [tuple(letters[: len(q.options)]) if task.answer_format == "letter" else q.options for q in questions]
    predicted = torch.tensor([int(p.argmax()) for p in probs])
    return TaskRecords(questions, torch.cat(acts), predicted, tokens, names, torch.cat(scale), probs)


def per_example_attributions(
    model: HookedModel, task: Task, request: AttributionRequest, neurons: Int[Tensor, "n 2"], *, batch_size: int
) -> Float[Tensor, "example neuron"]:
    """The explained neurons' attributions of ``request``, summed over each example's questions (float64)."""
    stream = AttributionStream(model, task, request, RunOptions(batch_size=batch_size))
    layer, index = neurons[:, 0], neurons[:, 1]
    parts, examples = [], []
    for batch in stream.batches():
        values = batch.attribution.attributions
        parts.append(values[:, layer.to(values.device), index.to(values.device)].double().cpu())
        examples.append(batch.example_index)
    return sum_per_example(torch.cat(parts)[:, None, :], torch.cat(examples))[:, 0, :]
