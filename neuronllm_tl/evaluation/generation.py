"""Steering judged by what the model generates: a generation task's answers before and after steering.

For every example of a generation task (``answer_format="generate"``) the model answers its prompt by greedy
decoding (:func:`~neuronllm_tl.scoring.generation.greedy_generate`, up to ``max_new_tokens``, cut at the first
newline), and three per-example metrics are read:

* exact match: the normalised answer equals a normalised reference
  (:func:`~neuronllm_tl.tasks.generation.answer_matches`);
* contains: the normalised answer contains a normalised reference as whole words;
* log p(reference): the first reference's teacher-forced log-likelihood, summed over its tokens.

A steering (``positions="answer"``, the default) scales its neurons at the answer position and at every
generated position (and, for log p(reference), at every position of the reference): everything from the
answer position on. ``positions="all"`` also steers the prompt. :func:`evaluate_generation` compares the modes
with the unsteered model and with random neuron sets of the same shape, as
:func:`~neuronllm_tl.evaluation.evaluate.evaluate` does for multiple choice: paired bootstrap intervals over
examples for the identified sets, mean ± sd over the random sets.

Example:
    >>> from neuronllm_tl.testing import tiny_generation_task
    >>> task = tiny_generation_task()                # 8 free-text prompts (nl.load_task("capitals-gen") is one)
    >>> ident, held_out = task.split(0.5, seed=0)
    >>> neurons = nl.identify(model, ident, k=3)
    >>> report = nl.evaluate_generation(model, held_out, neurons, controls=2)
    >>> print(report.to_markdown())
    Task tiny-generate:evaluate: 4 examples; 3 good / 3 bad neurons; greedy decoding, 8 new tokens at most.
    Unsteered: exact match ..., contains ..., log p(reference) ....
    <BLANKLINE>
    | mode | neurons | exact match | Δ exact match | contains | Δ contains | log p(ref) | Δ log p(ref) |
    |---|---|---|---|---|---|---|---|
    | enhance | identified | ...
    ...
    | prompt | references | unsteered | enhance | degrade |
    |---|---|---|---|---|
    | what color is the sky ? | blue | ...
    ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from neuronllm_tl.evaluation.generation_report import (
    GenerationReport,
    GenerationRow,
    GenerationScores,
    effect_row,
    random_row,
)
from neuronllm_tl.evaluation.held_out import HeldOut, checked_evaluation
from neuronllm_tl.evaluation.scores import check_task_positions
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device, model_spec, tokenizer_of
from neuronllm_tl.neurons.neuron_set import NeuronSet
from neuronllm_tl.scoring.batches import example_batches, progress_bar
from neuronllm_tl.scoring.encoded import option_scores
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.generation import answer_text, greedy_generate, stop_token_ids
from neuronllm_tl.scoring.shared_prompt import PromptCache, read_logits
from neuronllm_tl.steering.steering import Hooks, Steering
from neuronllm_tl.tasks.generation import answer_contains, answer_matches
from neuronllm_tl.tasks.task import Question, Task


def check_generation_task(task: Task) -> None:
    if not task.is_generation:
        raise ValueError(
            f"task {task.name!r} is multiple choice ({task.answer_format}); evaluate it with nl.evaluate, or load a "
            "generation task (answer_format='generate', e.g. 'capitals-gen')."
        )


def _hooks(model: HookedModel, steering: Steering | None, start: Tensor) -> Hooks:
    return [] if steering is None else steering.hooks_from(model, start)


def _prompt_hooks(model: HookedModel, steering: Steering | None, n_rows: int, device: Any) -> Hooks:
    """Hooks of the pass over the prompts before their answer positions: only a steering at every position."""
    if steering is None or steering.positions != "all":
        return []
    return steering.hooks_from(model, torch.zeros(n_rows, dtype=torch.long, device=device))


def _batches(model: HookedModel, task: Task, batch_size: int) -> tuple[QuestionEncoder, list[list[Question]]]:
    encoder = QuestionEncoder(model, task)
    return encoder, list(example_batches(task.questions(), batch_size))


def generate_answers(
    model: HookedModel,
    task: Task,
    *,
    steering: Steering | None = None,
    max_new_tokens: int = 8,
    batch_size: int = 32,
    prompt_cache: PromptCache | None = None,
    progress: bool = False,
) -> list[str]:
    """Every example's greedy answer (up to the first newline), optionally under ``steering``."""
    check_generation_task(task)
    encoder, batches = _batches(model, task, batch_size)
    tokenizer, device = tokenizer_of(model), model_device(model)
    stops = stop_token_ids(tokenizer)
    answers: list[str] = []
    for batch in progress_bar(batches, progress, f"generate {task.name}", leave=False):
        prompts = [encoder.prompt_ids(q) for q in batch]
        _check_length(encoder, prompts, max_new_tokens, task)
        ids = greedy_generate(
            model,
            prompts,
            max_new_tokens=max_new_tokens,
            stop_ids=stops,
            hooks_from=lambda start: _hooks(model, steering, start),
            prompt_hooks=_prompt_hooks(model, steering, len(prompts), device),
            prompt_cache=prompt_cache,
        )
        answers += [answer_text(tokenizer, row) for row in ids]
    return answers


