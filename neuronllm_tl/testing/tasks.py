"""Tiny offline tasks in the vocabulary of :mod:`neuronllm_tl.testing.models`.

Twelve made-up multiple-choice questions (sentiment, colours, categories; 2 to 4 options) whose every word is
in :data:`~neuronllm_tl.testing.models.TINY_WORDS`, so the tiny tokenizer never falls back to ``[UNK]``.
:data:`TINY_TEMPLATE` has no header, which keeps prompts short for the tiny model's context.

Example:
    >>> from neuronllm_tl.testing import tiny_task
    >>> task = tiny_task("letter")                 # the same twelve questions, answered by letter
    >>> len(task.questions())                      # each example in 3 option orders
    36
"""

from __future__ import annotations

from typing import Any

from neuronllm_tl.tasks.task import AnswerFormat, Task
from neuronllm_tl.tasks.template import QATemplate

TINY_TEMPLATE = QATemplate(header="", show_options=True)


def tiny_examples() -> list[dict[str, Any]]:
    """Twelve made-up questions in the tiny vocabulary (2 to 4 options)."""
    return [
        {"question": "the movie was great .", "options": ["positive", "negative"], "answer": 0},
        {"question": "the food was awful .", "options": ["positive", "negative"], "answer": 1},
        {"question": "this book is good .", "options": ["positive", "negative", "neutral"], "answer": 0},
        {"question": "that song was poor .", "options": ["positive", "negative", "neutral"], "answer": 1},
        {"question": "the song is fine .", "options": ["positive", "negative", "neutral"], "answer": 2},
        {"question": "what color is the sky ?", "options": ["blue", "green", "red", "yellow"], "answer": 0},
        {"question": "what color is the grass ?", "options": ["blue", "green", "red", "yellow"], "answer": 1},
        {"question": "what color is the sun ?", "options": ["blue", "green", "red", "yellow"], "answer": 3},
        {"question": "which is a animal ?", "options": ["cat", "sky", "sea"], "answer": 0},
        {"question": "which is a number ?", "options": ["dog", "five", "sun"], "answer": 1},
        {"question": "which is a color ?", "options": ["fish", "bird", "red"], "answer": 2},
        {"question": "what is two ?", "options": ["number", "animal"], "answer": 0},
    ]


def tiny_generation_examples(*, distractors: bool = True) -> list[dict[str, Any]]:
    """Eight free-text prompts in the tiny vocabulary, with references of 1 to 3 tokens (and distractors)."""
    rows = [
        ("what color is the sky ?", ["blue"], ["green", "red"]),
        ("what color is the grass ?", ["green"], ["blue", "yellow"]),
        ("what color is the sun ?", ["yellow", "red"], ["blue"]),
        ("which is a animal ?", ["a cat", "cat", "dog"], ["the sky", "sea"]),
        ("what is two ?", ["a number", "number"], ["a color", "animal"]),
        ("the movie was great .", ["positive"], ["negative", "neutral"]),
        ("what is one and one ?", ["two"], ["three", "one one one"]),
        ("which is a color ?", ["red", "blue"], ["fish", "the bird was good"]),
    ]
    return [{"prompt": p, "references": refs, **({"distractors": ds} if distractors else {})} for p, refs, ds in rows]


def tiny_generation_task(*, distractors: bool = True, **kwargs: Any) -> Task:
    """The eight tiny free-text prompts as a generation task (``answer_format="generate"``)."""
    kwargs.setdefault("template", QATemplate(header=""))
    return Task.from_examples(
        tiny_generation_examples(distractors=distractors), name="tiny-generate", answer_format="generate", **kwargs
    )


def tiny_task(answer_format: AnswerFormat = "cloze", **kwargs: Any) -> Task:
    """The twelve tiny questions as a :class:`~neuronllm_tl.tasks.task.Task` named ``tiny-<answer_format>``."""
    kwargs.setdefault("template", TINY_TEMPLATE)
    return Task.from_examples(tiny_examples(), name=f"tiny-{answer_format}", answer_format=answer_format, **kwargs)
