"""The model's own wrong answers as distractors of a generation task, mined once and cached.

A generation task without distractors can still be attributed contrastively, against what the model would say
instead. For each prompt, the ``n + extra`` most likely first tokens at the answer position (no stop tokens)
each start a greedy continuation (:func:`~neuronllm_tl.scoring.generation.greedy_generate`, cut at the first
newline). Continuations that match a reference after normalisation, are empty, or repeat an earlier one are
dropped; the first ``n`` left, in the order of their first token's probability, become the example's distractors,
marked ``distractor_source="model"`` (``Task.describe()["distractor_sources"]`` counts them, so every saved
neuron set says so).

The result is cached as JSON under ``<cache root>/distractors/``, keyed by the model's weights
(:func:`~neuronllm_tl.models.fingerprint.model_fingerprint`), the task's content and the mining settings.

Example:
    >>> from neuronllm_tl.testing import tiny_generation_task     # or nl.load_task("capitals-gen")
    >>> mined = with_model_distractors(model, tiny_generation_task(distractors=False), n=2, drop_unmined=False)
    >>> ex = mined.examples[0]
    >>> ex.question, ex.references, len(ex.distractors), ex.distractor_source
    ('what color is the sky ?', ('blue',), 2, 'model')
    >>> mined.describe()["distractor_sources"]["model"] == sum(e.distractor_source == "model" for e in mined.examples)
    True
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from neuronllm_tl.checks import check_positive_int
from neuronllm_tl.models.fingerprint import model_fingerprint
from neuronllm_tl.models.loading import cache_root
from neuronllm_tl.models.protocol import HookedModel
from neuronllm_tl.models.validation import model_device, tokenizer_of
from neuronllm_tl.scoring.encoding import QuestionEncoder
from neuronllm_tl.scoring.generation import answer_text, greedy_generate, stop_token_ids
from neuronllm_tl.tasks.generation import answer_contains, normalize_answer
from neuronllm_tl.tasks.task import Task

MINING_VERSION = 1
"""Bumped when the mining rule changes, so older cached distractors are not reused."""


def with_model_distractors(
    model: HookedModel,
    task: Task,
    *,
    n: int = 3,
    extra: int = 3,
    max_new_tokens: int = 8,
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
    drop_unmined: bool = True,
) -> Task:
    """``task`` with each example's distractors replaced by up to ``n`` of the model's own wrong answers.

    An example whose every candidate was a reference (or empty) has none: ``drop_unmined`` drops it, with a
    warning that counts them (a contrastive objective needs a distractor); ``False`` keeps it without distractors.
    """
    if not task.is_generation:
        raise ValueError(f"task {task.name!r} is multiple choice; distractors are mined for generation tasks only.")
    check_positive_int(n, "n")
    key = _cache_key(model, task, n, extra, max_new_tokens)
    path = Path(cache_dir or cache_root() / "distractors") / f"{key}.json"
    if path.is_file():
        mined = json.loads(path.read_text())["distractors"]
    else:
        mined = _mine(model, task, n, extra, max_new_tokens, batch_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"task": task.name, "n": n, "version": MINING_VERSION, "distractors": mined}))
    examples = tuple(
        e.with_distractors(d, source="model" if d else "none")  # type: ignore[attr-defined]
        for e, d in zip(task.examples, mined, strict=True)
        if d or not drop_unmined
    )
    if len(examples) < len(task.examples):
        warnings.warn(
            f"task {task.name!r}: no wrong answer of the model was found for {len(task.examples) - len(examples)} of "
            f"{len(task.examples)} examples; they are dropped (drop_unmined=False keeps them without distractors).",
            stacklevel=2,
        )
    if not examples:
        raise ValueError(f"task {task.name!r}: the model gave no wrong answer to any example; nothing to contrast.")
    return replace(task, examples=examples)


def _cache_key(model: HookedModel, task: Task, n: int, extra: int, max_new_tokens: int) -> str:
    settings = [model_fingerprint(model), task.fingerprint(), n, extra, max_new_tokens, MINING_VERSION]
    return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:32]


def _mine(model: HookedModel, task: Task, n: int, extra: int, max_new_tokens: int, batch_size: int) -> list[list[str]]:
    encoder = QuestionEncoder(model, task)
    tokenizer = tokenizer_of(model)
    stops = stop_token_ids(tokenizer)
    questions = task.questions()
    out: list[list[str]] = []
    for start in range(0, len(questions), batch_size):
        batch = questions[start : start + batch_size]
        prompts = [encoder.prompt_ids(q) for q in batch]
        firsts = _first_tokens(model, prompts, n + extra, stops)
        ids = greedy_generate(
            model,
            [p for p in prompts for _ in range(n + extra)],
            max_new_tokens=max_new_tokens,
            stop_ids=stops,
            first_tokens=firsts.flatten(),
        )
        answers = [answer_text(tokenizer, row) for row in ids]
        for i, q in enumerate(batch):
            refs = getattr(task.examples[q.example_index], "references", ())
            out.append(_keep(answers[i * (n + extra) : (i + 1) * (n + extra)], refs, n))
    return out


def _first_tokens(model: HookedModel, prompts: list[list[int]], k: int, stops: set[int]) -> Tensor:
    """[prompt, k]: the ``k`` most likely first answer tokens of each prompt, stop tokens excluded."""
    width = max(len(p) for p in prompts)
    tokens = torch.tensor([p + [0] * (width - len(p)) for p in prompts], device=model_device(model))
    mask = torch.tensor([[1] * len(p) + [0] * (width - len(p)) for p in prompts], device=tokens.device)
    with torch.no_grad():
        logits = model(tokens, attention_mask=mask, return_type="logits")
    last = logits[torch.arange(len(prompts)), torch.tensor([len(p) - 1 for p in prompts])].float()
    last[:, sorted(s for s in stops if s < last.shape[1])] = float("-inf")
    return last.topk(k, dim=-1).indices.cpu()


def _keep(answers: list[str], references: tuple[str, ...], n: int) -> list[str]:
    kept: list[str] = []
    seen = {normalize_answer(r) for r in references}
    for a in answers:
        norm = normalize_answer(a)
        if norm and norm not in seen and not answer_contains(a, references):
            kept.append(a)
            seen.add(norm)
    return kept[:n]


__all__ = ["MINING_VERSION", "with_model_distractors"]