def _check_length(encoder: QuestionEncoder, prompts: list[list[int]], max_new_tokens: int, task: Task) -> None:
    longest = max(len(p) for p in prompts) + max_new_tokens
    if encoder.n_ctx is not None and longest > encoder.n_ctx:
        raise ValueError(
            f"task {task.name!r}: a prompt plus max_new_tokens={max_new_tokens} is {longest} tokens, over the model's "
            f"context of {encoder.n_ctx}; lower max_new_tokens or shorten the prompts."
        )


def reference_logprobs(
    model: HookedModel,
    task: Task,
    *,
    steering: Steering | None = None,
    batch_size: int = 32,
    prompt_cache: PromptCache | None = None,
) -> Float[Tensor, " example"]:
    """Every example's first reference's teacher-forced log-likelihood (summed over its tokens)."""
    check_generation_task(task)
    encoder, batches = _batches(model, task, batch_size)
    device = model_device(model)
    out = []
    with torch.no_grad():
        for batch in batches:
            enc = encoder.encode(batch).to(device)
            logits, read = read_logits(
                model,
                enc,
                lambda answer_pos: _hooks(model, steering, answer_pos),
                prompt_hooks=_prompt_hooks(model, steering, enc.n_questions, device),
                prompt_cache=prompt_cache,
            )
            scores = option_scores(logits, read)
            out.append(scores.gather(-1, enc.correct[:, None]).squeeze(-1).double().cpu())
    return torch.cat(out)


def score_generation(
    model: HookedModel,
    task: Task,
    *,
    steering: Steering | None = None,
    max_new_tokens: int = 8,
    batch_size: int = 32,
    prompt_cache: PromptCache | None = None,
    progress: bool = False,
) -> GenerationScores:
    """Answers, exact match, contains and log p(reference) of every example, optionally under ``steering``."""
    if steering is not None:
        check_task_positions(steering.positions)
    run: dict[str, Any] = dict(steering=steering, batch_size=batch_size, prompt_cache=prompt_cache)
    answers = generate_answers(model, task, max_new_tokens=max_new_tokens, progress=progress, **run)
    references = [getattr(e, "references", ()) for e in task.examples]
    return GenerationScores(
        answers,
        torch.tensor([answer_matches(a, r) for a, r in zip(answers, references, strict=True)], dtype=torch.float64),
        torch.tensor([answer_contains(a, r) for a, r in zip(answers, references, strict=True)], dtype=torch.float64),
        reference_logprobs(model, task, **run),
    )


def evaluate_generation(
    model: HookedModel,
    task: Task,
    neurons: NeuronSet,
    *,
    modes: Sequence[str] = ("enhance", "degrade"),
    controls: int = 5,
    seed: int = 0,
    positions: Literal["answer", "all"] = "answer",
    max_new_tokens: int = 8,
    batch_size: int = 32,
    samples: int = 5,
    confidence: float = 0.95,
    progress: bool = False,
    held_out: HeldOut = "exclude",
) -> GenerationReport:
    """Steering effects of ``neurons`` on what the model generates for ``task``, next to ``controls`` random sets of
    the same shape; the identified rows carry paired ``confidence`` bootstrap intervals over the examples. The
    examples that identified ``neurons`` are left out first (``held_out``: as in ``nl.evaluate``)."""
    check_generation_task(task)
    part = checked_evaluation(model, task, neurons, modes, controls, positions, held_out)
    task = part.task
    model_spec(model, hook=neurons.hook)
    run: dict[str, Any] = dict(
        max_new_tokens=max_new_tokens, batch_size=batch_size, prompt_cache=PromptCache(), progress=progress
    )
    base = score_generation(model, task, **run)
    report = GenerationReport.start(task, neurons, base, samples=samples, settings=_settings(locals()))
    randoms = [neurons.random_like(seed + i) for i in range(controls)]
    for mode in modes:
        steered = score_generation(model, task, steering=Steering.from_mode(neurons, mode, positions=positions), **run)
        rows: list[GenerationRow] = [effect_row(mode, base, steered, confidence)]
        report.add_samples(mode, steered.answers)
        controls_scored = [
            score_generation(model, task, steering=Steering.from_mode(r, mode, positions=positions), **run)
            for r in randoms
        ]
        if controls_scored:
            rows.append(random_row(mode, base, controls_scored))
        report.rows.extend(rows)
    return report


def _settings(arguments: dict[str, Any]) -> dict[str, Any]:
    keys = ("modes", "controls", "seed", "positions", "max_new_tokens", "confidence")
    part = arguments["part"]
    return {k: list(arguments[k]) if k == "modes" else arguments[k] for k in keys} | {
        "held_out": part.to_dict(),
        "examples": part.describe(),
    }


__all__ = [
    "GenerationScores",
    "evaluate_generation",
    "generate_answers",
    "reference_logprobs",
    "score_generation",
]
